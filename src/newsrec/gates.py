"""Pure decisions over tool output, with reasons a person can read."""
from __future__ import annotations

from dataclasses import dataclass, field

from newsrec.config import Promote
from newsrec.contracts import CheckResult, summarize


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


def promotion_decision(challenger: dict[str, float], champion: dict[str, float] | None,
                       popularity: dict[str, float], p: Promote) -> Decision:
    """Promote only if the challenger beats the champion and popularity by the margins,
    on the same test days. With no champion yet, beating popularity is enough."""
    m = p.metric
    ok, reasons = True, []
    c = challenger.get(m)
    if c is None or c != c:  # missing or NaN
        return Decision(False, [f"challenger has no {m} to compare"])
    gap = c - popularity[m]
    passed = gap > p.min_gain_over_popularity
    ok &= passed
    reasons.append(f"{'beats' if passed else 'does not beat'} popularity on {m}: {c:.4f} vs {popularity[m]:.4f} "
                   f"(gain {gap:+.4f}, needs > {p.min_gain_over_popularity:+.4f})")
    if champion is None:
        reasons.append("no champion yet")
    else:
        gap = c - champion[m]
        passed = gap > p.min_gain_over_champion
        ok &= passed
        reasons.append(f"{'beats' if passed else 'does not beat'} the champion on {m}: {c:.4f} vs "
                       f"{champion[m]:.4f} (gain {gap:+.4f}, needs > {p.min_gain_over_champion:+.4f})")
    return Decision(ok, reasons)
