"""Beyond-accuracy metrics of a news ranking's top k: what readers are shown besides what
they click. Each is computed over the top k of every list (a request or an impression):

- diversity@k: intra-list category diversity, the share of pairs of shown items whose
  categories differ, per list of at least two items, averaged over lists;
- novelty@k: the mean self-information -log2(p) of the shown items, p an item's popularity:
  the share of the lists in which it was clicked, with one pseudo-click (p = (c + 1) / (L + 1)
  over the L evaluated lists), so an item no list clicked has the most, log2(L + 1); per list,
  averaged over lists;
- coverage@k: catalogue coverage, the distinct items shown in any top k over the distinct
  items among all the candidates.

An unknown category (NaN) counts as one category of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from newsrec.ranking import rank_within

KEYS = ("diversity", "novelty", "coverage")
UNKNOWN = "\0unknown"  # the category of an item whose category is not known


def beyond_accuracy(groups, items, categories, scores, clicked, k: int = 10) -> dict[str, float]:
    """diversity@k, novelty@k and coverage@k of ranking every list by `scores`. `clicked`
    (0/1, NaN where unknown) sets the items' popularity for novelty."""
    df = pd.DataFrame(
        {
            "g": np.asarray(groups),
            "i": np.asarray(items),
            "c": np.asarray(categories, dtype=object),
            "y": np.nan_to_num(np.asarray(clicked, dtype=np.float64), nan=0.0),
        }
    )
    if df.empty:
        return {f"{m}@{k}": float("nan") for m in KEYS}
    shown = rank_within(np.asarray(scores, dtype=np.float64), df["g"].to_numpy()) <= k
    top = df[shown]
    return {
        f"diversity@{k}": diversity(top["g"], top["c"]),
        f"novelty@{k}": _novelty(df, shown),
        f"coverage@{k}": float(top["i"].nunique() / df["i"].nunique()),
    }


def diversity(groups, categories) -> float:
    """Mean over lists of two or more items of the share of item pairs in different
    categories: 1 - sum_c n_c (n_c - 1) / (n (n - 1))."""
    c = pd.Series(np.asarray(categories, dtype=object)).fillna(UNKNOWN).to_numpy()
    top = pd.DataFrame({"g": np.asarray(groups), "c": c})
    n = top.groupby("g", sort=False).size()
    per = top.groupby(["g", "c"], sort=False).size()
    same = (per * (per - 1)).groupby(level=0, sort=False).sum().reindex(n.index)
    n = n[n >= 2]
    if n.empty:
        return float("nan")
    return float((1.0 - same[n.index] / (n * (n - 1))).mean())


def _novelty(df: pd.DataFrame, shown: np.ndarray) -> float:
    lists = df["g"].nunique()
    clicks = df.loc[df["y"] > 0].groupby("i")["g"].nunique()
    p = (df["i"].map(clicks).fillna(0.0).to_numpy() + 1.0) / (lists + 1.0)
    info = pd.Series(-np.log2(p)[shown]).groupby(df["g"].to_numpy()[shown], sort=False).mean()
    return float(info.mean()) if len(info) else float("nan")
