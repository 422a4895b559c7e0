"""Request-time features, computed the same way in training (Feast on-demand view) and in
serving, plus the documented defaults for values an entity does not have yet."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma

from newsrec.features.spec import MODEL_FEATURES

# What a missing value means, and the value it gets (counted and logged where it happens):
# a user with no row yet is a new user, an article without stats has not been shown yet.
DEFAULTS: dict[str, float] = {
    "history_len": 0,
    "user_imps_1d": 0,
    "user_clicks_1d": 0,
    "user_imps_7d": 0,
    "user_clicks_7d": 0,
    "news_imps": 0,
    "news_clicks": 0,
    "news_imps_1d": 0,
    "news_clicks_1d": 0,
    "news_ctr": np.nan,
    "news_quality": np.nan,  # filled with the column's median (a global prior)
    "freshness_hours": np.nan,  # filled with the median age: an article Feast knows nothing about
    "category_affinity": np.nan,  # filled with 1 / number of categories: no preference known
    "content_similarity": 0.0,  # no history, no similarity
    "user_cands_7d": 0,
    "category_idx": np.nan,  # an article Feast knows nothing about: the last category, `other`
    "news_imps_6h": 0,
    "news_clicks_6h": 0,
    "news_imps_1h": 0,
    "news_clicks_1h": 0,
    "news_ctr_6h": np.nan,
    "news_ctr_1h": np.nan,
    "user_ctr": np.nan,  # no user row: the median reader's
    "category_clicks_1d": 0.0,
    "category_ctr_1d": np.nan,
    "category_elog": np.nan,
    "fresh_rank": np.nan,
    "fresh_gap": np.nan,
    "pop_rank": np.nan,
    "pop_gap": np.nan,
}
DEFAULTS = {c: DEFAULTS[c] for c in MODEL_FEATURES}  # in the model's order
# user_ctr: clicks per candidate shown, smoothed as if the user had this many clicks in this many candidates more
USER_CTR_PRIOR = (1.0, 20.0)
# category_ctr_1d: the user's own rate weighs as this many candidates of the category
CATEGORY_CTR_PRIOR = 5.0
# category_elog: the Dirichlet prior's pseudo-clicks, spread evenly over the categories
CATEGORY_PRIOR = 2.0


def request_features(df: pd.DataFrame) -> pd.DataFrame:
    """freshness_hours, category_affinity and content_similarity from the user's and the
    article's features and the request time (epoch seconds). Vectorised: one call scores a
    request's candidates in serving and a whole training set in Feast."""
    return pd.DataFrame(request_arrays({c: df[c].to_numpy() for c in REQUEST_INPUTS}), index=df.index)


REQUEST_INPUTS = (
    "request_time",
    "first_seen_ts",
    "category_idx",
    "user_aff",
    "user_emb",
    "news_emb",
    "user_clicks_7d",
    "user_cands_7d",
    "user_cat_hist",
    "user_cat_clicks_1d",
    "user_cat_imps_1d",
)


