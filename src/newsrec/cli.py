"""The `newsrec` command: one subcommand per pipeline stage (dvc.yaml calls these) plus
a few helpers for make. Handlers do I/O only; the work lives in the core modules."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from newsrec.config import ConfigError, Paths, load_params


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress(stage: str):
    t0 = time.monotonic()
    return lambda msg: _say(f"[{stage} {time.monotonic() - t0:6.1f}s] {msg}")


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="newsrec", description=__doc__)
    ap.add_argument("--params", default=None, help="params file (default: ./params.yaml)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for fn in (world, ingest, validate):
        sub.add_parser(fn.__name__, help=fn.__doc__.splitlines()[0]).set_defaults(fn=fn)
    us = sub.add_parser("use-source", help=use_source.__doc__.splitlines()[0])
    us.add_argument("source", choices=["sim", "mind"])
    us.add_argument("dir", nargs="?")
    us.set_defaults(fn=use_source)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        _say(f"newsrec {args.cmd}: error: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
