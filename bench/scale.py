"""Scale-out on Dask (`engine.kind: dask`) against one process, at growing sizes, in one run.

For each size (logged candidate rows, about): a scratch project whose world is params.yaml's
scaled in proportion (impressions a day, users, articles), its `world` and `ingest`, then
- `features`: `newsrec features` in one process (engine pandas) and on the bench's own
  LocalCluster (engine dask, NEWSREC_DASK_SCHEDULER): seconds, the peak RSS of the stage's
  process and of each Dask worker (VmHWM: their own, not the fork's), and whether the tables are
  the same;
- the pipeline after it, stage by stage as `make` runs it (`feast`, `trainset`, `train` at
  --pipeline-rate, `evaluate`), per engine: seconds, peak RSS, the workers' peaks, and the
  test days' nDCG@10 of the model, popularity and the oracle. One process's `trainset` is
  Feast's get_historical_features (DuckDB), run up to --pandas-pipeline-rows;
- the training set's point-in-time join: the whole join in one process (`as_of`, pandas
  merge_asof: the floor; the tables read first, not timed) and a day per task on the
  cluster, each task reading its own slices and writing its rows as the `trainset` stage's
  do; seconds, peak RSS, rows in and out;
- training: a fit on the train days with every row and with train.negative_rate below 1
  (negative downsampling, its log-odds corrected): fit seconds, peak RSS, and on the test
  days AUC, nDCG@10, log loss and the mean probability over the click rate (calibration),
  up to --fit-rows (the fit's own join holds the whole training set).
A one-process run whose peak at a smaller size of the same run scales above the cap is
skipped, and the report says so. Every command runs under `prlimit --as` (--mem-cap), so
that no run can take the machine down. Ratios are of the same run; from one size to the next
the Dask path's time and its largest worker's peak are printed.

Usage: python bench/scale.py [--rows 1e6 [1e7 5e7 ...]] [--workers 2] [--mem-cap 16G] [--rates 1 0.25]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
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


def hwm_mb(pid: int | str = "self") -> float:
    """A process's peak RSS (VmHWM, MB), its own: getrusage's ru_maxrss counts the parent's
    size at the fork too, so a stage smaller than the bench process would read as its size."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(cmd: list[str], cwd: Path, cap: str, **env: str) -> dict:
    """`cmd` under prlimit --as=cap: seconds, exit code, its peak RSS (MB, VmHWM read while it runs)."""
    import threading

    full = ["prlimit", f"--as={bytes_of(cap)}", "--", *cmd]
    e = {**os.environ, "NEWSREC_ROOT": str(cwd), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    t0 = time.perf_counter()
    p = subprocess.Popen(full, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(p.stdout.read()))
    reader.start()
    peak = 0.0
    while p.poll() is None:
        peak = max(peak, hwm_mb(p.pid))
        time.sleep(0.1)
    reader.join()
    out, code = "".join(chunks), p.returncode
    return {
        "seconds": time.perf_counter() - t0,
        "exit": code,
        "peak_rss_mb": peak,
        "out": out[-2000:],
        "tail": (out.strip().splitlines() or [""])[-1][-600:] if code else "",  # the line that says why
    }


def worker_peaks(client) -> list[float]:
    return sorted(client.run(hwm_mb).values())


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

    from newsrec.features.join import as_of, as_of_to_files, entity_rows, labeled_days
    from newsrec.features.spec import VIEWS
    from newsrec.stages.collect import tables

    os.environ["NEWSREC_ROOT"] = str(root)
    from newsrec.bootstrap import context

    ctx = context(root=root)
    if scheduler:  # as the trainset stage runs it: each day's task reads its own slices, writes its rows
        from distributed import Client

        from newsrec.adapters.dask import runner
        from newsrec.data import schema, slices

        imps = slices.tables(ctx.paths.canonical, ctx.paths.collected, tuple(schema.TABLES))["impressions"]
        rows_in = sum(int(b["clicked"].notna().sum()) for b in imps.batches(["clicked"]))  # the labeled rows
        t0 = time.perf_counter()
        out = Path(tempfile.mkdtemp(dir=root))
        e, advance = ctx.params.engine, ctx.params.features.advance_hours
        days, _ = labeled_days(imps, advance, e.join_hours)
        with Client(scheduler) as c:
            run = runner(c, lambda _: None)
            done = as_of_to_files(
                imps, ctx.paths.features, advance, out, lambda f: (f, len(f)), days, run, e.join_hours
            )
        rows_out = sum(done)
        seconds = time.perf_counter() - t0
        shutil.rmtree(out)
    else:  # the tables read first, not timed
        ent = entity_rows(tables(ctx.paths, ["impressions"])["impressions"], ctx.params.features.advance_hours)
        feats = {v.table: pd.read_parquet(ctx.paths.features / f"{v.table}.parquet") for v in VIEWS}
        rows_in, t0 = len(ent), time.perf_counter()
        rows_out = len(as_of(ent, feats))
        seconds = time.perf_counter() - t0
    print(json.dumps({"join_seconds": seconds, "rows_in": rows_in, "rows_out": rows_out}))


def fit_child(root: Path, rate: float) -> None:
    """In a child process: the training set (the in-process join), a fit with
    train.negative_rate = rate on the train days, its test-day metrics and calibration."""
    import numpy as np
    import pandas as pd

    from newsrec.bootstrap import context
    from newsrec.features.join import as_of, entity_rows
    from newsrec.features.request import fill_defaults, fit_defaults
    from newsrec.features.spec import VIEWS
    from newsrec.metrics import ranking_metrics
    from newsrec.model import fit, predict, split_rows
    from newsrec.stages.collect import tables

    ctx = context(root=root)
    p = ctx.params
    ent = entity_rows(tables(ctx.paths, ["impressions"])["impressions"], p.features.advance_hours)
    frame = as_of(ent, {v.table: pd.read_parquet(ctx.paths.features / f"{v.table}.parquet") for v in VIEWS})
    split = split_rows(pd.to_datetime(frame["request_time"], unit="s", utc=True), frame["impression_id"], p.trainset)
    tr, te = frame[(split == "train").to_numpy()], frame[(split == "test").to_numpy()]
    cats = len(json.loads((ctx.paths.features / "categories.json").read_text()))
    defaults = fit_defaults(tr, cats)
    (xt, _), (xe, _) = fill_defaults(tr, defaults), fill_defaults(te, defaults)
    t0 = time.perf_counter()
    model = fit(xt, tr["clicked"], p.train.model_copy(update={"negative_rate": rate}))
    seconds = time.perf_counter() - t0
    pe, y = predict(model, xe), te["clicked"].to_numpy()
    eps = 1e-12
    logloss = float(-np.mean(y * np.log(pe + eps) + (1 - y) * np.log(1 - pe + eps)))
    m = ranking_metrics(te["impression_id"], te["clicked"], pe)
    print(
        json.dumps(
            {
                "rate": rate,
                "train_rows": len(tr),
                "fit_seconds": seconds,
                "auc": m["auc"],
                "ndcg@10": m["ndcg@10"],
                "logloss": logloss,
                "mean_p_over_ctr": float(pe.mean() / y.mean()),
            }
        )
    )


def set_params(proj: Path, kind: str, rate: float, join_hours: int = 24) -> None:
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["engine"]["kind"] = kind
    params["engine"]["join_hours"] = join_hours
    params["train"]["negative_rate"] = rate
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


PIPELINE = ("feast", "trainset", "train", "evaluate")


def pipeline(proj: Path, cap: str, client=None, **env: str) -> dict:
    """The stages after `features`, as `make` runs them: seconds and peak RSS of each, the
    workers' peaks after it, and the test days' nDCG@10 of the model and of the oracle."""
    out: dict = {}
    for stage in PIPELINE:
        out[stage] = run(["newsrec", stage], proj, cap, **env)
        if client is not None:
            out[stage]["worker_peak_rss_mb"] = worker_peaks(client)
        if out[stage]["exit"]:
            return out
    m = json.loads((proj / "reports/metrics.json").read_text())
    out["ndcg@10"] = {k: m[k]["ndcg@10"] for k in ("model", "popularity", "oracle") if k in m}
    out["test_rows"] = json.loads((proj / "reports/evaluate.json").read_text())["rows"]
    return out


# the cap is on address space, which runs ahead of RSS (allocator arenas, mapped libraries):
# one-process `features` at 49M rows hit a 16 GB cap at 12.0 GB RSS
AS_PER_RSS = 1.4


def too_big(prev: list[dict], key: str, rows: float, cap: str) -> str:
    """Why `key` is skipped at `rows`: its peak at a smaller size of this run, scaled to
    `rows` (and to address space, AS_PER_RSS), is above the cap; '' to run it."""
    for r in reversed(prev):
        got = r.get(key)
        if got and not got.get("exit") and "peak_rss_mb" in got:
            scaled = got["peak_rss_mb"] * rows / r["candidate_rows"]
            if scaled * AS_PER_RSS * 2**20 > bytes_of(cap):
                return (
                    f"its peak at {r['candidate_rows']:,} rows scales to {scaled / 1024:.1f} GB of RSS, "
                    f"{scaled * AS_PER_RSS / 1024:.1f} GB of address space, above {cap}"
                )
            return ""
    return ""


def measure(rows: float, a: argparse.Namespace, prev: list[dict]) -> dict:
    from distributed import Client, LocalCluster

    cap, workers = a.mem_cap, a.workers
    tmp = Path(tempfile.mkdtemp(prefix="newsrec-scale-"))
    try:
        proj = project(tmp / "proj", rows, workers)
        res: dict = {"rows_asked": rows, "world": world_for(rows), "skipped": {}}
        for stage in ("world", "ingest"):
            res[stage] = run(["newsrec", stage], proj, cap)
            print(f"  {stage}: {res[stage]['seconds']:.0f} s, {res[stage]['peak_rss_mb']:,.0f} MB", flush=True)
            if res[stage]["exit"]:
                return res
        import pyarrow.parquet as pq

        res["candidate_rows"] = pq.ParquetFile(proj / "data/canonical/impressions.parquet").metadata.num_rows
        print(f"  {res['candidate_rows']:,} candidate rows", flush=True)
        rows = res["candidate_rows"]
        for key, cmd in (
            ("features_pandas", ["newsrec", "features"]),
            ("join_pandas", [sys.executable, __file__, "--join", str(proj)]),
        ):
            if why := too_big(prev, key, rows, cap):
                res["skipped"][key] = why
                continue
            res[key] = run(cmd, proj, cap)
            if key == "features_pandas" and not res[key]["exit"]:
                shutil.copytree(proj / "data/features", tmp / "alone")
        if rows <= a.pandas_pipeline_rows and "features_pandas" in res:
            set_params(proj, "pandas", a.pipeline_rate)
            res["pipeline_pandas"] = pipeline(proj, cap)
        else:
            res["skipped"]["pipeline_pandas"] = (
                f"Feast's DuckDB join above --pandas-pipeline-rows {a.pandas_pipeline_rows:,.0f}"
            )
        with LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        ) as lc:
            with Client(lc) as c:
                set_params(proj, "dask", a.pipeline_rate, a.join_hours)
                env = {"NEWSREC_DASK_SCHEDULER": lc.scheduler_address}
                res["features_dask"] = run(["newsrec", "features"], proj, cap, **env)
                res["features_dask"]["worker_peak_rss_mb"] = worker_peaks(c)
                if (tmp / "alone").exists():
                    res["features_same"] = tables_equal(tmp / "alone", proj / "data/features")
                res["join_dask"] = run(
                    [sys.executable, __file__, "--join", str(proj), "--scheduler", lc.scheduler_address], proj, cap
                )
                res["join_dask"]["worker_peak_rss_mb"] = worker_peaks(c)
                if not res["features_dask"]["exit"]:
                    res["pipeline_dask"] = pipeline(proj, cap, c, **env)
        res["fits"] = []
        for rate in a.rates if rows <= a.fit_rows else []:
            got = run([sys.executable, __file__, "--fit", str(proj), "--rate", str(rate)], proj, cap)
            if not got["exit"]:
                got |= json.loads(got["out"].strip().splitlines()[-1])
            res["fits"].append(got)
        for k in ("join_pandas", "join_dask"):
            if k in res and not res[k]["exit"]:
                lines = res[k]["out"].strip().splitlines()
                res[k] |= json.loads(lines[-1]) if lines else {}
        return res
    finally:
        if a.keep:
            print(f"  kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=float, nargs="+", default=[1e6])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mem-cap", default="16G")
    ap.add_argument("--keep", action="store_true", help="keep the scratch projects")
    ap.add_argument(
        "--rates", type=float, nargs="+", default=[1.0, 0.25], help="train.negative_rate values to fit and compare"
    )
    ap.add_argument("--pipeline-rate", type=float, default=0.25, help="train.negative_rate of the pipelines' train")
    ap.add_argument("--pandas-pipeline-rows", type=float, default=2e6, help="Feast's training set up to this size")
    ap.add_argument("--join-hours", type=int, default=24, help="engine.join_hours of the Dask pipeline's trainset")
    ap.add_argument("--fit-rows", type=float, default=1e7, help="the fits at --rates up to this size")
    ap.add_argument("--join", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--fit", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--scheduler", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.join:
        join_child(a.join, a.scheduler)
        return 0
    if a.fit:
        fit_child(a.fit, a.rate)
        return 0
    results = []
    for rows in a.rows:
        print(f"size {rows:,.0f} rows: a world, ingest, then each engine", flush=True)
        results.append(measure(rows, a, results))
        report(results[-1], a.workers)
        save_result("scale", results)
    growth(results)
    print(f"\nresults: {save_result('scale', results)}")
    return 0


def report(r: dict, workers: int) -> None:
    if "features_dask" not in r:
        bad = next(k for k in ("world", "ingest") if r[k]["exit"])
        print(f"  {bad} failed (exit {r[bad]['exit']}; a memory cap?): {r[bad]['tail']}")
        return
    fp, fd = r.get("features_pandas"), r["features_dask"]
    print(f"  {r['candidate_rows']:,} candidate rows; Dask: a LocalCluster of {workers} workers")
    print(f"  {'':>26} {'seconds':>9} {'peak RSS MB':>12} {'workers MB':>16}")

    def line(name: str, x: dict | None) -> None:
        if x is None:
            return
        w = "/".join(f"{v:,.0f}" for v in x.get("worker_peak_rss_mb", []))
        state = f" FAILED (exit {x['exit']})" if x["exit"] else ""
        print(f"  {name:>26} {x['seconds']:>9.1f} {x['peak_rss_mb']:>12,.0f} {w:>16}{state}")

    line("world", r["world"])
    line("ingest", r["ingest"])
    line("features, one process", fp)
    line("features, Dask", fd)
    for kind in ("pandas", "dask"):
        for stage in PIPELINE:
            line(f"{stage}, {'one process' if kind == 'pandas' else 'Dask'}", r.get(f"pipeline_{kind}", {}).get(stage))
    for k, why in r.get("skipped", {}).items():
        print(f"  {k} skipped: {why}")
    if fp and not fp["exit"] and not fd["exit"]:
        print(
            f"  features: Dask / one process {fd['seconds'] / fp['seconds']:.2f}x the time; "
            f"the same tables: {'yes' if r.get('features_same') else 'NO'}"
        )
    for kind in ("pandas", "dask"):
        pl = r.get(f"pipeline_{kind}")
        if pl and "ndcg@10" in pl:
            total = sum(pl[s]["seconds"] for s in PIPELINE) + r[f"features_{kind}"]["seconds"]
            nd = ", ".join(f"{k} {v:.4f}" for k, v in pl["ndcg@10"].items())
            print(
                f"  {kind}: features + {' + '.join(PIPELINE)} {total:.0f} s; test days ({pl['test_rows']:,} rows) nDCG@10: {nd}"
            )
    jp, jd = r.get("join_pandas", {}), r.get("join_dask", {})
    if "join_seconds" in jd:
        floor = (
            f"the whole in one process (merge_asof, the floor) {jp['join_seconds']:.1f} s, "
            if "join_seconds" in jp
            else ""
        )
        ratio = f" ({jd['join_seconds'] / jp['join_seconds']:.2f}x)" if "join_seconds" in jp else ""
        print(
            f"  join: {floor}a day per task on Dask, written {jd['join_seconds']:.1f} s{ratio}; rows in "
            f"{jd['rows_in']:,}, out {jd['rows_out']:,}"
        )
    fits = [f for f in r.get("fits", []) if not f["exit"]]
    if fits:
        print(f"  training at scale (train.negative_rate; {fits[0]['train_rows']:,} train rows), test days:")
        print(f"  {'rate':>6} {'fit s':>7} {'peak MB':>8} {'auc':>7} {'ndcg@10':>8} {'logloss':>8} {'mean p/ctr':>10}")
        for f in fits:
            print(
                f"  {f['rate']:>6.2f} {f['fit_seconds']:>7.1f} {f['peak_rss_mb']:>8,.0f} {f['auc']:>7.4f} "
                f"{f['ndcg@10']:>8.4f} {f['logloss']:>8.4f} {f['mean_p_over_ctr']:>10.3f}"
            )
    for f in r.get("fits", []):
        if f["exit"]:
            print(f"  the fit at rate {f.get('rate')} failed (exit {f['exit']}): {f['tail']}")
    for k in ("features_pandas", "features_dask", "join_pandas", "join_dask"):
        if k in r and r[k]["exit"]:
            print(f"  {k} failed (exit {r[k]['exit']}; a memory cap?): {r[k]['tail']}")
    for kind in ("pandas", "dask"):
        for stage, x in r.get(f"pipeline_{kind}", {}).items():
            if isinstance(x, dict) and x.get("exit"):
                print(f"  {stage} ({kind}) failed (exit {x['exit']}): {x['tail']}")


def growth(results: list[dict]) -> None:
    """The Dask path's time and worker peak from each size to the next."""
    done = [r for r in results if "ndcg@10" in r.get("pipeline_dask", {})]
    for a, b in zip(done, done[1:]):
        t = [r["features_dask"]["seconds"] + sum(r["pipeline_dask"][s]["seconds"] for s in PIPELINE) for r in (a, b)]
        peak = max(b["pipeline_dask"]["evaluate"]["worker_peak_rss_mb"] + b["features_dask"]["worker_peak_rss_mb"])
        print(
            f"{a['candidate_rows']:,} -> {b['candidate_rows']:,} rows ({b['candidate_rows'] / a['candidate_rows']:.1f}x): "
            f"Dask features..evaluate {t[0]:.0f} s -> {t[1]:.0f} s ({t[1] / t[0]:.2f}x); the largest worker peak "
            f"{peak / 1024:.1f} GB"
        )


if __name__ == "__main__":
    sys.exit(main())
