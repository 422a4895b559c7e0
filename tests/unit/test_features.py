"""Point-in-time correctness of the feature tables, checked on random data: changing
anything after a cut-off time must not change any row stamped at or before it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma

from newsrec.config import Features
from newsrec.features.build import build_features
from newsrec.features.request import fill_defaults, fit_defaults, request_features
from newsrec.features.spec import MODEL_FEATURES

CATS = ["news", "sports", "finance", "other"]
START = pd.Timestamp("2026-11-02", tz="UTC")
WORDS = "storm vote goal stocks recipe film trial senate league market".split()


def random_tables(seed: int, n_imps: int = 80, days: float = 3.0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"N{i}" for i in range(15)]
    times = START + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n_imps)).round(), unit="s")
    hist_rows, imp_rows, fb_rows = [], [], []
    for i, t in enumerate(times):
        user = f"U{rng.integers(6)}"
        cands = rng.choice(ids, rng.integers(2, 6), replace=False)
        clicks = (rng.random(len(cands)) < 0.3).astype(int)
        hist = list(rng.choice(ids, rng.integers(0, 5), replace=False))
        hist_rows.append((i, i, user, t, hist, len(cands), int(clicks.sum()), "train"))
        for j, (n, c) in enumerate(zip(cands, clicks)):
            imp_rows.append((i, user, t, n, j, c, "train"))
            if c and rng.random() < 0.6:
                fb_rows.append(
                    (i, user, n, t + pd.Timedelta(minutes=int(rng.integers(1, 90))), int(rng.integers(1, 6)))
                )
    imps = pd.DataFrame(
        imp_rows, columns=["impression_id", "user_id", "time", "news_id", "position", "clicked", "split"]
    )
    hist = pd.DataFrame(
        hist_rows,
        columns=[
            "impression_id",
            "raw_impression_id",
            "user_id",
            "time",
            "history",
            "n_candidates",
            "n_clicks",
            "split",
        ],
    )
    fb = pd.DataFrame(fb_rows, columns=["impression_id", "user_id", "news_id", "time", "rating"])
    first = imps.groupby("news_id")["time"].min()
    news = pd.DataFrame(
        {
            "news_id": ids,
            "category": [CATS[i % 3] for i in range(len(ids))],
            "subcategory": "s",
            "title": [" ".join(rng.choice(WORDS, 4)) for _ in ids],
            "abstract": "",
        }
    )
    news["first_seen"] = news["news_id"].map(first)
    for df in (imps, hist, fb, news):
        for c in ("time", "first_seen"):
            if c in df:
                df[c] = pd.to_datetime(df[c], utc=True).astype("datetime64[us, UTC]")
    return {"news": news, "impressions": imps, "histories": hist, "feedback": fb}


def perturb_after(t: dict[str, pd.DataFrame], cut: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Rewrite every event strictly after `cut`: flip clicks, new ratings, and new histories
    where the snapshot (hour) of their impression begins after it: a history is what the site
    knew of the reader before the impression's day, so known in that hour (the day's profile row)."""
    t = {k: v.copy() for k, v in t.items()}
    late = t["impressions"]["time"] > cut
    t["impressions"].loc[late, "clicked"] = 1 - t["impressions"].loc[late, "clicked"]
    n = t["impressions"][late].groupby("impression_id")["clicked"].sum()
    h = t["histories"]
    late_h = h["time"] > cut
    h.loc[late_h, "n_clicks"] = h.loc[late_h, "impression_id"].map(n).fillna(0).astype(int)
    new_h = h["time"].dt.floor("h") > cut
    h.loc[new_h, "history"] = pd.Series([["N1", "N2", "N3"]] * int(new_h.sum()), index=h.index[new_h])
    late_f = t["feedback"]["time"] > cut
    t["feedback"].loc[late_f, "rating"] = 6 - t["feedback"].loc[late_f, "rating"]
    return t


def _build(t, source="ratings"):
    return build_features(
        t["news"], t["impressions"], t["histories"], t["feedback"], CATS, Features(text_dims=4, quality_source=source)
    )


