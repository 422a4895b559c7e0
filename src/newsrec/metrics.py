"""Per-impression ranking metrics with the MIND definitions: AUC, MRR, nDCG@k.

Each metric is computed per impression (a group of candidates) and averaged over
impressions; AUC skips impressions with only clicks or only non-clicks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from newsrec.ranking import rank_within


def _frame(groups, y_true, y_score) -> pd.DataFrame:
    return pd.DataFrame(
        {"g": np.asarray(groups), "y": np.asarray(y_true, dtype=np.float64), "s": np.asarray(y_score, dtype=np.float64)}
    )


def auc(groups, y_true, y_score) -> float:
    """Mean per-impression ROC AUC (ties count one half), as sklearn's roc_auc_score."""
    df = _frame(groups, y_true, y_score)
    df["r"] = df.groupby("g", sort=False)["s"].rank(method="average")
    g = (
        df.assign(rp=df["r"] * df["y"])
        .groupby("g", sort=False)
        .agg(n=("y", "size"), pos=("y", "sum"), rp=("rp", "sum"))
    )
    g = g[(g["pos"] > 0) & (g["pos"] < g["n"])]
    if g.empty:
        return float("nan")
    neg = g["n"] - g["pos"]
    return float(((g["rp"] - g["pos"] * (g["pos"] + 1) / 2) / (g["pos"] * neg)).mean())


def mrr(groups, y_true, y_score) -> float:
    """Mean per-impression MRR as MIND defines it: sum(y / rank) / sum(y)."""
    df = _frame(groups, y_true, y_score)
    df["rr"] = df["y"] / rank_within(df["s"], df["g"])
    g = df.groupby("g", sort=False).agg(rr=("rr", "sum"), pos=("y", "sum"))
    g = g[g["pos"] > 0]
    return float((g["rr"] / g["pos"]).mean()) if len(g) else float("nan")


def ndcg(groups, y_true, y_score, k: int) -> float:
    """Mean per-impression nDCG@k: gains 2^y - 1, discount log2(rank + 1)."""
    df = _frame(groups, y_true, y_score)
    gain = 2.0 ** df["y"] - 1.0
    pos, ideal = rank_within(df["s"], df["g"]), rank_within(df["y"], df["g"])
    df["dcg"] = np.where(pos <= k, gain / np.log2(pos + 1), 0.0)
    df["best"] = np.where(ideal <= k, gain / np.log2(ideal + 1), 0.0)
    g = df.groupby("g", sort=False)[["dcg", "best"]].sum()
    g = g[g["best"] > 0]
    return float((g["dcg"] / g["best"]).mean()) if len(g) else float("nan")


def ranking_metrics(groups, y_true, y_score) -> dict[str, float]:
    """The four MIND metrics of one scoring, keyed as in reports/metrics.json."""
    return {
        "auc": auc(groups, y_true, y_score),
        "mrr": mrr(groups, y_true, y_score),
        "ndcg@5": ndcg(groups, y_true, y_score, 5),
        "ndcg@10": ndcg(groups, y_true, y_score, 10),
    }
