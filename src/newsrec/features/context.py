"""The impression context: features of a candidate among the other candidates of its
impression (a request), which no single row holds. One function computes them in training
(over every impression of a frame, grouped by impression_id) and in serving (over one
request's candidates), from the request features already there.

- fresh_rank, fresh_gap: its rank by freshness (1: the freshest; ties share the best rank)
  and how many hours older it is than the impression's freshest candidate;
- pop_rank, pop_gap: its rank by the popularity baseline (clicks over the last day, ties by
  impressions) and how many clicks over the last day fewer than the impression's most clicked.

A candidate without freshness (an article the store does not know) has no freshness rank
or gap (NaN: filled as any missing value); missing counts are zero, as the baseline's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from newsrec.features.request import floats
from newsrec.features.spec import CONTEXT
from newsrec.ranking import popularity

CONTEXT_INPUTS = ("freshness_hours", "news_clicks_1d", "news_imps_1d")


def context_arrays(x: dict[str, np.ndarray], groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The context features of every row; `groups` the impression of each row (None: one impression)."""
    fresh = floats(x["freshness_hours"])
    clicks = np.nan_to_num(floats(x["news_clicks_1d"]), nan=0.0)
    pop = popularity(clicks, floats(x["news_imps_1d"]))
    codes, n = _codes(groups, len(fresh))
    has = ~np.isnan(fresh)
    fresh_rank = np.full(len(fresh), np.nan)
    fresh_rank[has] = _rank(codes[has], fresh[has])
    return {
        "fresh_rank": fresh_rank,
        "fresh_gap": fresh - _reduce(np.fmin, codes, fresh, n, np.inf)[codes],
        "pop_rank": _rank(codes, -pop),
        "pop_gap": _reduce(np.fmax, codes, clicks, n, -np.inf)[codes] - clicks,
    }


def impression_context(frame: pd.DataFrame, group: str = "impression_id") -> pd.DataFrame:
    """`context_arrays` of a frame holding CONTEXT_INPUTS, by its `group` column, as columns CONTEXT."""
    got = context_arrays({c: frame[c] for c in CONTEXT_INPUTS}, frame[group])
    return pd.DataFrame({c: got[c] for c in CONTEXT}, index=frame.index)


def with_context(frame: pd.DataFrame, group: str = "impression_id") -> pd.DataFrame:
    """The frame with its CONTEXT columns (re)computed."""
    return pd.concat([frame.drop(columns=[c for c in CONTEXT if c in frame]), impression_context(frame, group)], axis=1)


def _codes(groups, n: int) -> tuple[np.ndarray, int]:
    if groups is None:
        return np.zeros(n, np.int64), 1
    codes, uniques = pd.factorize(np.asarray(groups))
    return codes.astype(np.int64), len(uniques)


def _rank(codes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """1 + the number of rows of the same group with a smaller value (ties share the best rank)."""
    if not len(values):
        return np.zeros(0)
    _, dense = np.unique(values, return_inverse=True)  # a value's order among all of them
    width = np.int64(len(values) + 1)
    key = codes * width + dense.astype(np.int64)
    ordered = np.sort(key)
    below = np.searchsorted(ordered, key, side="left") - np.searchsorted(ordered, codes * width, side="left")
    return (below + 1).astype(np.float64)


def _reduce(ufunc, codes: np.ndarray, values: np.ndarray, n_groups: int, start: float) -> np.ndarray:
    """ufunc (np.fmin or np.fmax: NaN ignored) of each group's values; NaN for a group with none."""
    out = np.full(n_groups, start)
    ufunc.at(out, codes, values)
    out[np.isinf(out)] = np.nan
    return out
