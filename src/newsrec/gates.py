"""Pure decisions over tool output, with reasons a person can read."""
from __future__ import annotations

from dataclasses import dataclass, field

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
