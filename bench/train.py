"""Click-model training time and peak memory at 100k and 1M rows, each in a fresh
subprocess, on rows resampled from a simulated training set. Prints the ratios. With
`--against REV`: the same fits of the model of an earlier commit (its code, its features, its
own training set: bench/common.earlier), alternately with this one's, and their ratio.
Usage: python bench/train.py [--sizes 100000 1000000] [--against REV]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, earlier, save_result


def child(n: int) -> None:
    import numpy as np
    import pandas as pd

    from newsrec.config import Paths, Train
    from newsrec.features.request import fill_defaults, fit_defaults
    from newsrec.features.spec import MODEL_FEATURES
    from newsrec.model import fit

    paths = Paths(Path(os.environ.get("NEWSREC_ROOT") or ROOT))
    n_categories = len(json.loads((paths.features / "categories.json").read_text()))
    frame = pd.read_parquet(paths.trainset, columns=MODEL_FEATURES + ["clicked"])
    frame = frame.iloc[np.random.default_rng(0).integers(0, len(frame), n)]
    x, _ = fill_defaults(frame, fit_defaults(frame, n_categories))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    model = fit(x, frame["clicked"], Train())
    print(
        json.dumps(
            {
                "rows": n,
                "features": len(MODEL_FEATURES),
                "seconds": time.perf_counter() - t0,
                "iterations": int(model.n_iter_),
                "rss_before_fit_mb": rss0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--child", type=int)
    ap.add_argument("--against", help="an earlier commit whose model to time the same way, alternately")
    a = ap.parse_args()
    if a.child:
        return child(a.child)
    from newsrec.config import Paths

    if not Paths(ROOT).trainset.exists():
        sys.exit(f"run `make train` first: this bench resamples {Paths(ROOT).trainset}")
    env = {k: v for k, v in os.environ.items() if k != "NEWSREC_ROOT"}
    theirs = earlier(a.against)[1] if a.against else None
    runs, before = [], []
    for n in a.sizes:
        for who, e in (("this", env), (a.against, theirs)):
            if e is None:
                continue
            cmd = [sys.executable, __file__, "--child", str(n)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=e)
            (runs if who == "this" else before).append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(who, (runs if who == "this" else before)[-1], flush=True)
    print(f"\n{'rows':>10} {'seconds':>8} {'iters':>6} {'s/iter':>7} {'peak RSS MB':>12}")
    for r in runs:
        print(
            f"{r['rows']:>10,} {r['seconds']:>8.1f} {r['iterations']:>6} {r['seconds'] / r['iterations']:>7.3f} "
            f"{r['peak_rss_mb']:>12,.0f}"
        )
    a0, a1 = runs[0], runs[-1]
    print(
        f"\n{a1['rows'] / a0['rows']:.0f}x the rows: {a1['seconds'] / a0['seconds']:.1f}x the time "
        f"({(a1['seconds'] / a1['iterations']) / (a0['seconds'] / a0['iterations']):.1f}x per boosting iteration), "
        f"{a1['peak_rss_mb'] / a0['peak_rss_mb']:.1f}x the peak memory"
    )
    if before:
        print(f"\nagainst {a.against} (its features and training set), in the same run:")
        print(f"{'rows':>10} {'features':>17} {'seconds':>17} {'ratio':>6} {'peak RSS MB':>19}")
        for r, b in zip(runs, before):
            print(
                f"{r['rows']:>10,} {b['features']:>8} -> {r['features']:>5} {b['seconds']:>8.1f} -> "
                f"{r['seconds']:>5.1f} {r['seconds'] / b['seconds']:>5.2f}x {b['peak_rss_mb']:>9,.0f} -> "
                f"{r['peak_rss_mb']:>6,.0f}"
            )
    save_result("train", {"runs": runs, "against": a.against, "before": before})


if __name__ == "__main__":
    main()
