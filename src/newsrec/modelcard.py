"""The model card: a markdown page stating what a model version is, how it did, and why
it was or was not promoted."""

from __future__ import annotations


def _table(metrics: dict[str, dict[str, float]]) -> list[str]:
    keys = ["auc", "mrr", "ndcg@5", "ndcg@10"]
    rows = ["| scorer | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, m in metrics.items():
        rows.append(f"| {name} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in keys) + " |")
    return rows


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
) -> str:
    """Markdown for one model version."""
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
    lines += ["", "## Parameters", ""] + [f"- `{k}`: {v}" for k, v in params.items()]
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
