"""Pure decisions over tool output, with reasons a person can read."""

from __future__ import annotations

from dataclasses import dataclass, field

from newsrec.config import Monitor, Promote
from newsrec.contracts import CheckResult, summarize
from newsrec.drift import DriftSummary


@dataclass(frozen=True)
class Decision:
    ok: bool
    reasons: list[str] = field(default_factory=list)


def validation_decision(results: list[CheckResult], examples: int = 5) -> Decision:
    """Pass only if every data-contract check passed; otherwise say which failed."""
    if not results:
        return Decision(False, ["no contract checks ran"])
    failed = summarize(results, examples)
    if failed:
        return Decision(False, failed)
    return Decision(True, [f"all {len(results)} contract checks passed"])


def promotion_decision(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    popularity: dict[str, float],
    p: Promote,
    rolled_back: str | None = None,
) -> Decision:
    """Promote only if the challenger beats the champion and popularity by the margins,
    on the same test days. With no champion yet, beating popularity is enough. A version a
    person rolled back (`rolled_back`: why) is never promoted again by the gate."""
    m = p.metric
    if rolled_back:
        return Decision(
            False,
            [f"this version was rolled back ({rolled_back}): only a person promotes it again (--allow-rolled-back)"],
        )
    ok, reasons = True, []
    c = challenger.get(m)
    if c is None or c != c:  # missing or NaN
        return Decision(False, [f"challenger has no {m} to compare"])
    gap = c - popularity[m]
    passed = gap > p.min_gain_over_popularity
    ok &= passed
    reasons.append(
        f"{'beats' if passed else 'does not beat'} popularity on {m}: {c:.4f} vs {popularity[m]:.4f} "
        f"(gain {gap:+.4f}, needs > {p.min_gain_over_popularity:+.4f})"
    )
    if champion is None:
        reasons.append("no champion yet")
    else:
        gap = c - champion[m]
        passed = gap > p.min_gain_over_champion
        ok &= passed
        reasons.append(
            f"{'beats' if passed else 'does not beat'} the champion on {m}: {c:.4f} vs "
            f"{champion[m]:.4f} (gain {gap:+.4f}, needs > {p.min_gain_over_champion:+.4f})"
        )
    return Decision(ok, reasons)


def success_decision(realised: dict[str, dict[str, float]], p: Promote) -> Decision:
    """The framing's success criteria (p.success): each value of the served blend's top k
    (realised["blend"]) changes by at least the stated share against popularity's top k
    (realised["popularity"]). ok when every criterion holds."""
    blend, base = realised.get("blend", {}), realised.get("popularity", {})
    ok, reasons = True, []
    for m, least in p.success.items():
        b, c = blend.get(m), base.get(m)
        if b is None or c is None or b != b or c != c or c == 0:
            ok = False
            reasons.append(f"success: {m} not measured for both the blend and popularity, so not shown to hold")
            continue
        change = (b - c) / abs(c)
        held = change >= least - 1e-12  # at the edge it holds, whatever the last bit of the division
        ok &= held
        reasons.append(
            f"success: {m} of the blend {b:.4f} vs popularity {c:.4f} ({change:+.1%}, needs {least:+.1%}): "
            + ("holds" if held else "MISSED")
        )
    return Decision(ok, reasons)


def size_decision(
    full: dict[str, float], smaller: dict[str, float], metric: str, tolerance: float, prefer_smaller: bool
) -> Decision:
    """Which of two configurations to register: the smaller one (ok) only when asked to
    prefer it and its validation `metric` is at most `tolerance` below the full one's. The
    reasons give both values, the gap, and the smaller one's share of the leaves and cost."""
    f, s = full.get(metric), smaller.get(metric)
    if f is None or s is None or f != f or s != s:  # missing or NaN: nothing to weigh
        return Decision(False, [f"no {metric} to compare for both configurations: the full one is registered"])
    gap, within = s - f, f - s <= tolerance
    reasons = [
        f"{metric}: smaller {s:.4f} vs full {f:.4f} (gap {gap:+.4f}, "
        f"{'within' if within else 'beyond'} the tolerance {tolerance:.4f})",
        f"the smaller has {_ratio(smaller, full, 'leaves')} the leaves ({smaller['leaves']:,} vs {full['leaves']:,}) "
        f"and {_ratio(smaller, full, 'us_per_candidate')} the scoring cost ({smaller['us_per_candidate']:.2f} vs "
        f"{full['us_per_candidate']:.2f} µs per candidate)",
    ]
    if not prefer_smaller:
        return Decision(False, [*reasons, "registered: full (train.prefer_smaller is off)"])
    if not within:
        return Decision(False, [*reasons, "registered: full (the smaller one falls short by more than the tolerance)"])
    return Decision(True, [*reasons, "registered: smaller (train.prefer_smaller, within the tolerance)"])


def _ratio(a: dict[str, float], b: dict[str, float], key: str) -> str:
    return f"{a[key] / b[key]:.2f}x" if b[key] else "?x"


@dataclass(frozen=True)
class DriftDecision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)


def drift_decision(s: DriftSummary, p: Monitor) -> DriftDecision:
    """Retrain when enough gated features drift, when the scores drift, or when performance
    (once clicks are known) falls below the reference by more than the allowed drop. A window
    too small to judge is kept, and says so."""
    n = s.rows.get("current", 0)
    if n == 0:
        return DriftDecision(False, ["no traffic in the window: nothing to judge, nothing triggered"])
    if n < p.min_rows:
        return DriftDecision(
            False,
            [f"only {n:,} logged rows in the window (< min_rows {p.min_rows:,}): too few to judge, nothing triggered"],
        )
    why, keep = [], []
    gated = {f: v for f, v in s.feature_drift.items() if f in p.features}
    drifted = sorted((f for f, v in gated.items() if v > p.drift_threshold), key=lambda f: -gated[f])
    share = len(drifted) / len(gated) if gated else 0.0
    line = f"{len(drifted)}/{len(gated)} gated features drift ({share:.0%}, retrain at {p.drift_share:.0%})" + (
        ": " + ", ".join(f"{f} {gated[f]:.3f}" for f in drifted) if drifted else ""
    )
    (why if gated and share >= p.drift_share else keep).append(line)
    if s.score_drift is not None:
        line = f"engagement score drift {s.score_drift:.3f} (retrain above {p.score_drift_threshold})"
        (why if s.score_drift > p.score_drift_threshold else keep).append(line)
    cur, ref = s.performance.get("current"), s.performance.get("reference")
    if cur and ref:
        for m, allowed in (("auc", p.max_auc_drop), ("ndcg@10", p.max_ndcg_drop)):
            c, r = cur.get(m), ref.get(m)
            if c is None or r is None or c != c or r != r:
                continue
            line = f"{m} {c:.4f} vs reference {r:.4f} (drop {r - c:+.4f}, retrain above {allowed})"
            (why if r - c > allowed else keep).append(line)
    else:
        keep.append("clicks of the window not known yet: performance not judged")
    return DriftDecision(bool(why), [*(f"RETRAIN: {w}" for w in why), *(f"ok: {k}" for k in keep)])
