"""What monitoring compares, free of any reporting tool: the log window, the reference
sample, the performance of a scored window once its clicks are known, and the summary
that the drift gate (gates.drift_decision) reads.

The Evidently report itself lives in monitoring/; it fills `DriftSummary.feature_drift`
and `score_drift` from its own drift tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from newsrec.beyond import beyond_accuracy
from newsrec.metrics import auc, ndcg
from newsrec.ranking import rank_within

SHOWN_K = 10  # what a reader sees of a response: its top 10


@dataclass
class DriftSummary:
    """One monitoring run: sizes, drift scores, performance, in plain numbers."""

    window: list[str]
    model_version: str | None
    rows: dict[str, int]  # reference / current, before and after sampling
    method: str = ""
    feature_drift: dict[str, float] = field(default_factory=dict)
    score_drift: float | None = None
    performance: dict[str, dict[str, float] | None] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def last_days(dates: list[str], n: int) -> list[str]:
    """The last n days (YYYY-MM-DD) that have traffic."""
    return sorted(set(dates))[-n:]


def sample(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most n rows, drawn without replacement; whole frame if smaller."""
    return df if len(df) <= n else df.sample(n, random_state=seed).sort_index()


def performance(groups, clicked, engagement, score, items=None, categories=None) -> dict[str, float] | None:
    """Over what readers saw (the top 10 of each request, where the click outcome is known):
    AUC of the engagement scores, nDCG@10 of the served order, CTR. Training data and the
    log are judged the same way, so the two are comparable. None when no outcome is known.
    With the candidates' `items` and `categories`, also the top 10's category diversity,
    novelty and catalogue coverage (newsrec.beyond) over every request."""
    y = np.asarray(clicked, dtype=np.float64)
    seen = (rank_within(score, groups) <= SHOWN_K) & ~np.isnan(y)
    if not seen.any():
        return None
    g, y = np.asarray(groups)[seen], y[seen]
    e, s = np.asarray(engagement, np.float64)[seen], np.asarray(score, np.float64)[seen]
    df = pd.DataFrame({"g": g})
    beyond = {} if items is None else beyond_accuracy(groups, items, categories, score, clicked, SHOWN_K)
    return beyond | {
        "auc": auc(g, y, e),  # over the requests with both a click and a skip
        "ndcg@10": ndcg(g, y, s, 10),
        f"ctr@{SHOWN_K}": float(y.mean()),
        "requests": int(df["g"].nunique()),
        "clicks": int(y.sum()),
    }
