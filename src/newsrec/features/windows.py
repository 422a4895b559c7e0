"""Vectorised sums of per-key event values over trailing time windows."""

from __future__ import annotations

import numpy as np


def trailing_sums(
    keys: np.ndarray,
    times: np.ndarray,
    values: np.ndarray,
    q_keys: np.ndarray,
    q_times: np.ndarray,
    window: np.timedelta64 | None,
) -> np.ndarray:
    """For each query (key, t): the sum of `values` of events with the same key and
    t - window <= time < t, strictly before t (window None: the whole past).

    Keys are non-negative integer codes. Times are ranked first, so (key, rank) packs into
    one int64 and every query is two binary searches.
    """
    t_ev = times.astype("datetime64[us]").astype(np.int64)
    t_q = q_times.astype("datetime64[us]").astype(np.int64)
    t_lo = (
        t_q - int(np.timedelta64(window, "us").astype(np.int64))
        if window is not None
        else np.full_like(t_q, np.iinfo(np.int64).min // 2)
    )
    grid = np.unique(np.concatenate([t_ev, t_q, t_lo]))
    span = len(grid) + 1

    def pack(k, t):
        return k.astype(np.int64) * span + np.searchsorted(grid, t)

    ev = pack(keys, t_ev)
    order = np.argsort(ev, kind="stable")
    ev = ev[order]
    csum = np.concatenate([[0.0], np.cumsum(values[order], dtype=np.float64)])
    hi = np.searchsorted(ev, pack(q_keys, t_q), side="left")
    lo = np.searchsorted(ev, pack(q_keys, t_lo), side="left")
    return csum[hi] - csum[lo]
