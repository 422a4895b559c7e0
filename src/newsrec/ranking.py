"""The ranking objective: score = a * engagement + b * quality, its top k, the position of
each candidate in its list, and the popularity baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd


def weighted_rating(r, v, m: float, c) -> np.ndarray:
    """WR = v/(v+m) * R + m/(v+m) * C: the mean R of v votes, shrunk toward C by m votes
    (the film-chart formula). With no ratings, R is a CTR, v impressions, C the global CTR."""
    r, v, c = (np.asarray(x, dtype=np.float64) for x in (r, v, c))
    return v / (v + m) * r + m / (v + m) * c


def popularity(clicks_1d, imps_1d) -> np.ndarray:
    """The popularity baseline: clicks over the last day, ties broken by impressions (missing
    counts are zero). The evaluation baseline and the cold-start fallback both rank by it."""
    clicks = np.nan_to_num(np.asarray(clicks_1d, dtype=np.float64), nan=0.0)
    imps = np.nan_to_num(np.asarray(imps_1d, dtype=np.float64), nan=0.0)
    return clicks + 1e-6 * imps


def rank_within(values, groups=None) -> np.ndarray:
    """1-based position of each value in its group (a candidate list) by descending value;
    ties keep their input order, NaN ranks NaN. groups=None: the values are one list."""
    v = np.asarray(values, dtype=np.float64)
    if groups is None:  # the request path: one short list, no groupby
        nan = np.isnan(v)  # NaN last (after -inf), then descending value; lexsort is stable
        order = np.lexsort((np.where(nan, 0.0, -v), nan))
        rank = np.empty(len(v))
        rank[order] = np.arange(1, len(v) + 1)
        return np.where(nan, np.nan, rank)
    df = pd.DataFrame({"g": np.asarray(groups), "v": v})
    return df.groupby("g", sort=False)["v"].rank(method="first", ascending=False).to_numpy()


def minmax(values, groups) -> np.ndarray:
    """Scale to [0, 1] within each group (a candidate list); a constant list becomes 0.5.
    groups=None: the values are one list."""
    if groups is None:
        v = np.asarray(values, dtype=np.float64)
        span = v.max(initial=-np.inf) - v.min(initial=np.inf) if len(v) else 0.0
        return (v - v.min()) / span if span > 0 else np.full(len(v), 0.5)
    s = pd.Series(np.asarray(values, dtype=np.float64))
    g = s.groupby(np.asarray(groups), sort=False)
    lo, hi = g.transform("min"), g.transform("max")
    span = (hi - lo).to_numpy()
    return np.where(span > 0, (s - lo).to_numpy() / np.where(span > 0, span, 1.0), 0.5)


def blend(engagement, quality, groups, a: float, b: float) -> np.ndarray:
    """The blended score of each candidate: both terms scaled to [0, 1] within its list."""
    return a * minmax(engagement, groups) + b * minmax(quality, groups)


def top_k_mask(scores, groups, k: int) -> np.ndarray:
    """True for the k best-scored candidates of each list (ties keep input order)."""
    return rank_within(scores, groups) <= k


def realised(scores, groups, values: dict[str, np.ndarray], k: int) -> dict[str, float]:
    """Mean of each value (clicks, quality, ...) over the top k of every list."""
    m = top_k_mask(scores, groups, k)
    return {f"{name}@{k}": float(np.nanmean(np.asarray(v, dtype=np.float64)[m])) for name, v in values.items()}
