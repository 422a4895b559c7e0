"""A stubbed click model and a hand-sized request (a user and three articles) for the
serving tests: the stub's click probability is the article's smoothed CTR."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from newsrec.features.spec import MODEL_FEATURES
from newsrec.recommend import Ranker


class Stub:
    """Click probability = the article's smoothed CTR: easy to predict by hand."""

    def predict_proba(self, x):
        p = x[:, MODEL_FEATURES.index("news_ctr")]
        return np.c_[1 - p, p]


NOW = datetime(2026, 11, 9, 12, tzinfo=UTC)
NEWS = pd.DataFrame(
    {
        "category_idx": [0, 1, 2],
        "first_seen_ts": [NOW.timestamp() - 3600] * 3,
        "news_emb": [np.array([1.0, 0.0])] * 3,
        "news_imps": [10, 20, 30],
        "news_clicks": [1, 2, 3],
        "news_imps_1d": [10, 20, 30],
        "news_clicks_1d": [5, 1, 3],
        "news_imps_6h": [4, 6, 9],
        "news_clicks_6h": [2, 0, 1],
        "news_imps_1h": [1, 2, 3],
        "news_clicks_1h": [1, 0, 0],
        "news_ctr": [0.30, 0.10, 0.20],
        "news_ctr_6h": [0.25, 0.08, 0.15],
        "news_ctr_1h": [0.2, 0.1, 0.1],
        "news_quality": [0.2, 0.9, 0.5],
    },
    index=pd.Index(["N1", "N2", "N3"], name="news_id"),
)
USER = {
    "history_len": 3,
    "user_imps_1d": 1,
    "user_clicks_1d": 1,
    "user_imps_7d": 2,
    "user_clicks_7d": 1,
    "user_cands_7d": 12,
    "user_aff": np.array([0.5, 0.3, 0.2], np.float32),
    "user_emb": np.array([1.0, 0.0], np.float32),
    "user_cat_hist": np.array([2.0, 1.0, 0.0], np.float32),
    "user_cat_clicks_1d": np.array([1.0, 0.0, 0.0], np.float32),
    "user_cat_imps_1d": np.array([3.0, 2.0, 1.0], np.float32),
}
DEFAULTS = dict.fromkeys(MODEL_FEATURES, 0.0) | {"news_quality": 0.5, "news_ctr": 0.1}


def ranker(a=1.0, b=0.0):
    return Ranker(Stub(), "7", DEFAULTS, a, b)
