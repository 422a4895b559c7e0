"""The ranking objective: score = a * engagement + b * quality, and its top k."""
from __future__ import annotations

import numpy as np
import pandas as pd


def weighted_rating(r, v, m: float, c) -> np.ndarray:
    """WR = v/(v+m) * R + m/(v+m) * C: the mean R of v votes, shrunk toward C by m votes
    (the film-chart formula). With no ratings, R is a CTR, v impressions, C the global CTR."""
    r, v, c = (np.asarray(x, dtype=np.float64) for x in (r, v, c))
    return v / (v + m) * r + m / (v + m) * c


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
    df = pd.DataFrame({"g": np.asarray(groups), "s": np.asarray(scores, dtype=np.float64)})
    return (df.groupby("g", sort=False)["s"].rank(method="first", ascending=False) <= k).to_numpy()


def realised(scores, groups, values: dict[str, np.ndarray], k: int) -> dict[str, float]:
    """Mean of each value (clicks, quality, ...) over the top k of every list."""
    m = top_k_mask(scores, groups, k)
    return {f"{name}@{k}": float(np.nanmean(np.asarray(v, dtype=np.float64)[m])) for name, v in values.items()}
