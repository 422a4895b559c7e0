"""Benchmark of the `world` stage: simulator throughput and peak memory at two sizes.

Runs newsrec.data.simulator.simulate at ~100k and ~1M *served* impressions (--quick:
10k and 100k) over 7 days, with n_users and n_articles scaled in proportion from the
newsrec.config.World defaults. Each size runs in a fresh subprocess, so its peak RSS
(ru_maxrss, via os.wait4) is its own. Reports logged impressions/s (the simulator logs
only impressions with a click, ~70% of served ones), candidate rows/s, peak RSS, and the
big/small ratios of throughput and peak memory against the size ratio. Output goes to a
temporary directory that is deleted afterwards; results are written to
bench/results/world-<timestamp>.json. Never asserts on wall-clock time.

    python bench/world.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import save_result

DAYS = 7


def world_for(served: int) -> Any:
    """World defaults scaled so that about `served` impressions are served over DAYS days."""
    from newsrec.config import World

    d = World()
    scale = served / (d.impressions_per_day * d.days)
    return d.model_copy(
        update={
            "days": DAYS,
            "impressions_per_day": max(1, round(served / DAYS)),
            "n_users": max(1, round(d.n_users * scale)),
            "n_articles": max(1, round(d.n_articles * scale)),
        }
    )


def maxrss_mb(ru_maxrss: int) -> float:
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 2**10  # bytes vs KiB


def child(served: int, out: Path) -> None:
    """Run one simulation in this (fresh) process and print its measurements as JSON."""
    import resource

    from newsrec.data.simulator import simulate

    p = world_for(served)
    base = maxrss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    t0 = time.perf_counter()
    s = simulate(p, out / "sim")
    secs = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "served": p.impressions_per_day * p.days,
                "logged": s.impressions,
                "candidates": s.candidates,
                "clicks": s.clicks,
                "ratings": s.ratings,
                "seconds": secs,
                "baseline_rss_mb": base,
                "n_users": p.n_users,
                "n_articles": p.n_articles,
                "impressions_per_day": p.impressions_per_day,
            }
        )
    )


def run_size(served: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="newsrec-bench-sim-"))
    try:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", str(served), "--out", str(tmp)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not a running max
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"simulation of {served:,} served impressions failed (exit {proc.returncode})")
        r: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    r["peak_rss_mb"] = maxrss_mb(usage.ru_maxrss)
    r["logged_per_s"] = r["logged"] / r["seconds"]
    r["rows_per_s"] = r["candidates"] / r["seconds"]
    return r


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k and 100k instead of 100k and 1M")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child is not None:
        child(a.child, a.out)
        return 0
    sizes = (10_000, 100_000) if a.quick else (100_000, 1_000_000)
    runs = []
    for n in sizes:
        print(f"simulating ~{label(n)} served impressions ...", flush=True)
        runs.append(run_size(n))
    print(
        f"\n{'size':>6} {'users':>8} {'articles':>8} {'logged':>9} {'cand rows':>11} {'seconds':>8} "
        f"{'logged/s':>9} {'rows/s':>10} {'peak RSS':>10}"
    )
    for n, r in zip(sizes, runs):
        print(
            f"{label(n):>6} {r['n_users']:>8,} {r['n_articles']:>8,} {r['logged']:>9,} {r['candidates']:>11,} "
            f"{r['seconds']:>8.1f} {r['logged_per_s']:>9,.0f} {r['rows_per_s']:>10,.0f} "
            f"{r['peak_rss_mb']:>7,.0f} MB"
        )
    small, big = runs
    size_ratio = sizes[1] / sizes[0]
    thr = big["logged_per_s"] / small["logged_per_s"]
    thr_rows = big["rows_per_s"] / small["rows_per_s"]
    mem = big["peak_rss_mb"] / small["peak_rss_mb"]
    print(
        f"\nsize ratio ({label(sizes[1])}/{label(sizes[0])}): {size_ratio:.0f}x served, "
        f"{big['logged'] / small['logged']:.1f}x logged"
    )
    print(
        f"throughput ratio ({label(sizes[1])}/{label(sizes[0])}): logged/s {thr:.2f}x, rows/s {thr_rows:.2f}x "
        f"(1.00x = linear time)"
    )
    print(f"time growth: {big['seconds'] / small['seconds']:.1f}x for {size_ratio:.0f}x the impressions")
    print(
        f"memory growth: {mem:.1f}x for {size_ratio:.0f}x the impressions "
        f"(at most linear: {'yes' if mem <= size_ratio else 'no'})"
    )
    out = save_result(
        "world",
        {
            "benchmark": "world",
            "quick": a.quick,
            "sizes": list(sizes),
            "runs": runs,
            "size_ratio": size_ratio,
            "throughput_ratio_logged": thr,
            "throughput_ratio_rows": thr_rows,
            "memory_ratio": mem,
            "memory_at_most_linear": mem <= size_ratio,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
