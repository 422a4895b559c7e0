"""Request-time features, computed the same way in training (Feast on-demand view) and in
serving, plus the documented defaults for values an entity does not have yet."""
from __future__ import annotations

import numpy as np
import pandas as pd

USER = ["history_len", "user_imps_1d", "user_clicks_1d", "user_imps_7d", "user_clicks_7d"]
NEWS = ["news_imps", "news_clicks", "news_imps_1d", "news_clicks_1d", "news_ctr", "news_quality"]
REQUEST = ["freshness_hours", "category_affinity", "content_similarity"]
MODEL_FEATURES = USER + NEWS + REQUEST

# What a missing value means, and the value it gets (counted and logged where it happens):
# a user with no row yet is a new user, an article without stats has not been shown yet.
DEFAULTS: dict[str, float] = {
    "history_len": 0, "user_imps_1d": 0, "user_clicks_1d": 0, "user_imps_7d": 0, "user_clicks_7d": 0,
    "news_imps": 0, "news_clicks": 0, "news_imps_1d": 0, "news_clicks_1d": 0,
    "news_ctr": np.nan, "news_quality": np.nan,  # filled with the column's median (a global prior)
    "freshness_hours": np.nan,  # filled with the median age: an article Feast knows nothing about
    "category_affinity": np.nan,  # filled with 1 / number of categories: no preference known
    "content_similarity": 0.0,  # no history, no similarity
}


def request_features(df: pd.DataFrame) -> pd.DataFrame:
    """freshness_hours, category_affinity and content_similarity from the user's and the
    article's features and the request time (epoch seconds)."""
    out = pd.DataFrame(index=df.index)
    age = (df["request_time"].astype(float) - df["first_seen_ts"].astype(float)) / 3600.0
    out["freshness_hours"] = age.clip(lower=0.0)
    out["category_affinity"] = [_pick(a, i) for a, i in zip(df["user_aff"], df["category_idx"])]
    out["content_similarity"] = [_dot(u, n) for u, n in zip(df["user_emb"], df["news_emb"])]
    return out


def _pick(aff, i) -> float:
    if aff is None or i is None or (isinstance(i, float) and np.isnan(i)):
        return np.nan
    i = int(i)
    return float(aff[i]) if 0 <= i < len(aff) else np.nan


def _dot(u, n) -> float:
    if u is None or n is None or len(u) != len(n):
        return np.nan
    return float(np.dot(np.asarray(u, np.float64), np.asarray(n, np.float64)))


def fit_defaults(x: pd.DataFrame, n_categories: int) -> dict[str, float]:
    """The fill value of every model input, fixed on the training data and kept with the
    model, so that training and serving fill the same gaps with the same numbers."""
    out = {}
    for col in MODEL_FEATURES:
        value = DEFAULTS[col]
        if col == "category_affinity":
            value = 1.0 / n_categories
        elif np.isnan(value):
            value = float(x[col].median()) if col in x and x[col].notna().any() else 0.0
        out[col] = float(value)
    return out


def fill_defaults(x: pd.DataFrame, defaults: dict[str, float]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The model inputs as float64, missing values filled; also the counts filled per column."""
    x = x[MODEL_FEATURES].astype(np.float64)
    filled = {c: int(n) for c, n in x.isna().sum().items()}
    return x.fillna(defaults), filled
