"""The model card: a markdown page stating what a model version is, how it did, how big
and costly to score it is, and why it was or was not promoted."""

from __future__ import annotations

SIZE = "## Size and scoring cost"
PACKAGED = "Measured at packaging:"  # the line `newsrec package` adds to the size section
ABLATION = "## Ablation and training objective"  # the section `newsrec ablation` writes


def _table(metrics: dict[str, dict[str, float]]) -> list[str]:
    keys = ["auc", "mrr", "ndcg@5", "ndcg@10"]
    rows = ["| scorer | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, m in metrics.items():
        rows.append(f"| {name} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in keys) + " |")
    return rows


def _size(size: dict | None, metric: str) -> list[str]:
    """The size section: metric against size and scoring cost for each configuration."""
    lines = [SIZE, ""]
    if not size or not size.get("configurations"):
        return [*lines, "Not recorded: this version was trained before sizes were measured.", ""]
    lines += [
        f"Each configuration fitted on the same rows: validation {metric}, size, and scoring cost "
        "(CPU time of `predict` on request-sized batches of 100 candidates, one thread as the service "
        "scores, measured at training).",
        "",
        f"| configuration | validation {metric} | bytes | trees | leaves | µs per candidate |",
        "|---" * 6 + "|",
    ]
    for name, c in size["configurations"].items():
        over = ", ".join(f"{k}={v}" for k, v in c.get("overrides", {}).items())
        lines.append(
            f"| {name}{f' ({over})' if over else ''} | {c.get(f'valid_{metric}', float('nan')):.4f} | "
            f"{c['bytes']:,} | {c['trees']:,} | {c['leaves']:,} | {c['us_per_candidate']:.2f} |"
        )
    lines += ["", f"**Registered:** the {size['registered']} configuration.", ""]
    return [*lines, *(f"- {r}" for r in size.get("size_reasons", [])), ""]


def ablation_section(report: dict) -> list[str]:
    """The latest `newsrec ablation` (reports/ablation.json) as the card's section."""
    full = report["groups"]["every feature"]
    lines = [
        ABLATION,
        "",
        f"`make ablation` on {report['when']} (training set {report['trainset']}: "
        f"{report['rows']['train']:,} training rows, {report['rows']['test']:,} test rows); "
        "each row fitted again without one feature group, the rest as the pipeline trains.",
        "",
        "| features | removed | test nDCG@10 | change | test AUC |",
        "|---|---|---|---|---|",
        f"| every feature | 0 | {full['test_ndcg@10']:.4f} | | {full['test_auc']:.4f} |",
    ]
    for name, g in report["groups"].items():
        if g["features"]:
            lines.append(
                f"| without {name} | {len(g['features'])} | {g['test_ndcg@10']:.4f} | "
                f"{g['test_ndcg@10_change']:+.4f} | {g['test_auc']:.4f} |"
            )
    ours = next(iter(report["objectives"].values()))
    lo, hi = ours["test_ndcg@10_range"]
    lines += [
        "",
        f"The same model fitted with {len(ours['seeds'])} seeds lands between {lo:.4f} and {hi:.4f} test nDCG@10: "
        f"a change within {hi - lo:.4f} is chance.",
        "",
        f"The same inputs and settings under each training objective ({len(ours['seeds'])} seeds each, means "
        "and ranges):",
        "",
        "| objective | validation nDCG@10 | test nDCG@10 | test AUC | fit CPU s |",
        "|---|---|---|---|---|",
    ]
    for name, o in report["objectives"].items():
        best = " (best)" if name == report["best"] else ""
        v, t = o["valid_ndcg@10_range"], o["test_ndcg@10_range"]
        lines.append(
            f"| {name}{best} | {o['valid_ndcg@10']:.4f} ({v[0]:.4f}-{v[1]:.4f}) | {o['test_ndcg@10']:.4f} "
            f"({t[0]:.4f}-{t[1]:.4f}) | {o['test_auc']:.4f} | {o['fit_seconds']:.1f} |"
        )
    return [*lines, "", f"**Kept:** {report['why']}.", ""]


def with_section(card: str, heading: str, section: list[str]) -> str:
    """The card with `section` (starting with `heading`) in place of its section of that
    heading, or before its parameters when it has none."""
    lines = card.split("\n")
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        start = end = lines.index("## Parameters") if "## Parameters" in lines else len(lines)
    return "\n".join([*lines[:start], *section, *lines[end:]])


def with_packaging_cost(card: str, line: str) -> str:
    """The card with `line` (starting with PACKAGED) at the end of its size section, in place
    of an earlier one: packaging the same version twice leaves one measurement."""
    lines = [ln for ln in card.split("\n") if not ln.startswith(PACKAGED)]
    if SIZE not in lines:
        lines += [SIZE, ""]
    start = lines.index(SIZE)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    while end > start + 1 and not lines[end - 1].strip():  # after the section's last line of text
        end -= 1
    rest = lines[end:]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join([*lines[:end], "", line, "", *rest])


def model_card(
    name: str,
    version: str,
    run_id: str,
    decision_ok: bool,
    reasons: list[str],
    metrics: dict[str, dict[str, float]],
    realised: dict[str, dict[str, float]],
    tags: dict[str, str],
    params: dict,
    features: list[str],
    source: str,
    size: dict | None = None,
    metric: str = "ndcg@10",
    ablation: dict | None = None,
) -> str:
    """Markdown for one model version; `size` is train.json's configurations, registered and
    size_reasons, `metric` the one its gates judge, `ablation` the latest `newsrec ablation`."""
    lines = [
        f"# Model card: {name} v{version}",
        "",
        f"**Decision:** {'promoted to champion' if decision_ok else 'not promoted'}",
        "",
    ]
    lines += [f"- {r}" for r in reasons]
    lines += [
        "",
        "## What it is",
        "",
        "A scikit-learn HistGradientBoostingClassifier that predicts the probability that a "
        "reader clicks a candidate article in an impression. Its score is blended with the "
        "article's quality: `score = a * engagement + b * quality`, both scaled to [0, 1] per list.",
        "",
        f"- MLflow run: `{run_id}`",
        f"- data source: `{source}`",
    ]
    lines += [f"- {k}: `{v}`" for k, v in tags.items()]
    lines += [
        "",
        "## Features",
        "",
        ", ".join(f"`{f}`" for f in features),
        "",
        "## Metrics on the test days (per impression, MIND definitions)",
        "",
    ] + _table(metrics)
    lines += [
        "",
        "## Realised engagement and quality of the top of each list",
        "",
        "| ranking | " + " | ".join(next(iter(realised.values()), {}).keys()) + " |",
        "|---" * (1 + len(next(iter(realised.values()), {}))) + "|",
    ]
    lines += [f"| {n} | " + " | ".join(f"{v:.4f}" for v in r.values()) + " |" for n, r in realised.items()]
    lines += ["", *_size(size, metric)]
    lines += ablation_section(ablation) if ablation else []
    lines += ["## Parameters", ""] + [f"- `{k}`: {v}" for k, v in params.items()]
    lines += [
        "",
        "## Intended use and limits",
        "",
        "- Ranks candidate news for a reader at a request time; trained on past days only.",
        "- Clicks are attributed to the impression time; features use events strictly before it.",
        "- New users get default features (no history), new articles get prior CTR and quality.",
        "- On simulated data the figures measure recovery of a known click model, not real readers.",
        "- Not for decisions about individuals beyond ranking news; not audited for fairness.",
        "",
    ]
    return "\n".join(lines)
