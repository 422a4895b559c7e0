"""Scale-out on Dask (`engine.kind: dask`) against one process, at growing sizes, in one run.

For each size (logged candidate rows, about): a scratch project whose world is params.yaml's
scaled in proportion (impressions a day, users, articles), its `world` and `ingest`, then
- `features`: `newsrec features` in one process (engine pandas) and on the bench's own
  LocalCluster (engine dask, NEWSREC_DASK_SCHEDULER): seconds, the peak RSS of the stage's
  process (os.wait4) and of each Dask worker (its own getrusage), and whether the tables are
  the same;
- the training set's point-in-time join: the whole join in one process (`as_of`, pandas
  merge_asof: the floor; the tables read first, not timed) and a day at a time on the
  cluster, each task reading its own slices as the `trainset` stage's do (timed from the
  files); seconds, peak RSS, rows in and out.
Every command runs under `prlimit --as` (--mem-cap), so that no run can take the machine
down; a run that hits the cap is reported as such. Ratios are of the same run.

Usage: python bench/scale.py [--rows 1000000 [10000000 ...]] [--workers 2] [--mem-cap 16G]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, save_result

ROWS_PER_IMPRESSION_DAY = 14.9  # logged candidate rows per served impression (the default world's)


def world_for(rows: float) -> dict:
    """params.yaml's world scaled so its logged days hold about `rows` candidate rows."""
    w = yaml.safe_load((ROOT / "params.yaml").read_text())["world"]
    f = rows / (w["days"] * w["impressions_per_day"] * ROWS_PER_IMPRESSION_DAY)
    return w | {k: max(10, round(w[k] * f)) for k in ("impressions_per_day", "n_users", "n_articles")}


def project(dest: Path, rows: float, workers: int) -> Path:
    for d in ("src", "feature_repo"):
        shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["world"] = world_for(rows)
    params["engine"]["workers"] = workers
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


def bytes_of(size: str) -> int:
    """'16G' -> bytes (prlimit itself takes bytes only)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    return int(float(size[:-1]) * units[size[-1].upper()]) if size[-1].upper() in units else int(size)


def run(cmd: list[str], cwd: Path, cap: str, **env: str) -> dict:
    """`cmd` under prlimit --as=cap: seconds, exit code, its peak RSS (MB)."""
    full = ["prlimit", f"--as={bytes_of(cap)}", "--", *cmd]
    e = {**os.environ, "NEWSREC_ROOT": str(cwd), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    t0 = time.perf_counter()
    p = subprocess.Popen(full, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return {
        "seconds": time.perf_counter() - t0,
        "exit": code,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "out": out[-2000:],
        "tail": out[-600:] if code else "",
    }


def worker_peaks(client) -> list[float]:
    return sorted(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024).values())


def tables_equal(a: Path, b: Path) -> bool:
    import pandas as pd

    for t in ("users", "news_meta", "news_stats"):
        x, y = pd.read_parquet(a / f"{t}.parquet"), pd.read_parquet(b / f"{t}.parquet")
        vec = lambda df: df.apply(lambda c: c.map(tuple) if c.dtype == object else c)  # noqa: E731
        if not vec(x).equals(vec(y)):
            return False
    return True


def join_child(root: Path, scheduler: str | None) -> None:
    """In a child process: the training set's join, whole or a day at a time on the cluster."""
    import pandas as pd

    from newsrec.features.join import as_of, as_of_from_files, entity_rows
    from newsrec.features.spec import VIEWS
    from newsrec.stages.collect import tables

    os.environ["NEWSREC_ROOT"] = str(root)
    from newsrec.bootstrap import context

    ctx = context(root=root)
    ent = entity_rows(tables(ctx.paths, ["impressions"])["impressions"], ctx.params.features.advance_hours)
    feats = {v.table: pd.read_parquet(ctx.paths.features / f"{v.table}.parquet") for v in VIEWS}
    t0 = time.perf_counter()
    if scheduler:  # as the trainset stage runs it: each day's task reads its own slices
        from distributed import Client

        from newsrec.adapters.dask import runner
        from newsrec.data import schema, slices

        imps = slices.tables(ctx.paths.canonical, ctx.paths.collected, tuple(schema.TABLES))["impressions"]
        with Client(scheduler) as c:
            run = runner(c, lambda _: None)
            out = as_of_from_files(imps, ctx.paths.features, ctx.params.features.advance_hours, run)
    else:
        out = as_of(ent, feats)
    print(json.dumps({"join_seconds": time.perf_counter() - t0, "rows_in": len(ent), "rows_out": len(out)}))


