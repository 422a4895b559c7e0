"""Great Expectations 1.x: run the data contract (newsrec.contracts) and build Data Docs.

An ephemeral context, one pandas data asset, suite, validation definition and checkpoint
per table; results come back as plain CheckResult records for the pure gate.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from newsrec.contracts import Check, CheckResult

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _context(docs_dir: Path | None):
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False}
    if docs_dir is not None:
        ctx.add_data_docs_site(
            site_name="newsrec",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(Path(docs_dir).resolve()),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return ctx


def _result(check: Check, r) -> CheckResult:
    res = r.result or {}
    info = r.exception_info or {}
    # GX reports either one exception record or a mapping of metric id -> record
    records = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    errs = [str(x.get("exception_message") or "raised an exception") for x in records if x.get("raised_exception")]
    err = errs[0].splitlines()[0][:300] if errs else None
    return CheckResult(
        check,
        bool(r.success),
        res.get("unexpected_count"),
        res.get("unexpected_percent"),
        res.get("observed_value"),
        list(res.get("partial_unexpected_list") or []),
        err,
    )


def run_checks(
    frames: dict[str, pd.DataFrame], checks: list[Check], docs_dir: Path | None = None, examples: int = 5
) -> list[CheckResult]:
    """Validate each frame against its checks; write Data Docs HTML into docs_dir."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ctx = _context(docs_dir)
    source = ctx.data_sources.add_pandas("canonical")
    out: list[CheckResult] = []
    for table in dict.fromkeys(c.table for c in checks):
        mine = [c for c in checks if c.table == table]
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
        suite = ctx.suites.add(gx.ExpectationSuite(name=table))
        for c in mine:
            suite.add_expectation(getattr(gxe, c.expectation)(**c.kwargs, meta={"why": c.why}))
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=table, data=batch, suite=suite))
        cp = ctx.checkpoints.add(
            gx.Checkpoint(
                name=table,
                validation_definitions=[vd],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": examples},
            )
        )
        run = cp.run(batch_parameters={"dataframe": frames[table]})
        results = [r for vr in run.run_results.values() for r in vr.results]
        # GX returns results in its own order: pair them back by expectation id
        by_id = {r.expectation_config.id: r for r in results}
        for c, e in zip(mine, suite.expectations):
            out.append(_result(c, by_id[e.id]))
    if docs_dir is not None:  # once, every table's results in it (an UpdateDataDocsAction per table built it each time)
        ctx.build_data_docs(site_names=["newsrec"])
    return out


def docs_index(docs_dir: Path) -> Path:
    return Path(docs_dir) / "index.html"
