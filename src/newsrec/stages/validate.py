"""Stage `validate`: the data contracts (Great Expectations) on the canonical tables."""

from __future__ import annotations

import shutil

from newsrec import contracts
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.io import write_json
from newsrec.gates import Decision, validation_decision
from newsrec.stages.collect import tables as collected_tables


def validate(p: Params, paths: Paths, say: Say | None = None) -> Decision:
    """Run every check; write reports/validate.json and Data Docs. The decision says whether
    the tables may go downstream, and why not."""
    from newsrec.adapters.gx import docs_index, run_checks

    say = say or progress("validate")
    tables = collected_tables(paths)  # ingested and collected rows: the same contract
    say("tables loaded: " + ", ".join(f"{k} {len(v):,}" for k, v in tables.items()))
    shutil.rmtree(paths.data_docs, ignore_errors=True)
    results = run_checks(contracts.views(tables), contracts.checks(p), paths.data_docs, p.validate_.examples)
    decision = validation_decision(results, p.validate_.examples)
    failed = sum(not r.success for r in results)
    write_json(
        paths.validate,
        {
            "ok": decision.ok,
            "checks": len(results),
            "failed": failed,
            "reasons": decision.reasons,
            "results": contracts.as_records(results),
        },
    )
    for line in decision.reasons:
        say(line)
    say(f"{len(results) - failed}/{len(results)} checks passed; Data Docs: {docs_index(paths.data_docs)}")
    return decision


def refusal(decision: Decision, paths: Paths) -> str:
    """The one line a refused contract ends with: the first failed check, and what to do."""
    more = f" (and {len(decision.reasons) - 1} more)" if len(decision.reasons) > 1 else ""
    return (
        f"the data contract refused the tables: {decision.reasons[0]}{more}; every check is in "
        f"{paths.validate.relative_to(paths.root)} and the Data Docs: fix the data, or the validate section of "
        "params.yaml if the data is right"
    )
