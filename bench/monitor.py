"""Drift report on a 1M-row log window: the sampled run (monitor.reference_rows /
current_rows a side) against the full data, each in its own process (time, peak memory),
and whether the shock is still detected on the sample.

The window is the simulated world's days after the default scenario's shock, drawn with
replacement to 1M rows and scored by the model trained before the shock; the reference is
the held-out part of that model's last training day.

Usage: python bench/monitor.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, save_result


def child(folder: Path, n: int) -> None:
    import pandas as pd

    from newsrec.config import load_params
    from newsrec.stages.monitor import assess

    ref, cur = pd.read_parquet(folder / "reference.parquet"), pd.read_parquet(folder / "current.parquet")
    p = load_params().monitor
    p = p.model_copy(update={"reference_rows": n, "current_rows": n})
    t0 = time.perf_counter()
    window = [pd.Timestamp(cur["event_timestamp"].max()).strftime("%Y-%m-%d")]
    s, d = assess(ref, cur, window, p, folder / f"out-{n}", folder / "ws", say=lambda m: None, html=False)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rows": s.rows,
                "score_drift": s.score_drift,
                "max_feature_drift": max(s.feature_drift.values()),
                "retrain": d.retrain,
                "reasons": [r for r in d.reasons if r.startswith("RETRAIN")],
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        return child(Path(a.child[0]), int(a.child[1]))
    os.environ.setdefault("NEWSREC_ROOT", str(ROOT))
    from newsrec import simulate as sim
    from newsrec.config import load_params
    from newsrec.stages.features import feature_categories

    p = load_params()
    data = sim.prepare(p, feature_categories(p))
    first = sim.train(data, range(0, data.history_days), 1, p)
    shock = data.history_days + p.simulate.shock_day
    after = data.frame[data.frame["day"] >= shock]
    cur = sim.serve(first, after.sample(a.rows, replace=True, random_state=0), p)
    folder = Path(tempfile.mkdtemp(prefix="newsrec-bench-monitor-"))
    first.reference.to_parquet(folder / "reference.parquet")
    cur.to_parquet(folder / "current.parquet")
    print(f"reference {len(first.reference):,} rows, current {len(cur):,} rows (days after the shock)", flush=True)
    res = {}
    for label, n in (("sampled", p.monitor.current_rows), ("full", 10 * a.rows)):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(folder), str(n)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        res[label] = json.loads(out.stdout.strip().splitlines()[-1])
        print(label, res[label], flush=True)
    s, f = res["sampled"], res["full"]
    print(f"\ndrift report, {a.rows:,}-row window, one run each")
    print(f"{'':>10} {'rows ref/cur':>20} {'seconds':>8} {'peak MB':>8} {'score drift':>12} {'retrain':>8}")
    for k, r in res.items():
        rows = f"{r['rows']['reference_sampled']:,}/{r['rows']['current_sampled']:,}"
        print(
            f"{k:>10} {rows:>20} {r['seconds']:>8.1f} {r['peak_rss_mb']:>8.0f} {r['score_drift']:>12.3f} "
            f"{str(r['retrain']):>8}"
        )
    print(
        f"\nsampled / full: time {s['seconds'] / f['seconds']:.2f}x, peak memory "
        f"{s['peak_rss_mb'] / f['peak_rss_mb']:.2f}x; shock detected on the sample: {s['retrain']} "
        f"(full: {f['retrain']})"
    )
    save_result("monitor", res)


if __name__ == "__main__":
    main()