def _upto(df: pd.DataFrame, cut, keys) -> pd.DataFrame:
    out = df[df["event_timestamp"] <= cut].sort_values(keys).reset_index(drop=True)
    return out.apply(
        lambda c: c.map(tuple) if c.dtype == object and len(c) and isinstance(c.iloc[0], np.ndarray) else c
    )


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.05, 0.95), source=st.sampled_from(["ratings", "ctr"]))
def test_no_value_uses_events_after_its_timestamp(seed, frac, source):
    t = random_tables(seed)
    cut = START + pd.Timedelta(days=3 * frac)
    a, b = _build(t, source), _build(perturb_after(t, cut), source)
    for name, keys in (
        ("users", ["user_id", "event_timestamp", "history_len"]),
        ("news_meta", ["news_id"]),
        ("news_stats", ["news_id", "event_timestamp"]),
    ):
        pd.testing.assert_frame_equal(_upto(getattr(a, name), cut, keys), _upto(getattr(b, name), cut, keys))


def test_values_match_a_direct_count():
    t = random_tables(3)
    f = _build(t)
    imps, hist = t["impressions"], t["histories"]
    for _, row in f.users.sample(20, random_state=0).iterrows():
        mine = hist[
            (hist["user_id"] == row["user_id"])
            & (hist["time"] < row["event_timestamp"])
            & (hist["time"] >= row["event_timestamp"] - pd.Timedelta(days=1))
        ]
        assert row["user_imps_1d"] == len(mine) and row["user_clicks_1d"] == mine["n_clicks"].sum()
    for _, row in f.news_stats.sample(20, random_state=0).iterrows():
        mine = imps[(imps["news_id"] == row["news_id"]) & (imps["time"] < row["event_timestamp"])]
        assert row["news_imps"] == len(mine) and row["news_clicks"] == mine["clicked"].sum()
    assert (
        f.news_meta["event_timestamp"] == f.news_meta["news_id"].map(t["news"].set_index("news_id")["first_seen"])
    ).all()


def test_quality_falls_back_to_ctr_without_ratings():
    t = random_tables(5)
    t["feedback"] = t["feedback"].iloc[0:0]
    f = build_features(t["news"], t["impressions"], t["histories"], t["feedback"], CATS, Features(text_dims=4))
    assert f.quality_source == "ctr" and f.news_stats["news_quality"].between(0, 1).all()


def test_no_histories_gives_empty_user_rows_and_the_news_tables_unchanged():
    t = random_tables(6)
    full = _build(t)
    t["histories"] = t["histories"].iloc[0:0]
    f = _build(t)
    assert len(f.users) == 0 and list(f.users.columns) == list(full.users.columns)
    pd.testing.assert_frame_equal(f.news_stats, full.news_stats)


def test_request_features_and_defaults():
    df = pd.DataFrame(
        {
            "request_time": [7200.0, 0.0],
            "first_seen_ts": [0.0, 3600.0],
            "user_aff": [np.array([0.2, 0.8], np.float32), None],
            "category_idx": [1, 0],
            "user_emb": [np.array([1.0, 0.0]), None],
            "news_emb": [np.array([0.6, 0.8]), np.array([1.0, 0])],
            "user_clicks_7d": [3, np.nan],
            "user_cands_7d": [40, np.nan],
            "user_cat_hist": [np.array([1.0, 3.0], np.float32), None],
            "user_cat_clicks_1d": [np.array([0.0, 2.0], np.float32), None],
            "user_cat_imps_1d": [np.array([1.0, 5.0], np.float32), None],
        }
    )
    r = request_features(df)
    assert r["user_ctr"].iloc[0] == pytest.approx(4 / 60) and np.isnan(r["user_ctr"].iloc[1])
    assert r["category_clicks_1d"].iloc[0] == 2.0 and r["category_ctr_1d"].iloc[0] == pytest.approx((2 + 5 / 15) / 10)
    # Dirichlet(1, 1) + 1 and 3 clicks + 0 and 2 more: E[log share of category 1] = psi(6) - psi(8)
    assert r["category_elog"].iloc[0] == pytest.approx(digamma(6) - digamma(8))
    assert r["freshness_hours"].tolist() == [2.0, 0.0]  # never negative
    assert r["category_affinity"].iloc[0] == pytest.approx(0.8) and np.isnan(r["category_affinity"].iloc[1])
    assert r["content_similarity"].iloc[0] == pytest.approx(0.6) and np.isnan(r["content_similarity"].iloc[1])
    x = pd.concat([pd.DataFrame({c: [1.0, np.nan] for c in MODEL_FEATURES if c not in r}), r], axis=1)
    d = fit_defaults(x, n_categories=4)
    filled, counts = fill_defaults(x, d)
    assert not filled.isna().any().any()
    assert filled["category_affinity"].iloc[1] == 0.25 and filled["content_similarity"].iloc[1] == 0.0
    assert d["category_idx"] == 3  # an article without metadata: `other`, the last of the 4 categories
    assert counts["news_ctr"] == 1 and counts["freshness_hours"] == 0


