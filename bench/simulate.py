"""Simulated days at the default size: wall time per simulated day, split into preparing
the world, serving a day, monitoring it (Evidently) and retraining, for the three policies.

Usage: python bench/simulate.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from common import ROOT, save_result


def main() -> None:
    os.environ.setdefault("NEWSREC_ROOT", str(ROOT))
    from newsrec import simulate as sim
    from newsrec.config import load_params
    from newsrec.stages.features import feature_categories
    from newsrec.stages.monitor import assess

    p = load_params()
    t = {"prepare": 0.0, "serve+metrics": 0.0, "monitor": 0.0, "retrain": 0.0}
    out = Path(tempfile.mkdtemp(prefix="newsrec-bench-sim-"))
    t0 = time.perf_counter()
    data = sim.prepare(p, feature_categories(p))
    first = sim.train(data, range(0, data.history_days), 1, p)
    t["prepare"] = time.perf_counter() - t0

    def judge(ref, cur, label):
        s = time.perf_counter()
        _, d = assess(
            ref,
            cur,
            [label.split()[1]],
            p.monitor,
            out / label.replace(" ", "-"),
            out / "ws",
            say=lambda m: None,
            html=False,
        )
        t["monitor"] += time.perf_counter() - s
        return d.retrain, d.reasons

    real_train = sim.train

    def timed_train(*a, **k):
        s = time.perf_counter()
        r = real_train(*a, **k)
        t["retrain"] += time.perf_counter() - s
        return r

    sim.train = timed_train
    t1 = time.perf_counter()
    results = {pol: sim.run_policy(pol, data, first, judge, p) for pol in p.simulate.policies}
    loop = time.perf_counter() - t1
    t["serve+metrics"] = loop - t["monitor"] - t["retrain"]
    total = time.perf_counter() - t0
    days = p.simulate.days
    rows = int((data.frame["day"] >= data.history_days).sum())
    print(
        f"{days} simulated days x {len(results)} policies, {rows:,} candidate rows served per policy "
        f"({rows // days:,} a day), one run"
    )
    for k, v in t.items():
        print(f"  {k:>14} {v:8.1f} s")
    print(
        f"  {'total':>14} {total:8.1f} s: {total / days:.1f} s per simulated day "
        f"({loop / days / len(results):.1f} s per day and policy, the world prepared once)"
    )
    print("  retrains: " + ", ".join(f"{k} {sum(r.retrained for r in v)}" for k, v in results.items()))
    save_result("simulate", {"seconds": t, "total": total, "days": days, "policies": list(results)})


if __name__ == "__main__":
    main()
