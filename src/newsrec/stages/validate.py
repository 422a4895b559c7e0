"""Stage `validate`: the data contracts (Great Expectations) on the canonical tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from newsrec import contracts
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.contracts import Check
from newsrec.data import schema, slices
from newsrec.data.canonical import to_pandas
from newsrec.data.io import write_json
from newsrec.gates import Decision, validation_decision
from newsrec.stages.collect import tables as collected_tables


def validate(p: Params, paths: Paths, say: Say | None = None) -> Decision:
    """Run every check; write reports/validate.json and Data Docs. The decision says whether
    the tables may go downstream, and why not."""
    from newsrec.adapters.gx import docs_index, run_checks

    say = say or progress("validate")
    shutil.rmtree(paths.data_docs, ignore_errors=True)
    if p.engine.kind == "dask":  # the big tables a row group per task, the results merged: the same verdicts
        results = _in_batches(p, paths, say)
    else:
        tables = collected_tables(paths)  # ingested and collected rows: the same contract
        say("tables loaded: " + ", ".join(f"{k} {len(v):,}" for k, v in tables.items()))
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


BATCHED = ("impressions", "histories")  # read a row group at a time; the rest is read whole
UNIQUE = "ExpectColumnValuesToBeUnique"


def _empty(name: str) -> pd.DataFrame:
    return to_pandas(schema.TABLES[name].empty_table())


def _batch(table: str, path: Path, group: int, news: pd.DataFrame, checks: list[Check], examples: int):
    """One row group of a big table checked: the results, and the rows each one counts."""
    from newsrec.adapters.gx import run_checks

    frame = to_pandas(pq.ParquetFile(path).read_row_group(group))
    tables = {n: _empty(n) for n in schema.TABLES} | {"news": news, table: frame}
    views = contracts.views(tables)
    mine = [c for c in checks if c.table in _views_of(table)]
    results = run_checks({v: views[v] for v in _views_of(table)}, mine, None, examples)
    return results, [contracts.denominator(c, views[c.table]) for c in mine]


def _views_of(table: str) -> tuple[str, ...]:
    return ("histories", "history_ids") if table == "histories" else (table,)


def _in_batches(p: Params, paths: Paths, say: Say) -> list:
    """The contract with no table read whole but the news and the feedback: the impressions
    and histories a row group per task (on the Dask cluster), each check's results merged
    as one run on all the rows (contracts.merge); uniqueness on its column alone. Data Docs
    hold the checks run whole."""
    from newsrec.adapters.dask import client, runner
    from newsrec.adapters.gx import run_checks

    every = contracts.checks(p)
    t = slices.tables(paths.canonical, paths.collected, tuple(schema.TABLES))
    news = t["news"].read()
    if len(t["news"].files) > 1:  # as newsrec.collect.union makes them one
        news = news.drop_duplicates("news_id").reset_index(drop=True)
    keys = pd.concat([to_pandas(pq.read_table(f, columns=["impression_id"])) for f in t["histories"].files])
    whole = {n: _empty(n) for n in schema.TABLES} | {"news": news, "feedback": t["feedback"].read()}
    views = contracts.views(whole) | {"histories": keys}
    once = [c for c in every if c.table not in BATCHED + ("history_ids",) or c.expectation == UNIQUE]
    got = {id(r.check): r for r in run_checks(views, once, paths.data_docs, p.validate_.examples)}
    todo = [(name, f, g) for name in BATCHED for f in t[name].files for g in range(pq.ParquetFile(f).num_row_groups)]
    say(f"{t['impressions'].rows():,} impressions, {len(keys):,} histories: {len(todo)} row groups to check")
    batched = [c for c in every if id(c) not in got]
    one = lambda x: _batch(x[0], x[1], x[2], news, batched, p.validate_.examples)  # noqa: E731
    with client(p.engine, say) as c:
        done = runner(c, say, "row groups checked")(one, todo)
    for name in BATCHED:
        mine = [c for c in batched if c.table in _views_of(name)]
        parts = [(r, w) for (n, _, _), (r, w) in zip(todo, done) if n == name]
        merged = contracts.merge([r for r, _ in parts], [w for _, w in parts], p.validate_.examples)
        got |= {id(c): r for c, r in zip(mine, merged)}
    return [got[id(c)] for c in every]


def refusal(decision: Decision, paths: Paths) -> str:
    """The one line a refused contract ends with: the first failed check, and what to do."""
    more = f" (and {len(decision.reasons) - 1} more)" if len(decision.reasons) > 1 else ""
    return (
        f"the data contract refused the tables: {decision.reasons[0]}{more}; every check is in "
        f"{paths.validate.relative_to(paths.root)} and the Data Docs: fix the data, or the validate section of "
        "params.yaml if the data is right"
    )