def _row_pick(aff, i):
    if aff is None or isinstance(aff, float) or i is None or np.isnan(i) or not 0 <= int(i) < len(aff):
        return np.nan
    return float(aff[int(i)])


def _row_dot(u, n):
    if u is None or n is None or isinstance(u, float) or isinstance(n, float) or len(u) != len(n):
        return np.nan
    return float(np.dot(np.asarray(u, np.float64), np.asarray(n, np.float64)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_vectorised_request_features_equal_the_row_by_row_definition(seed):
    """Missing vectors, NaN filled in, unknown or out-of-range categories, differing sizes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))

    def vec():
        kind = rng.integers(0, 6)
        return None if kind == 0 else np.nan if kind == 1 else rng.normal(size=int(rng.choice([0, 3, 4])))

    def counts():  # per category, as the user view holds them: all of one user's vectors have its length
        kind = rng.integers(0, 6)
        return None if kind == 0 else rng.integers(0, 5, size=4).astype(np.float32)

    df = pd.DataFrame(
        {
            "request_time": rng.uniform(0, 1e6, n),
            "first_seen_ts": rng.uniform(0, 1e6, n),
            "user_aff": [vec() for _ in range(n)],
            "category_idx": pd.array(
                [None if rng.random() < 0.2 else int(rng.integers(-1, 5)) for _ in range(n)], dtype="Int64"
            ),
            "user_emb": [vec() for _ in range(n)],
            "news_emb": [vec() for _ in range(n)],
            "user_clicks_7d": [np.nan if rng.random() < 0.2 else float(rng.integers(0, 9)) for _ in range(n)],
            "user_cands_7d": [np.nan if rng.random() < 0.2 else float(rng.integers(0, 90)) for _ in range(n)],
            "user_cat_hist": [counts() for _ in range(n)],
            "user_cat_clicks_1d": [counts() for _ in range(n)],
            "user_cat_imps_1d": [counts() for _ in range(n)],
        }
    )
    r = request_features(df)
    idx = df["category_idx"].to_numpy(np.float64, na_value=np.nan)
    for i, row in df.iterrows():
        ctr = (row["user_clicks_7d"] + 1) / (row["user_cands_7d"] + 20)
        hist, day, shown = (row[c] for c in ("user_cat_hist", "user_cat_clicks_1d", "user_cat_imps_1d"))
        clicks, seen, mine = _row_pick(day, idx[i]), _row_pick(shown, idx[i]), _row_pick(hist, idx[i])
        k = len(hist) if _row_pick(hist, 0) == _row_pick(hist, 0) else np.nan
        total = (
            float(np.sum(hist)) + float(np.sum(day)) if k == k and _row_pick(day, 0) == _row_pick(day, 0) else np.nan
        )
        elog = digamma(2 / k + mine + clicks) - digamma(2 + total) if k == k else np.nan
        np.testing.assert_allclose(r["user_ctr"][i], ctr, rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(r["category_clicks_1d"][i], clicks, equal_nan=True)
        np.testing.assert_allclose(r["category_ctr_1d"][i], (clicks + 5 * ctr) / (seen + 5), rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(r["category_elog"][i], elog, rtol=1e-9, atol=1e-12, equal_nan=True)
    want_aff = [_row_pick(a, i) for a, i in zip(df["user_aff"], idx)]
    want_dot = [_row_dot(u, v) for u, v in zip(df["user_emb"], df["news_emb"])]
    np.testing.assert_allclose(r["category_affinity"], want_aff, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(r["content_similarity"], want_dot, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert (r["freshness_hours"] >= 0).all() and list(r.index) == list(df.index)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lo=st.floats(0.0, 0.9),
    width=st.floats(0.01, 1.0),
    source=st.sampled_from(["ratings", "ctr"]),
)
def test_a_window_gives_exactly_the_full_tables_rows_in_it(seed, lo, width, source):
    """What moving the online store forward builds (rows in (lo, hi]) is the full build's rows there."""
    t = random_tables(seed)
    window = (START + pd.Timedelta(days=3 * lo), START + pd.Timedelta(days=3 * min(lo + width, 1.0)))
    full = _build(t, source)
    part = build_features(
        t["news"],
        t["impressions"],
        t["histories"],
        t["feedback"],
        CATS,
        Features(text_dims=4, quality_source=source),
        window=window,
    )
    for name, keys in (
        ("users", ["user_id", "event_timestamp", "history_len"]),
        ("news_meta", ["news_id"]),
        ("news_stats", ["news_id", "event_timestamp"]),
    ):
        f = getattr(full, name)
        inside = f[(f["event_timestamp"] > window[0]) & (f["event_timestamp"] <= window[1])]
        pd.testing.assert_frame_equal(_upto(inside, window[1], keys), _upto(getattr(part, name), window[1], keys))


def test_articles_missing_from_the_news_table_get_the_same_engagement_and_default_metadata():
    """A metadata feed lagging the log: the news table describes a third of the articles.
    Every impressed article still gets its engagement rows, equal to those it gets when
    described; its metadata takes the defaults (category `other`, a zero title vector)."""
    t = random_tables(7)
    full = _build(t)
    t["news"] = t["news"].iloc[:5]
    part = _build(t)
    shown = set(t["impressions"]["news_id"])
    missing = shown - set(t["news"]["news_id"])
    assert part.undescribed == len(missing) > 0 and full.undescribed == 0
    assert set(part.news_stats["news_id"]) == set(full.news_stats["news_id"]) == shown
    key = ["news_id", "event_timestamp"]
    pd.testing.assert_frame_equal(
        part.news_stats.sort_values(key).reset_index(drop=True), full.news_stats.sort_values(key).reset_index(drop=True)
    )
    meta = part.news_meta.set_index("news_id")
    assert set(meta.index) == shown
    undescribed = meta.loc[sorted(missing)]
    assert (undescribed["category_idx"] == CATS.index("other")).all()
    assert all(not np.any(v) for v in undescribed["news_emb"])
    first = t["impressions"].groupby("news_id")["time"].min()
    assert (undescribed["event_timestamp"] == first[sorted(missing)].to_numpy()).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_one_users_vectors_shared_by_every_row_give_what_copies_give(seed):
    """Serving puts the user's vectors in every candidate's row as one object (the request
    path's shortcut in request_arrays): the same values as a row of its own each."""
    from newsrec.features.request import REQUEST_INPUTS, request_arrays

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 30)), int(rng.integers(0, 6))
    user = {c: rng.integers(0, 4, k).astype(np.float32) for c in ("user_aff", "user_cat_hist")}
    user |= {c: rng.integers(0, 4, k).astype(np.float32) for c in ("user_cat_clicks_1d", "user_cat_imps_1d")}
    user["user_emb"] = rng.normal(size=3).astype(np.float32)
    x = {
        "request_time": rng.uniform(0, 1e6, n),
        "first_seen_ts": rng.uniform(0, 1e6, n),
        "category_idx": np.where(rng.random(n) < 0.2, np.nan, rng.integers(-1, k + 1, n)),
        "news_emb": np.empty(n, dtype=object),
        "user_clicks_7d": np.full(n, 3.0),
        "user_cands_7d": np.full(n, 40.0),
    }
    for i in range(n):
        x["news_emb"][i] = None if rng.random() < 0.2 else rng.normal(size=3)
    shared, copies = dict(x), dict(x)
    for c, v in user.items():
        shared[c] = np.empty(n, dtype=object)
        shared[c].fill(v)
        copies[c] = np.empty(n, dtype=object)
        for i in range(n):
            copies[c][i] = v.copy()
    assert set(REQUEST_INPUTS) <= set(shared)
    a, b = request_arrays(shared), request_arrays(copies)
    for c in a:
        np.testing.assert_allclose(a[c], b[c], rtol=1e-12, atol=1e-12, equal_nan=True, err_msg=c)