def request_arrays(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`request_features` on columns as arrays (REQUEST_INPUTS): the request path's form."""
    age = (floats(x["request_time"]) - floats(x["first_seen_ts"])) / 3600.0
    cat = floats(x["category_idx"])
    aff = _pick(np.asarray(x["user_aff"], dtype=object), cat)
    in_cat = _pick(np.asarray(x["user_cat_hist"], dtype=object), cat)
    clicks = _pick(np.asarray(x["user_cat_clicks_1d"], dtype=object), cat)
    shown = _pick(np.asarray(x["user_cat_imps_1d"], dtype=object), cat)
    day_clicks = _sums(np.asarray(x["user_cat_clicks_1d"], dtype=object))
    n_cats = _lengths(np.asarray(x["user_cat_hist"], dtype=object)).astype(np.float64)
    n_cats[n_cats <= 0] = np.nan
    a, m = USER_CTR_PRIOR
    user_ctr = (floats(x["user_clicks_7d"]) + a) / (floats(x["user_cands_7d"]) + m)
    # the history's clicks in the category, then the last day's on top
    known = _sums(np.asarray(x["user_cat_hist"], dtype=object))
    alpha = CATEGORY_PRIOR / n_cats
    return {
        "freshness_hours": np.clip(age, 0.0, None),
        "category_affinity": aff,
        "content_similarity": _dots(np.asarray(x["user_emb"], dtype=object), np.asarray(x["news_emb"], dtype=object)),
        "user_ctr": user_ctr,
        "category_clicks_1d": clicks,
        "category_ctr_1d": (clicks + CATEGORY_CTR_PRIOR * user_ctr) / (shown + CATEGORY_CTR_PRIOR),
        "category_elog": digamma(alpha + in_cat + clicks) - digamma(CATEGORY_PRIOR + known + day_clicks),
    }


def _sums(values: np.ndarray) -> np.ndarray:
    """The sum of each vector; NaN where there is none."""
    out = np.full(len(values), np.nan)
    if (one := _same(values)) is not None:
        out[:] = one.sum()
        return out
    lengths = _lengths(values)
    for n in np.unique(lengths[lengths >= 0]):
        rows = np.flatnonzero(lengths == n)
        out[rows] = np.vstack(values[rows]).astype(np.float64).sum(axis=1) if n else 0.0
    return out


def floats(s) -> np.ndarray:
    """float64, missing values (None, pd.NA) as NaN."""
    if isinstance(s, pd.Series):
        return s.to_numpy(np.float64, na_value=np.nan)
    a = np.asarray(s)
    return (
        a.astype(np.float64)
        if a.dtype != object
        else pd.array(a, dtype="Float64").to_numpy(np.float64, na_value=np.nan)
    )


def _lengths(values: np.ndarray) -> np.ndarray:
    """The length of each vector; -1 where there is none (None or a NaN filled in)."""
    return np.fromiter((-1 if v is None or isinstance(v, float) else len(v) for v in values), np.int64, len(values))


def _same(values: np.ndarray) -> np.ndarray | None:
    """The one vector every row holds, as float64 (serving puts the user's vector in each
    candidate's row: one object), else None. The request path's shortcut: the same values."""
    first = values[0] if len(values) else None
    if first is None or isinstance(first, float) or any(v is not first for v in values):
        return None
    return np.asarray(first, dtype=np.float64)


def _pick(aff: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """aff[i][idx[i]]: the user's affinity for the article's category; NaN where unknown."""
    out = np.full(len(aff), np.nan)
    if (one := _same(aff)) is not None:
        ok = ~np.isnan(idx)
        ok[ok] &= (idx[ok] >= 0) & (idx[ok] < len(one))
        out[ok] = one[idx[ok].astype(np.int64)]
        return out
    lengths = _lengths(aff)
    ok = (lengths > 0) & ~np.isnan(idx)
    ok[ok] &= (idx[ok] >= 0) & (idx[ok] < lengths[ok])
    for n in np.unique(lengths[ok]):
        rows = np.flatnonzero(ok & (lengths == n))
        table = np.vstack(aff[rows]).astype(np.float64)
        out[rows] = table[np.arange(len(rows)), idx[rows].astype(np.int64)]
    return out


def _dots(users: np.ndarray, news: np.ndarray) -> np.ndarray:
    """The dot product of each pair of vectors; NaN where one is missing or sizes differ."""
    out = np.full(len(users), np.nan)
    if (one := _same(users)) is not None:  # one user's vector against each article's
        ln = _lengths(news)
        rows = np.flatnonzero(ln == len(one))
        if len(rows):
            out[rows] = np.vstack(news[rows]).astype(np.float64) @ one if len(one) else 0.0
        return out
    lu, ln = _lengths(users), _lengths(news)
    ok = (lu >= 0) & (lu == ln)
    for n in np.unique(lu[ok]):
        rows = np.flatnonzero(ok & (lu == n))
        if n == 0:
            out[rows] = 0.0
            continue
        u = np.vstack(users[rows]).astype(np.float64)
        v = np.vstack(news[rows]).astype(np.float64)
        out[rows] = np.einsum("ij,ij->i", u, v)
    return out


def fit_defaults(x: pd.DataFrame, n_categories: int) -> dict[str, float]:
    """The fill value of every model input, fixed on the training data and kept with the
    model, so that training and serving fill the same gaps with the same numbers."""
    out = {}
    for col in MODEL_FEATURES:
        value = DEFAULTS[col]
        if col == "category_affinity":
            value = 1.0 / n_categories
        elif col == "category_idx":
            value = float(n_categories - 1)  # `other`, the category of an undescribed article
        elif np.isnan(value):
            value = float(x[col].median()) if col in x and x[col].notna().any() else 0.0
        out[col] = float(value)
    return out


def fill_defaults(x: pd.DataFrame, defaults: dict[str, float]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The model inputs as float64, missing values filled; also the counts filled per column."""
    values, filled = fill_matrix(x[MODEL_FEATURES].to_numpy(np.float64, na_value=np.nan, copy=True), defaults)
    return pd.DataFrame(values, index=x.index, columns=MODEL_FEATURES), filled


def fill_matrix(values: np.ndarray, defaults: dict[str, float]) -> tuple[np.ndarray, dict[str, int]]:
    """`fill_defaults` in place on a float64 matrix whose columns are MODEL_FEATURES."""
    missing = np.isnan(values)
    fill = np.array([defaults[c] for c in MODEL_FEATURES])
    values[missing] = np.broadcast_to(fill, values.shape)[missing]
    return values, dict(zip(MODEL_FEATURES, missing.sum(axis=0).tolist()))
