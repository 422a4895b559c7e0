"""Stage `world`: the simulated news world as MIND-format files (data/raw/sim)."""

from __future__ import annotations

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.simulator import SimSummary, simulate


def world(p: Params, paths: Paths, say: Say | None = None) -> SimSummary:
    """Write the simulated world of params `world` under data/raw/sim."""
    say = say or progress("world")
    out = paths.raw_source("sim")
    s = simulate(p.world, out, progress=lambda d, n: say(f"day {d}/{n}"))
    say(
        f"{s.impressions:,} impressions, {s.candidates:,} candidate rows, {s.clicks:,} clicks, "
        f"{s.ratings:,} ratings -> {out}"
    )
    return s