def measure(rows: float, workers: int, cap: str, keep: bool) -> dict:
    from distributed import Client, LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="newsrec-scale-"))
    try:
        proj = project(tmp / "proj", rows, workers)
        res: dict = {"rows_asked": rows, "world": world_for(rows)}
        for stage in ("world", "ingest"):
            res[stage] = run(["newsrec", stage], proj, cap)
            if res[stage]["exit"]:
                return res
        import pyarrow.parquet as pq

        res["candidate_rows"] = pq.ParquetFile(proj / "data/canonical/impressions.parquet").metadata.num_rows
        print(f"  {res['candidate_rows']:,} candidate rows", flush=True)
        res["features_pandas"] = run(["newsrec", "features"], proj, cap)
        shutil.copytree(proj / "data/features", tmp / "alone")
        res["join_pandas"] = run([sys.executable, __file__, "--join", str(proj)], proj, cap)
        with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as lc:
            with Client(lc) as c:
                params = yaml.safe_load((proj / "params.yaml").read_text())
                params["engine"]["kind"] = "dask"
                (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
                res["features_dask"] = run(
                    ["newsrec", "features"], proj, cap, NEWSREC_DASK_SCHEDULER=lc.scheduler_address
                )
                res["features_dask"]["worker_peak_rss_mb"] = worker_peaks(c)
                res["features_same"] = tables_equal(tmp / "alone", proj / "data/features")
                res["join_dask"] = run(
                    [sys.executable, __file__, "--join", str(proj), "--scheduler", lc.scheduler_address], proj, cap
                )
                res["join_dask"]["worker_peak_rss_mb"] = worker_peaks(c)
        for k in ("join_pandas", "join_dask"):
            if not res[k]["exit"]:
                lines = res[k]["out"].strip().splitlines()
                res[k] |= json.loads(lines[-1]) if lines else {}
        return res
    finally:
        if keep:
            print(f"  kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, nargs="+", default=[1e6])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mem-cap", default="16G")
    ap.add_argument("--keep", action="store_true", help="keep the scratch projects")
    ap.add_argument("--join", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scheduler", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.join:
        join_child(a.join, a.scheduler)
        return 0
    results = []
    for rows in a.rows:
        print(f"size {rows:,.0f} rows: a world, ingest, then each engine", flush=True)
        results.append(measure(rows, a.workers, a.mem_cap, a.keep))
        report(results[-1], a.workers)
    print(f"\nresults: {save_result('scale', results)}")
    return 0


def report(r: dict, workers: int) -> None:
    if "features_dask" not in r:
        bad = next(k for k in ("world", "ingest") if r[k]["exit"])
        print(f"  {bad} failed (exit {r[bad]['exit']}; a memory cap?): {r[bad]['tail']}")
        return
    fp, fd, jp, jd = r["features_pandas"], r["features_dask"], r["join_pandas"], r["join_dask"]
    print(f"  {r['candidate_rows']:,} candidate rows; Dask: a LocalCluster of {workers} workers")
    print(f"  {'':>24} {'seconds':>9} {'peak RSS MB':>12} {'workers MB':>16}")
    print(f"  {'features, one process':>24} {fp['seconds']:>9.1f} {fp['peak_rss_mb']:>12,.0f}")
    w = "/".join(f"{x:,.0f}" for x in fd["worker_peak_rss_mb"])
    print(f"  {'features, Dask':>24} {fd['seconds']:>9.1f} {fd['peak_rss_mb']:>12,.0f} {w:>16}")
    print(
        f"  features: Dask / one process {fd['seconds'] / fp['seconds']:.2f}x the time; "
        f"the same tables: {'yes' if r['features_same'] else 'NO'}"
    )
    if "join_seconds" in jp and "join_seconds" in jd:
        print(
            f"  join: the whole in one process (merge_asof, the floor) {jp['join_seconds']:.1f} s, a day at a time on "
            f"Dask {jd['join_seconds']:.1f} s ({jd['join_seconds'] / jp['join_seconds']:.2f}x); rows in "
            f"{jd['rows_in']:,}, out {jd['rows_out']:,}"
        )
    for k in ("features_pandas", "features_dask", "join_pandas", "join_dask"):
        if r[k]["exit"]:
            print(f"  {k} failed (exit {r[k]['exit']}; a memory cap?): {r[k]['tail']}")


if __name__ == "__main__":
    sys.exit(main())
