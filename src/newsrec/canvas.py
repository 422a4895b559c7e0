"""The ML canvas (reports/canvas.md): each section the team's words (docs/canvas.yaml) next to
the project's own numbers, gathered by `newsrec canvas` from the last runs' reports, params,
the Feast FeatureService and the registry. A section whose run has not happened says which
make target makes it."""

from __future__ import annotations

import math

from newsrec.economics import verdict

BEYOND = ("diversity@10", "novelty@10", "coverage@10")


def _f(x, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _table(head: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def _missing(what: str, target: str) -> list[str]:
    return [f"_{what}: not run yet (`{target}`)._"]


def _section(title: str, words: str | None, body: list[str]) -> list[str]:
    return [f"## {title}", "", *([words.strip(), ""] if words else []), *body, ""]


def data_sources(f: dict) -> list[str]:
    rows = [[n, f"{r:,}", f"{(f.get('collected') or {}).get(n, 0):,}"] for n, r in (f.get("tables") or {}).items()]
    out = [f"Source: `{f.get('source')}` (params ingest.source).", ""]
    out += _table(["table", "rows ingested", "rows collected from served traffic"], rows)
    v = f.get("validate")
    if v is None:
        return out + ["", *_missing("data contracts", "make validate")]
    out += [
        "",
        f"Contracts (Great Expectations): **{'PASSED' if v['ok'] else 'FAILED'}**, "
        f"{v['checks'] - v['failed']}/{v['checks']} checks.",
    ]
    return out + [f"- {r}" for r in v["reasons"][:5]]


def prediction_task(f: dict) -> list[str]:
    r = f["ranking"]
    return [
        f"Served score: `{r['engagement_weight']} * engagement + {r['quality_weight']} * quality`, both scaled to "
        f"[0, 1] per list; the top {r['k']} is shown (params ranking)."
    ]


def features(f: dict) -> list[str]:
    fs = f.get("features")
    if fs is None:
        return _missing("the FeatureService", "make features")
    out = [f"FeatureService `{fs['service']}` (version {fs['version']}), as registered in Feast:", ""]
    rows = [[f"`{v}`", ", ".join(f"`{c}`" for c in cols)] for v, cols in fs["views"].items()]
    return out + _table(["feature view", "features"], rows) + ["", f"The model reads: {', '.join(fs['model'])}."]


def offline_evaluation(f: dict) -> list[str]:
    m, real = f.get("metrics"), f.get("realised")
    if m is None or real is None:
        return _missing("the evaluation", "make evaluate")
    keys = ["auc", "mrr", "ndcg@5", "ndcg@10"]
    out = ["Test days, per impression:", ""]
    out += _table(["scorer", *keys], [[n, *(_f(v.get(k)) for k in keys)] for n, v in m.items()])
    if "oracle" in m and "random" in m:
        gap = m["oracle"]["ndcg@10"] - m["random"]["ndcg@10"]
        share = (m["model"]["ndcg@10"] - m["random"]["ndcg@10"]) / gap if gap else float("nan")
        out += ["", f"The model closes {share:.0%} of the random-to-oracle nDCG@10 gap."]
    cols = list(next(iter(real.values())).keys())
    out += ["", "What the top 10 of each ranking shows (blend: what is served):", ""]
    return out + _table(["ranking", *cols], [[n, *(_f(v.get(c)) for c in cols)] for n, v in real.items()])


def decisions(f: dict) -> list[str]:
    pp, pr = f["promote_params"], f.get("promote")
    out = [
        f"- The gate promotes on `{pp['metric']}`: it must beat popularity by more than {pp['min_gain_over_popularity']:+} "
        f"and the champion by more than {pp['min_gain_over_champion']:+} (params promote).",
        "- Success criteria, the served blend's top 10 against popularity's: "
        + ", ".join(f"{k} {v:+.0%}" for k, v in pp["success"].items())
        + (" (required by the gate)" if pp["require_success"] else " (reported by the gate)"),
    ]
    t = f.get("train_params") or {}
    if "smaller" in t:
        small = ", ".join(f"{k}={v}" for k, v in t["smaller"].items() if v is not None)
        out.append(
            f"- A smaller configuration ({small}) is trained next to each model; the size gate registers it "
            f"instead when its validation metric is within {t.get('smaller_tolerance')} of the full one's, "
            + (
                "which it is asked to (train.prefer_smaller: on)."
                if t.get("prefer_smaller")
                else "if asked to (train.prefer_smaller: off, so the full one is registered)."
            )
        )
    if configs := (f.get("train") or {}).get("configurations"):
        out += ["", f"Size against metric (the last training; registered: {f['train'].get('registered')}):", ""]
        keys = ["bytes", "trees", "leaves", "us_per_candidate"]
        rows = [
            [n, _f(c.get(f"valid_{pp['metric']}")), *(f"{c.get(k, 0):,.2f}".rstrip("0").rstrip(".") for k in keys)]
            for n, c in configs.items()
        ]
        out += _table(
            ["configuration", f"validation {pp['metric']}", "bytes", "trees", "leaves", "µs per candidate"], rows
        )
    if pr is None:
        return out + ["", *_missing("the gate", "make promote")]
    out += [
        "",
        f"Last decision: v{pr['version']} **{'promoted' if pr['promoted'] else 'not promoted'}**; "
        f"champion v{pr['champion']}; success criteria **{'hold' if pr.get('success') else 'missed'}**.",
    ]
    return out + [f"- {r}" for r in pr["reasons"]]


def collecting_data(f: dict) -> list[str]:
    out = []
    if t := f.get("traffic"):
        out.append(
            f"- Last live traffic: {t['requests']:,} readers on {', '.join(t['days']) or 'no day'}, "
            f"CTR@10 {_f(t['ctr'])}; their lists and clicks are collected into data/collected."
        )
    else:
        out += _missing("live traffic", "make demo")
    if lp := f.get("loop"):
        days = lp["policies"]["drift"]
        rec = (lp.get("recovery") or {}).get("policies", {}).get("drift")
        out.append(
            f"- The live loop ({lp['scenario']}, {lp['days']} days): retrained on days "
            f"{[d['day'] for d in days if d['retrained']] or 'none'}"
            + (f", recovery {rec['mean']:.3f} of its share of the oracle" if rec else "")
        )
        if lp.get("economics"):
            out.append(f"  - economics, live: {verdict(lp['economics'])}")
    else:
        out += _missing("the live loop", "make loop")
    if sm := f.get("simulate"):
        if sm.get("economics"):
            out.append(f"- Retraining policies, simulated ({sm['scenario']}): {verdict(sm['economics'])}")
    else:
        out += _missing("the simulated policies", "make simulate")
    return out


def live_evaluation(f: dict) -> list[str]:
    mp = f["monitor_params"]
    out = [
        f"Thresholds (params monitor): a window of {mp['window_days']} day(s); retrain when {mp['drift_share']:.0%} of "
        f"the gated features drift ({mp['drift_method']} above {mp['drift_threshold']}), when the scores drift above "
        f"{mp['score_drift_threshold']}, or when AUC falls {mp['max_auc_drop']} / nDCG@10 {mp['max_ndcg_drop']} "
        "below the reference.",
        "",
    ]
    d = f.get("decision")
    if d is None:
        return out + _missing("monitoring", "make monitor")
    out.append(
        f"Latest verdict, window {', '.join(d['window']) or 'empty'}: **{'RETRAIN' if d['retrain'] else 'keep'}**"
    )
    out += [f"- {r}" for r in d["reasons"]]
    perf = ((f.get("monitor_summary") or {}).get("performance") or {}).get("current") or {}
    if all(k in perf for k in BEYOND):
        out.append("- the shown top 10: " + ", ".join(f"{k} {_f(perf[k], 3)}" for k in BEYOND))
    return out


def ml_or_not(f: dict) -> list[str]:
    m, real = f.get("metrics"), f.get("realised")
    if m is None or real is None:
        return _missing("the evaluation", "make evaluate")
    out = []
    for base in ("popularity", "quality"):
        gain = m["model"]["ndcg@10"] - m[base]["ndcg@10"]
        out.append(f"- nDCG@10 over {base}-only: {gain:+.4f} ({m['model']['ndcg@10']:.4f} vs {m[base]['ndcg@10']:.4f})")
    b, p = real.get("blend", {}), real.get("popularity", {})
    for k in ("ctr@10", "quality@10"):
        if k in b and k in p and p[k]:
            out.append(f"- the served blend's {k} against popularity's: {(b[k] - p[k]) / p[k]:+.1%}")
    won = m["model"]["ndcg@10"] > max(m["popularity"]["ndcg@10"], m["quality"]["ndcg@10"])
    out.append("")
    out.append("**ML earns its place** here." if won else "**ML does not earn its place**: a rule ranks as well.")
    return out


SECTIONS = (
    ("Data sources", "data_sources", data_sources),
    ("Prediction task", "prediction_task", prediction_task),
    ("Features", "features", features),
    ("Offline evaluation", "offline_evaluation", offline_evaluation),
    ("Decisions", "decisions", decisions),
    ("Collecting data", "collecting_data", collecting_data),
    ("Live evaluation", "live_evaluation", live_evaluation),
    ("ML or not", "ml_or_not", ml_or_not),
)


def canvas(human: dict, facts: dict) -> str:
    """reports/canvas.md from the team's words and the gathered facts."""
    champ = facts.get("champion")
    out = ["# ML canvas: newsrec", ""]
    out += [f"Champion: v{champ['version']} (MLflow run `{champ['run_id']}`)." if champ else "No champion yet.", ""]
    out += _section("Value proposition", human.get("value_proposition"), [])
    who = human.get("stakeholders") or {}
    out += _section(
        "Stakeholders", None, _table(["role", "who, and what they decide"], [[k, v] for k, v in who.items()])
    )
    out += _section("Success criteria", human.get("success_criteria"), [])
    for title, key, body in SECTIONS:
        out += _section(title, human.get(key), body(facts))
    return "\n".join(out)
