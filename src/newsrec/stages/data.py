"""Data stages: world, ingest, validate; and switching the source."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from newsrec.config import ConfigError, Paths, load_params
from newsrec.stages.common import progress as _progress
from newsrec.stages.common import say as _say


def world(args: argparse.Namespace) -> int:
    """Stage `world`: write the simulated world as MIND-format files."""
    from newsrec.data.simulator import simulate

    p, paths = load_params(args.params), Paths()
    say = _progress("world")
    s = simulate(p.world, paths.raw_source("sim"), progress=lambda d, n: say(f"day {d}/{n}"))
    say(f"{s.impressions:,} impressions, {s.candidates:,} candidate rows, {s.clicks:,} clicks, "
        f"{s.ratings:,} ratings -> {paths.raw_source('sim')}")
    return 0


def ingest(args: argparse.Namespace) -> int:
    """Stage `ingest`: the configured source's MIND files -> canonical parquet tables."""
    from newsrec.data.canonical import ingest_dir

    p, paths = load_params(args.params), Paths()
    say = _progress("ingest")
    s = ingest_dir(paths.raw_source(p.ingest.source), paths.canonical, p.ingest.chunk_lines, say)
    say(f"{s.news:,} news, {sum(s.splits.values()):,} impressions {s.splits}, {s.candidates:,} candidate "
        f"rows, {s.clicks:,} clicks, {s.feedback:,} ratings -> {paths.canonical}")
    return 0


def validate(args: argparse.Namespace) -> int:
    """Stage `validate`: run the data contract; exit 1 with a summary if any check fails."""
    from newsrec import contracts
    from newsrec.adapters.gx import docs_index, run_checks
    from newsrec.data.canonical import read_table
    from newsrec.data.schema import TABLES
    from newsrec.gates import validation_decision

    p, paths = load_params(args.params), Paths()
    say = _progress("validate")
    tables = {name: read_table(paths.table(name)) for name in TABLES}
    say("tables loaded: " + ", ".join(f"{k} {len(v):,}" for k, v in tables.items()))
    docs = paths.reports / "data_docs"
    shutil.rmtree(docs, ignore_errors=True)
    results = run_checks(contracts.views(tables), contracts.checks(p), docs, p.validate_.examples)
    decision = validation_decision(results, p.validate_.examples)
    out = paths.reports / "validation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = sum(not r.success for r in results)
    out.write_text(json.dumps({"ok": decision.ok, "checks": len(results), "failed": failed,
                               "reasons": decision.reasons, "results": contracts.as_records(results)},
                              indent=2, default=str))
    for line in decision.reasons:
        say(line)
    say(f"{len(results) - failed}/{len(results)} checks passed; Data Docs: {docs_index(docs)}")
    return 0 if decision.ok else 1


def use_source(args: argparse.Namespace) -> int:
    """Point the pipeline at the simulator or at a MIND directory (copied into data/raw/mind)."""
    from newsrec.data.canonical import find_splits
    from newsrec.params_file import set_value

    paths = Paths()
    if args.source == "mind":
        if not args.dir:
            raise ConfigError("SOURCE=mind needs MIND_DIR=<directory with behaviors.tsv and news.tsv>")
        splits = find_splits(Path(args.dir).expanduser())
        dest = paths.raw_source("mind")
        shutil.rmtree(dest, ignore_errors=True)
        for name, d in splits:
            (dest / name).mkdir(parents=True, exist_ok=True)
            for f in ("news.tsv", "behaviors.tsv", "feedback.tsv"):
                if (d / f).exists():
                    shutil.copyfile(d / f, dest / name / f)
        _say(f"copied {', '.join(n for n, _ in splits)} from {args.dir} -> {dest}")
    set_value(args.params or paths.root / "params.yaml", "ingest", "source", args.source)
    _say(f"params.yaml: ingest.source = {args.source}")
    return 0
