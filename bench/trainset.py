"""Training-set build for ~1M candidate rows: Feast get_historical_features on the
FeatureService (DuckDB offline store, and the default `file` store for comparison)
against the floor, the same point-in-time join done directly with pandas merge_asof.

Each method runs in a fresh subprocess so its peak RSS is its own. Prints the ratios.
Usage: python bench/trainset.py [--rows 1000000] [--file-store]
(--file-store adds Feast's default `file` offline store: at 100k rows it took 4x DuckDB's
time and returned 5% of the entity rows, and at 1M it ran for minutes; off by default)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, save_result


def setup(work: Path, rows: int) -> None:
    """A world of about `rows` candidate rows -> canonical -> feature tables, in `work`."""
    from newsrec.config import Params, World
    from newsrec.data.canonical import ingest_dir, read_table
    from newsrec.data.simulator import simulate
    from newsrec.features.build import build_features
    from newsrec.features.join import entity_rows
    from newsrec.features.spec import VIEWS
    from newsrec.stages.features import feature_categories

    f = rows / 400_000  # the default world logs ~400k candidate rows
    w = World(n_users=int(5000 * f), n_articles=int(2500 * max(1.0, f**0.5)), impressions_per_day=int(4000 * f))
    simulate(w, work / "raw")
    ingest_dir(work / "raw", work / "canonical")
    t = {n: read_table(work / "canonical" / f"{n}.parquet") for n in ("news", "impressions", "histories", "feedback")}
    p = Params(world=w)
    ft = build_features(t["news"], t["impressions"], t["histories"], t["feedback"], feature_categories(p), p.features)
    (work / "data" / "features").mkdir(parents=True)
    for v in VIEWS:
        getattr(ft, v.table).to_parquet(work / "data" / "features" / f"{v.table}.parquet", index=False)
    ent = entity_rows(t["impressions"], p.features.advance_hours)  # the trainset stage's entity rows
    ent[["user_id", "news_id", "event_timestamp", "request_time"]].to_parquet(work / "entities.parquet")


def run_feast(work: Path, store: str) -> dict:
    import pandas as pd

    from newsrec.adapters.feast import FeatureStore

    repo = work / f"repo_{store}"
    shutil.copytree(ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "feature_definitions.py").write_text(
        (repo / "feature_definitions.py")
        .read_text()
        .replace(
            'Path(__file__).resolve().parent.parent / "data" / "features"', f"Path({str(work / 'data' / 'features')!r})"
        )
    )
    yaml = (repo / "feature_store.yaml").read_text().replace("type: duckdb", f"type: {store}")
    (repo / "feature_store.yaml").write_text(yaml.replace("../data/feast", str(work / f"feast_{store}")))
    ent = pd.read_parquet(work / "entities.parquet")
    fs = FeatureStore(repo)
    fs.apply()
    t0 = time.perf_counter()
    out = fs.fs.get_historical_features(entity_df=ent, features=fs.service()).to_df()  # rows may drop: counted
    return {
        "seconds": time.perf_counter() - t0,
        "rows_in": len(ent),
        "rows_out": len(out),
        "null_ctr": int(out["news_ctr"].isna().sum()),
    }


def run_floor(work: Path) -> dict:
    """The same point-in-time join with pandas merge_asof (newsrec.features.join.as_of)."""
    import pandas as pd

    from newsrec.features.join import as_of
    from newsrec.features.spec import VIEWS

    ent = pd.read_parquet(work / "entities.parquet")
    f = {v.table: pd.read_parquet(work / "data" / "features" / f"{v.table}.parquet") for v in VIEWS}
    t0 = time.perf_counter()
    out = as_of(ent, f)
    return {
        "seconds": time.perf_counter() - t0,
        "rows_in": len(ent),
        "rows_out": len(out),
        "null_ctr": int(out["news_ctr"].isna().sum()),
    }


def child(method: str, work: Path) -> None:
    r = run_floor(work) if method == "floor" else run_feast(work, method)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--file-store", action="store_true")
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        return child(a.child[0], Path(a.child[1]))
    work = Path(tempfile.mkdtemp(prefix="newsrec-bench-trainset-"))
    try:
        t0 = time.perf_counter()
        setup(work, a.rows)
        print(f"setup (simulate, ingest, features): {time.perf_counter() - t0:.1f}s", flush=True)
        methods = ["floor", "duckdb"] + (["file"] if a.file_store else [])
        res = {}
        for m in methods:
            out = subprocess.run([sys.executable, __file__, "--child", m, str(work)], capture_output=True, text=True)
            if out.returncode:
                res[m] = {"error": out.stderr.strip().splitlines()[-1][:300]}
            else:
                res[m] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{m:>7}: {res[m]}", flush=True)
        floor = res["floor"]["seconds"]
        print(f"\ntraining set of {res['floor']['rows_in']:,} entity rows (one run)")
        print(f"{'method':>16} {'seconds':>8} {'x floor':>8} {'rows out':>10} {'peak RSS MB':>12}")
        for m, r in res.items():
            if "error" in r:
                print(f"{m:>16} failed: {r['error']}")
                continue
            name = {"floor": "pandas merge_asof", "duckdb": "Feast duckdb", "file": "Feast file"}[m]
            print(
                f"{name:>16} {r['seconds']:>8.1f} {r['seconds'] / floor:>8.1f} {r['rows_out']:>10,} "
                f"{r['peak_rss_mb']:>12,.0f}"
            )
        save_result("trainset", res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
