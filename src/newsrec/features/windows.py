"""Vectorised sums of per-key event values over trailing time windows."""

from __future__ import annotations

import numpy as np

PACK_LIMIT = 2**62  # (key, time) pairs pack into one int64 below this


def trailing_sums(
    keys: np.ndarray,
    times: np.ndarray,
    values: np.ndarray,
    q_keys: np.ndarray,
    q_times: np.ndarray,
    window: np.timedelta64 | None,
) -> np.ndarray:
    """For each query (key, t): the sum of `values` of events with the same key and
    t - window <= time < t, strictly before t (window None: the whole past). `values`
    (n,) gives (queries,); (n, m), m sums at once over the same events: (queries, m).

    Keys are non-negative integer codes. (key, time) packs into one int64, so every query
    is two binary searches over the events sorted once: as key * span + microseconds since
    the earliest time where that fits, else (a very long span or very many keys) the times
    are ranked first.
    """
    return trailing_sums_over(keys, times, values, q_keys, q_times, (window,))[0]


def trailing_sums_over(
    keys: np.ndarray,
    times: np.ndarray,
    values: np.ndarray,
    q_keys: np.ndarray,
    q_times: np.ndarray,
    windows: tuple[np.timedelta64 | None, ...],
) -> list[np.ndarray]:
    """`trailing_sums` for each of `windows`, the events sorted and summed once for all."""
    t_ev = times.astype("datetime64[us]").astype(np.int64)
    t_q = q_times.astype("datetime64[us]").astype(np.int64)
    t_los = [None if w is None else t_q - int(np.timedelta64(w, "us").astype(np.int64)) for w in windows]
    every = [t for t in (t_ev, t_q, *t_los) if t is not None and len(t)]
    base = min((int(t.min()) for t in every), default=0)
    top = max((int(t.max()) for t in every), default=0)
    n_keys = int(max(keys.max(initial=0), q_keys.max(initial=0))) + 1
    span = top - base + 1
    if n_keys * span < PACK_LIMIT:
        pack = lambda k, t: k.astype(np.int64) * span + (t - base)  # noqa: E731
    else:
        grid = np.unique(np.concatenate(every))
        span = len(grid) + 1
        pack = lambda k, t: k.astype(np.int64) * span + np.searchsorted(grid, t) + 1  # noqa: E731
    ev = pack(keys, t_ev)
    order = np.argsort(ev, kind="stable")
    ev = ev[order]
    v = np.asarray(values, dtype=np.float64)[order]
    csum = np.concatenate([np.zeros((1, *v.shape[1:])), np.cumsum(v, axis=0, dtype=np.float64)])
    hi = np.searchsorted(ev, pack(q_keys, t_q), side="left")
    # the whole past: from the key's first event (its time is at least the earliest, rank >= 1)
    return [
        csum[hi]
        - csum[np.searchsorted(ev, pack(q_keys, t_lo) if t_lo is not None else q_keys.astype(np.int64) * span, "left")]
        for t_lo in t_los
    ]
