"""Benchmark: ingest + validate of ~1M candidate rows, against a parquet-read floor.

Setup (not timed, in a subprocess so its memory does not count): simulate enough served
impressions for about --rows candidate rows into a temporary directory (rescaled and
rerun once if the first guess is more than 10% off). Then, timed in this process:

- GX import: `import great_expectations` (+ .expectations), paid once per process;
- ingest: newsrec.data.canonical.ingest_dir(raw -> canonical parquet);
- validate: read_table of the four canonical tables, contracts.views, and
  adapters.gx.run_checks with contracts.checks(Params(world=<the simulated world>));
- floor: pyarrow.parquet.read_table of the same four canonical files (best of 3).

Prints the times, (ingest+validate)/floor and validate/floor, and peak RSS (ru_maxrss
after each phase); writes bench/results/ingest_validate-<timestamp>.json. Never asserts
on wall-clock time.

    python bench/ingest_validate.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TABLES = ("news", "impressions", "histories", "feedback")


def world_for(served: int) -> Any:
    """World defaults scaled so that about `served` impressions are served over 7 days."""
    from newsrec.config import World

    d = World()
    scale = served / (d.impressions_per_day * d.days)
    return d.model_copy(
        update={
            "days": 7,
            "impressions_per_day": max(1, round(served / 7)),
            "n_users": max(1, round(d.n_users * scale)),
            "n_articles": max(1, round(d.n_articles * scale)),
        }
    )


def setup(rows: int, out: Path) -> None:
    """(child process) simulate ~rows candidate rows into out/raw; print the served count."""
    from newsrec.data.simulator import simulate

    served = max(1, round(rows / 14))  # ~14 candidate rows per served impression at default params
    s = simulate(world_for(served), out / "raw")
    if abs(s.candidates - rows) > 0.1 * rows:  # off by more than 10%: rescale once
        served = max(1, round(served * rows / max(s.candidates, 1)))
        s = simulate(world_for(served), out / "raw")
    print(json.dumps({"served": served, "logged": s.impressions, "candidates": s.candidates}))


def rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 2**10


def timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="target candidate rows (default 1M)")
    ap.add_argument("--setup", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.setup is not None:
        setup(a.rows, a.setup)
        return 0
    import pandas  # noqa: F401  (imported before timing GX, so GX import time is GX's own)
    import pyarrow.parquet as pq

    from newsrec import contracts
    from newsrec.config import Params
    from newsrec.data.canonical import ingest_dir, read_table

    tmp = Path(tempfile.mkdtemp(prefix="newsrec-bench-iv-"))
    try:
        print(f"setup: simulating ~{a.rows:,} candidate rows (not timed) ...", flush=True)
        done = subprocess.run(
            [sys.executable, __file__, "--rows", str(a.rows), "--setup", str(tmp)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        sim = json.loads(done.stdout.strip().splitlines()[-1])
        params = Params(world=world_for(sim["served"]))
        canon = tmp / "canonical"
        m: dict[str, float] = {"rss_start_mb": rss_mb()}

        def gx_import() -> None:
            import great_expectations  # noqa: F401
            import great_expectations.expectations  # noqa: F401

        _, m["gx_import_s"] = timed(gx_import)
        m["rss_after_gx_import_mb"] = rss_mb()
        summary, m["ingest_s"] = timed(lambda: ingest_dir(tmp / "raw", canon, params.ingest.chunk_lines))
        m["rss_after_ingest_mb"] = rss_mb()
        floors = [timed(lambda: [pq.read_table(canon / f"{t}.parquet") for t in TABLES])[1] for _ in range(3)]
        m["floor_s"] = min(floors)

        def validate() -> list[contracts.CheckResult]:
            from newsrec.adapters.gx import run_checks

            tables = {t: read_table(canon / f"{t}.parquet") for t in TABLES}
            return run_checks(contracts.views(tables), contracts.checks(params), None, params.validate_.examples)

        results, m["validate_s"] = timed(validate)
        m["rss_after_validate_mb"] = rss_mb()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed = contracts.summarize(results)
    iv, floor = m["ingest_s"] + m["validate_s"], m["floor_s"]
    print(
        f"\ndata: {sim['served']:,} served -> {summary.candidates:,} candidate rows, "
        f"{sum(summary.splits.values()):,} impressions, {summary.news:,} news, {summary.feedback:,} feedback rows"
    )
    print(f"checks: {len(results) - len(failed)}/{len(results)} passed")
    for line in failed:
        print(f"  {line}")
    print(f"\n{'phase':<28}{'seconds':>9}{'peak RSS after':>16}")
    print(f"{'GX import':<28}{m['gx_import_s']:>9.2f}{m['rss_after_gx_import_mb']:>13,.0f} MB")
    print(f"{'ingest':<28}{m['ingest_s']:>9.2f}{m['rss_after_ingest_mb']:>13,.0f} MB")
    print(f"{'validate':<28}{m['validate_s']:>9.2f}{m['rss_after_validate_mb']:>13,.0f} MB")
    print(f"{'floor (pq.read_table x4)':<28}{floor:>9.3f}   (best of 3: {', '.join(f'{x:.3f}' for x in floors)})")
    print(f"\n(ingest+validate)/floor: {iv / floor:.0f}x")
    print(f"validate/floor:          {m['validate_s'] / floor:.0f}x")
    print(f"peak RSS: {m['rss_after_validate_mb']:,.0f} MB ({m['rss_start_mb']:,.0f} MB after imports)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest_validate-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "ingest_validate",
                "target_rows": a.rows,
                "setup": sim,
                "candidate_rows": summary.candidates,
                "impressions": sum(summary.splits.values()),
                **m,
                "floor_runs_s": floors,
                "ingest_validate_over_floor": iv / floor,
                "validate_over_floor": m["validate_s"] / floor,
                "checks": len(results),
                "failed": failed,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
