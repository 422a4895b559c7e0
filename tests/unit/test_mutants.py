"""Tests that kill the mutants that survived mutmut over ranking, metrics, gates,
features/ and recommend. Every expected value is worked out by hand in the comments."""

from __future__ import annotations

import math
import time
import warnings
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from serving_fixture import DEFAULTS, NEWS, NOW, USER, ranker

from newsrec.config import Features, Monitor, Promote
from newsrec.contracts import Check, CheckResult
from newsrec.drift import DriftSummary
from newsrec.features.build import build_features
from newsrec.features.content import title_embeddings, unit
from newsrec.features.request import fill_defaults, fit_defaults, request_features
from newsrec.features.spec import META_VIEW, MODEL_FEATURES, STATS_VIEW, USER_VIEW
from newsrec.features.windows import trailing_sums
from newsrec.gates import drift_decision, promotion_decision, validation_decision
from newsrec.metrics import auc, mrr, ndcg, ranking_metrics
from newsrec.ranking import minmax, popularity, rank_within, realised
from newsrec.recommend import RecommendRequest, score_candidates

# ----------------------------------------------------------------------------- gates


def _failed_check(n_examples: int) -> CheckResult:
    return CheckResult(
        Check("news", "ExpectColumnValuesToBeUnique", {"column": "news_id"}, "ids are unique"),
        False,
        6,
        50.0,
        examples=list(range(1, n_examples + 1)),
    )


def test_validation_with_no_checks_fails_and_says_so():
    d = validation_decision([])
    assert d.ok is False and len(d.reasons) == 1 and "no contract checks ran" in d.reasons[0].lower()


def test_validation_failure_shows_at_most_the_asked_examples():
    d = validation_decision([_failed_check(6)])
    assert d.ok is False and d.reasons[0].endswith("e.g. 1, 2, 3, 4, 5")  # default 5 of the 6
    assert validation_decision([_failed_check(6)], examples=2).reasons[0].endswith("e.g. 1, 2")


def test_validation_pass_counts_the_checks():
    ok = CheckResult(Check("news", "ExpectColumnToExist", {"column": "news_id"}), True)
    d = validation_decision([ok, ok])
    assert d.ok is True and len(d.reasons) == 1 and "all 2 contract checks passed" in d.reasons[0]


POP = {"ndcg@10": 0.40}


def test_promotion_missing_metric_is_false():
    assert promotion_decision({}, None, POP, Promote()).ok is False


def test_promotion_margins_are_strict():
    assert not promotion_decision({"ndcg@10": 0.40}, None, POP, Promote()).ok  # gain 0.0, needs > 0.0
    assert not promotion_decision({"ndcg@10": 0.50}, {"ndcg@10": 0.50}, POP, Promote()).ok  # tie with the champion


def test_promotion_champion_reason_says_whether_it_beats():
    win = promotion_decision({"ndcg@10": 0.52}, {"ndcg@10": 0.50}, POP, Promote()).reasons[1].lower()
    lose = promotion_decision({"ndcg@10": 0.48}, {"ndcg@10": 0.50}, POP, Promote()).reasons[1].lower()
    assert "does not beat" not in win and "does not beat" in lose


MON = Monitor(
    features=["news_ctr", "category_affinity", "freshness_hours", "content_similarity"],
    min_rows=100,
    drift_threshold=0.25,
    score_drift_threshold=0.25,
    max_auc_drop=0.25,
    max_ndcg_drop=0.25,
)
CALM = dict.fromkeys(MON.features, 0.0)
REF = {"auc": 0.75, "ndcg@10": 0.75}


def _summary(features=CALM, score=0.0, rows=None, cur=REF) -> DriftSummary:
    return DriftSummary(
        window=["2026-11-09"],
        model_version="3",
        rows={"current": 5000} if rows is None else rows,
        feature_drift=dict(features),
        score_drift=score,
        performance={"reference": REF, "current": cur},
    )


def test_drift_window_sizes():
    d = drift_decision(_summary(rows={}), MON)  # no "current" count at all: no traffic
    assert d.retrain is False and "no traffic" in d.reasons[0].lower()
    assert drift_decision(_summary(rows={"current": 50}, score=9.0), MON).retrain is False  # 50 < min_rows
    assert drift_decision(_summary(rows={"current": 100}, score=9.0), MON).retrain  # 100 == min_rows: judged


def test_drift_names_the_drifted_features_worst_first():
    d = drift_decision(_summary({**CALM, "news_ctr": 0.5, "category_affinity": 0.375}), MON)  # 2/4 = 50%
    line = d.reasons[0]
    assert d.retrain and line.index("news_ctr 0.500") < line.index("category_affinity 0.375")


def test_drift_thresholds_are_strict():
    d = drift_decision(_summary({**CALM, "news_ctr": 0.25, "category_affinity": 0.25}), MON)
    assert not d.retrain and any("0/4 gated features drift" in r for r in d.reasons)
    assert not drift_decision(_summary(score=0.25), MON).retrain  # score drift == threshold


def test_drift_without_gated_features_and_the_calm_line():
    d = drift_decision(_summary({"user_imps_7d": 0.9}), MON)  # nothing gated was measured
    assert not d.retrain and any("0/0 gated features drift (0%" in r for r in d.reasons)
    calm = next(r for r in drift_decision(_summary(), MON).reasons if "gated features drift" in r)
    assert not calm.rstrip().endswith(":")  # no list of drifted features to introduce
    assert any("engagement score drift 0.000" in r for r in drift_decision(_summary(), MON).reasons)


def test_drift_performance_skips_unusable_metrics_and_checks_the_rest():
    d = drift_decision(_summary(cur={"auc": float("nan"), "ndcg@10": 0.25}), MON)  # auc skipped, ndcg drop 0.5
    assert d.retrain and not any(r.split(": ", 1)[1].startswith("auc") for r in d.reasons)
    d = drift_decision(_summary(cur={"ndcg@10": 0.75}), MON)  # auc missing from the window
    assert not d.retrain
    d = drift_decision(_summary(cur={"auc": 0.5, "ndcg@10": 0.75}), MON)  # drop 0.75 - 0.5 = 0.25 == allowed
    line = next(r for r in d.reasons if "auc 0.5000" in r)
    assert not d.retrain and "drop +0.2500" in line
    d = drift_decision(_summary(cur=None), MON)
    assert any("clicks of the window not known yet" in r.lower() for r in d.reasons)


# ----------------------------------------------------------------------------- metrics


def test_auc_skips_an_all_clicked_impression_even_with_a_nan_score():
    # impression 1 has no negative (skipped); impression 2: the click scores above the non-click -> 1.0
    assert auc([1, 1, 2, 2], [1, 1, 1, 0], [np.nan, 0.5, 0.9, 0.1]) == 1.0


def test_mrr_single_click_and_no_click():
    assert mrr([1, 1], [1, 0], [0.1, 0.9]) == pytest.approx(0.5)  # the one click at rank 2
    assert math.isnan(mrr([1, 1], [0, 0], [0.1, 0.2]))  # no impression has a click


def test_ndcg_uses_exponential_gains_for_graded_labels():
    # ranking: y=1 (gain 1) at rank 1, y=2 (gain 3) at rank 2; ideal: gain 3 first
    want = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert ndcg([1, 1], [1, 2], [0.9, 0.1], 10) == pytest.approx(want)


def test_ranking_metrics_keys_and_per_impression_values():
    m = ranking_metrics([1, 1, 2, 2], [1, 0, 0, 1], [0.9, 0.1, 0.9, 0.1])
    assert set(m) == {"auc", "mrr", "ndcg@5", "ndcg@10"}
    assert m["mrr"] == pytest.approx((1 + 1 / 2) / 2)  # click first, then click second
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3)) / 2)


def test_ranking_metrics_cut_off_at_5_and_10():
    # one impression of 12, clicks at ranks 6 and 11; ideal dcg = 1 + 1/log2(3)
    y = [0] * 12
    y[5] = y[10] = 1
    m = ranking_metrics([1] * 12, y, np.linspace(1, 0, 12))
    best = 1 + 1 / math.log2(3)
    assert m["ndcg@5"] == 0.0 and m["ndcg@10"] == pytest.approx((1 / math.log2(7)) / best)


# ----------------------------------------------------------------------------- ranking


def test_popularity_treats_missing_counts_as_zero():
    np.testing.assert_allclose(popularity([3, None, 1.0], [None, 2, np.nan]), [3.0, 2e-6, 1.0], rtol=0, atol=1e-12)


def test_rank_within_missing_values_and_large_ties():
    np.testing.assert_array_equal(rank_within([0.2, None, 0.5]), [2, np.nan, 1])
    v = np.repeat([1.0, 2.0], 50)  # long runs of ties keep their input order
    np.testing.assert_array_equal(rank_within(v), np.r_[np.arange(51, 101), np.arange(1, 51)])


def test_rank_within_a_missing_value_never_takes_a_rank_from_minus_infinity():
    # the one list and the grouped path agree: NaN is unranked, -inf is the last real rank
    v = [np.nan, -np.inf, 0.3]
    np.testing.assert_array_equal(rank_within(v), [np.nan, 2, 1])
    np.testing.assert_array_equal(rank_within(v), rank_within(v, [0, 0, 0]))


def test_minmax_flat_lists_are_one_half_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(minmax([2.0, 2.0], None), [0.5, 0.5])
        np.testing.assert_array_equal(minmax([7.0, 7.0, 1.0, 3.0], [1, 1, 2, 2]), [0.5, 0.5, 0.0, 1.0])


def test_realised_skips_missing_values():
    assert realised([0.9, 0.1], [1, 1], {"quality": [None, 0.5]}, 2) == {"quality@2": 0.5}


# ----------------------------------------------------------------------------- recommend


_ranker = ranker


def test_score_candidates_does_not_call_the_model_on_no_rows():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((20, len(MODEL_FEATURES))), np.arange(20) % 2)
    x = pd.DataFrame({c: pd.Series([], dtype=float) for c in MODEL_FEATURES})
    e, q, s = score_candidates(model, DEFAULTS, x, None, 0.2, 0.8)  # sklearn refuses 0 samples
    assert len(e) == len(q) == len(s) == 0


def test_features_are_one_row_per_candidate_in_its_order():
    x = _ranker().features(USER, NEWS, NOW)
    assert {len(v) for v in x.values()} == {len(NEWS)}
    np.testing.assert_array_equal(x["first_seen_ts"], NEWS["first_seen_ts"].to_numpy())
    np.testing.assert_array_equal(x["request_time"], np.full(len(NEWS), NOW.timestamp()))


def test_scored_rows_have_the_prediction_log_columns():
    rec, scored = _ranker().recommend(RecommendRequest(user_id="U1", k=2, request_time=NOW), USER, NEWS, [])
    scored = scored.frame()
    assert list(scored.columns) == MODEL_FEATURES + [
        "news_id",
        "engagement",
        "quality",
        "score",
        "rank",
        "shown",
        "request_id",
        "user_id",
        "request_time",
        "model_version",
        "fallback",
        "features_as_of",
    ]
    assert scored["features_as_of"].isna().all()  # no store time given: NaT, not a made-up time
    assert str(scored["features_as_of"].dtype) == "datetime64[ns, UTC]"
    assert str(scored["request_time"].dtype) == "datetime64[us, UTC]"
    as_of = pd.Timestamp(NOW) - pd.Timedelta(minutes=30)
    rec2, scored2 = _ranker().recommend(RecommendRequest(user_id="U1", request_time=NOW), USER, NEWS, [], as_of)
    assert rec2.features_as_of == as_of and (scored2.frame()["features_as_of"] == as_of).all()
    # engagement = ctr (0.3, 0.1, 0.2): ranks 1, 3, 2; the top 2 are shown
    assert scored["rank"].dtype == np.int64 and scored["rank"].tolist() == [1, 3, 2]
    assert scored["shown"].tolist() == [True, False, True]
    assert (scored["request_time"] == pd.Timestamp(NOW)).all()
    assert rec.fallback_reason is None  # a known user: no fallback, no reason


def test_request_times_in_other_zones_naive_and_missing():
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))  # 21:00+09:00, the same instant
    rec, scored = _ranker().recommend(RecommendRequest(user_id="U1", request_time=tokyo), USER, NEWS, [])
    assert rec.request_time == NOW and scored.frame()["freshness_hours"].tolist() == pytest.approx([1.0] * 3)
    rec, _ = _ranker().recommend(RecommendRequest(user_id="U1", request_time=NOW.replace(tzinfo=None)), USER, NEWS, [])
    assert rec.request_time.tzinfo is not None and rec.request_time == NOW  # naive is read as UTC


def test_no_request_time_means_now_in_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        rec, _ = _ranker().recommend(RecommendRequest(user_id="U1"), USER, NEWS, [])
        assert abs((rec.request_time - datetime.now(UTC)).total_seconds()) < 60
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_nan_score_is_ranked_last():
    news = NEWS.assign(news_quality=[np.inf, 0.2, 0.5])  # quality scaled: inf/inf -> NaN, 0, 0
    with np.errstate(invalid="ignore"):
        rec, scored = _ranker(0.0, 1.0).recommend(RecommendRequest(user_id="U1", request_time=NOW), USER, news, [])
    assert [i.news_id for i in rec.items] == ["N2", "N3", "N1"] and scored.frame()["rank"].tolist() == [3, 1, 2]


# ----------------------------------------------------------------------------- features/request


def test_request_features_with_one_long_vectors_and_a_missing_category():
    df = pd.DataFrame(
        {
            "request_time": [7200.0, 7200.0],
            "first_seen_ts": [0.0, 0.0],
            "user_aff": [np.array([0.7]), np.array([0.7])],
            "category_idx": pd.Series([0, pd.NA], dtype=object),  # as Ranker.features builds it
            "user_emb": [np.array([2.0]), None],
            "news_emb": [np.array([3.0]), np.array([3.0])],
            "user_clicks_7d": [1, 1],
            "user_cands_7d": [19, 19],
            "user_cat_hist": [np.array([3.0])] * 2,
            "user_cat_clicks_1d": [np.array([1.0])] * 2,
            "user_cat_imps_1d": [np.array([2.0])] * 2,
        }
    )
    r = request_features(df)
    np.testing.assert_array_equal(r["category_affinity"], [0.7, np.nan])
    np.testing.assert_array_equal(r["content_similarity"], [6.0, np.nan])  # 2 * 3; no user vector
    np.testing.assert_allclose(r["user_ctr"], [2 / 39] * 2)  # (1 + 1) / (19 + 20)
    np.testing.assert_array_equal(r["category_clicks_1d"], [1.0, np.nan])
    np.testing.assert_allclose(r["category_ctr_1d"], [(1 + 5 * 2 / 39) / (2 + 5), np.nan])
    np.testing.assert_allclose(r["category_elog"], [0.0, np.nan], atol=1e-12)  # one category: log 1


def test_fit_defaults_medians_and_all_missing_columns():
    x = pd.DataFrame({c: [np.nan] * 3 for c in MODEL_FEATURES if c != "freshness_hours"})
    x["news_ctr"] = [0.1, 0.3, np.nan]
    d = fit_defaults(x, n_categories=4)
    assert d["news_ctr"] == pytest.approx(0.2)  # median of 0.1, 0.3
    assert d["news_quality"] == 0.0 and d["freshness_hours"] == 0.0  # all NaN / absent -> 0.0


def test_fill_defaults_keeps_the_index():
    x = pd.DataFrame({c: [np.nan, 1.0] for c in MODEL_FEATURES}, index=["a", "b"])
    filled, counts = fill_defaults(x, dict.fromkeys(MODEL_FEATURES, 0.0))
    assert filled.index.tolist() == ["a", "b"] and filled.loc["a"].tolist() == [0.0] * len(MODEL_FEATURES)


# ----------------------------------------------------------------------------- features/windows


def _us(*s, unit="us"):
    return np.array(s, dtype=f"datetime64[{unit}]")


def test_trailing_sums_in_nanoseconds():
    t = _us("2026-01-01T00", "2026-01-01T01", "2026-01-01T03", unit="ns")
    out = trailing_sums(
        np.array([0, 0, 0]), t, np.array([1.0, 2.0, 4.0]), np.array([0]), _us("2026-01-01T02", unit="ns"), None
    )
    assert out.tolist() == [3.0]  # the events at 00:00 and 01:00


def test_trailing_sums_before_1970():
    out = trailing_sums(
        np.array([0, 0]),
        _us("1960-01-01T00", "1960-01-01T01"),
        np.array([1.0, 2.0]),
        np.array([0]),
        _us("1960-01-01T02"),
        None,
    )
    assert out.tolist() == [3.0]


def test_trailing_sums_accumulate_in_float64():
    out = trailing_sums(
        np.array([0, 0]),
        _us("2026-01-01T00", "2026-01-01T01"),
        np.array([1e8, 1.0], np.float32),
        np.array([0]),
        _us("2026-01-01T02"),
        None,
    )
    assert out.tolist() == [100_000_001.0]  # float32 would give 1e8


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("window_h", [None, 0, 5, 48])
def test_trailing_sums_match_a_brute_force_sum_in_both_packings(monkeypatch, packed, window_h):
    """Keys and microseconds packed directly, or the times ranked first (a span too long to
    pack): both give the brute-force sums, of one value column and of two at once."""
    import newsrec.features.windows as w

    monkeypatch.setattr(w, "PACK_LIMIT", 2**62 if packed else 1)
    rng = np.random.default_rng(3)
    n, nq = 400, 150
    keys, q_keys = rng.integers(0, 7, n), rng.integers(0, 8, nq)  # key 7: a query with no events
    t0 = np.datetime64("2026-01-01T00", "us")
    times = t0 + rng.integers(0, 96, n) * np.timedelta64(1, "h")  # whole hours: ties with the queries
    q_times = t0 + rng.integers(-2, 100, nq) * np.timedelta64(1, "h")
    values = np.column_stack([rng.random(n), rng.integers(0, 2, n)])
    win = None if window_h is None else np.timedelta64(window_h, "h")
    got2 = w.trailing_sums(keys, times, values, q_keys, q_times, win)
    got1 = w.trailing_sums(keys, times, values[:, 0], q_keys, q_times, win)
    for j in range(nq):
        lo = np.datetime64("1000-01-01T00", "us") if win is None else q_times[j] - win
        m = (keys == q_keys[j]) & (times < q_times[j]) & (times >= lo)
        want = values[m].sum(axis=0)
        assert got2[j] == pytest.approx(want) and got1[j] == pytest.approx(want[0])


@pytest.mark.parametrize("packed", [True, False])
def test_trailing_sums_over_several_windows_are_each_windows_own(monkeypatch, packed):
    """The events sorted once for several windows (the features' 1h, 6h, 1d and whole past)
    give each window exactly what `trailing_sums` gives it alone."""
    import newsrec.features.windows as w

    monkeypatch.setattr(w, "PACK_LIMIT", 2**62 if packed else 1)
    rng = np.random.default_rng(5)
    keys, q_keys = rng.integers(0, 9, 600), rng.integers(0, 10, 200)
    t0 = np.datetime64("2026-01-01T00", "us")
    times = t0 + rng.integers(0, 3 * 86_400, 600) * np.timedelta64(1, "s")
    q_times = t0 + rng.integers(-3_600, 4 * 86_400, 200) * np.timedelta64(1, "s")
    values = np.column_stack([np.ones(600), rng.integers(0, 2, 600)])
    windows = (None, np.timedelta64(1, "D"), np.timedelta64(6, "h"), np.timedelta64(1, "h"))
    together = w.trailing_sums_over(keys, times, values, q_keys, q_times, windows)
    for win, got in zip(windows, together, strict=True):
        assert np.array_equal(got, w.trailing_sums(keys, times, values, q_keys, q_times, win))
    assert not np.array_equal(together[0], together[3])  # the windows do differ here


# ----------------------------------------------------------------------------- features/content


def test_title_embeddings_of_no_titles():
    e = title_embeddings([], 4, 0)
    assert e.shape == (0, 4) and e.dtype == np.float32


def test_title_embeddings_keep_min_of_dims_terms_minus_1_and_titles_minus_1():
    two_terms = title_embeddings(["storm vote", "vote storm", "storm", "vote"], 4, 7)  # k = min(4, 1, 3) = 1
    assert two_terms.shape == (4, 4) and two_terms.dtype == np.float32
    assert (two_terms[:, 1:] == 0).all() and np.allclose(np.abs(two_terms[:, 0]), 1.0)
    # 3 titles, 5 terms seen twice or more: k = min(4, 4, 2) = 2
    three = title_embeddings(["storm vote goal", "vote goal market film", "storm market film goal"], 4, 7)
    assert (three[:, 2:] == 0).all() and (three[:, 1] != 0).any()
    # 5 titles, 4 terms: k = min(4, 3, 4) = 3
    five = title_embeddings(["storm vote goal", "vote goal market", "storm market", "goal storm", "vote market"], 4, 7)
    assert (five[:, 3] == 0).all() and (five[:, 2] != 0).any()


def test_title_embeddings_are_tfidf_min_df_2_sublinear_then_lsa():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    # "zebra" once (dropped), "recipe" twice (kept), "storm storm" repeated (sublinear tf)
    titles = [
        "storm storm vote goal recipe",
        "vote goal market",
        "storm market film recipe",
        "goal storm film zebra",
        "vote market film",
        "film goal vote storm",
    ]
    x = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform(titles)
    k = min(4, x.shape[1] - 1, x.shape[0] - 1)
    z = TruncatedSVD(n_components=k, random_state=7).fit_transform(x)
    want = unit(np.pad(z, ((0, 0), (0, 4 - k)))).astype(np.float32)
    np.testing.assert_allclose(title_embeddings(titles, 4, 7), want, atol=1e-6)


def _many_titles(n=120, vocab=300, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}x" for i in range(vocab)]
    return [" ".join(rng.choice(words, 6)) for _ in range(n)]


def test_title_embeddings_are_deterministic_for_a_seed():
    titles = _many_titles()
    assert np.array_equal(title_embeddings(titles, 8, 7), title_embeddings(titles, 8, 7))


def test_unit_rows_and_zero_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(unit(np.array([[0.3, 0.4], [0.0, 0.0]])), [[0.6, 0.8], [0.0, 0.0]])
        out = unit(np.array([[3, 4], [0, 0]]))
    assert out.dtype == np.float64 and np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert unit(np.array([[3.0, 4.0]], np.float32)).dtype == np.float64  # computed into a float64 buffer


# ----------------------------------------------------------------------------- features/build

D0 = pd.Timestamp("2026-11-02", tz="UTC")
CATS = ["news", "sports", "finance", "other"]


def T(hours: float) -> pd.Timestamp:
    return D0 + pd.Timedelta(minutes=round(hours * 60))


def _tables(news, imps, hist, fb, unit="us"):
    tz = f"datetime64[{unit}, UTC]"
    news = pd.DataFrame(news, columns=["news_id", "category", "title", "abstract", "first_seen"])
    imps = pd.DataFrame(imps, columns=["news_id", "time", "clicked"]).assign(user_id="U1")
    hist = pd.DataFrame(hist, columns=["user_id", "time", "history", "n_clicks"])
    hist["n_candidates"] = hist["n_clicks"].fillna(0) + 1
    fb = pd.DataFrame(fb, columns=["news_id", "time", "rating"])
    news["first_seen"] = pd.to_datetime(news["first_seen"], utc=True).astype(tz)
    for df in (imps, hist, fb):
        df["time"] = pd.to_datetime(df["time"], utc=True).astype(tz)
    fb["rating"] = fb["rating"].astype("int64")
    return news, imps, hist, fb


def _build(tables, **kw):
    news, imps, hist, fb = tables
    return build_features(news, imps, hist, fb, CATS, Features(text_dims=2, **kw))


def _stats(f):
    return f.news_stats.sort_values(["news_id", "event_timestamp"]).reset_index(drop=True)


CTR_WORLD = dict(
    news=[("N1", "news", "storm vote", "a", T(0.5)), ("N2", "sports", "vote storm", None, T(1 + 10 / 60))],
    imps=[("N1", T(0.5), 1), ("N2", T(1 + 10 / 60), 0), ("N1", T(1 + 20 / 60), np.nan), ("N1", T(25 + 40 / 60), 0)],
    hist=[("U1", T(0.5), [], 1)],
    fb=[],
)


def test_news_stats_without_ratings_by_hand():
    f = _build(_tables(**CTR_WORLD))
    s = _stats(f)
    assert f.quality_source == "ctr"
    # rows: each article at first_seen and at the hour after each of its impressions
    assert s["news_id"].tolist() == ["N1"] * 4 + ["N2"] * 2
    assert s["event_timestamp"].tolist() == [T(0.5), T(1), T(2), T(26), T(1 + 10 / 60), T(2)]
    assert s["news_imps"].tolist() == [0, 1, 2, 3, 0, 1]
    assert s["news_clicks"].tolist() == [0, 1, 1, 1, 0, 0]  # the NaN label counts as no click
    assert s["news_imps_1d"].tolist() == [0, 1, 2, 1, 0, 1]  # at T(26) only the impression at T(25:40)
    assert s["news_clicks_1d"].tolist() == [0, 1, 1, 0, 0, 0]
    # smoothed CTR (clicks + 100 C) / (imps + 100), C the global CTR before the row (0.05 with none)
    np.testing.assert_allclose(s["news_ctr"], [0.05, 1.0, 103 / 306, 26 / 103, 1.0, 100 / 303])
    # quality: weighted rating of clicks/imps with m = 200 and the same C
    np.testing.assert_allclose(s["news_quality"], [0.05, 1.0, 203 / 606, 51 / 203, 1.0, 200 / 603])


def test_nanosecond_inputs_give_the_same_tables():
    a, b = _build(_tables(**CTR_WORLD)), _build(_tables(**CTR_WORLD, unit="ns"))
    pd.testing.assert_frame_equal(_stats(a), _stats(b))


RATED_WORLD = dict(
    news=[("N1", "news", "storm vote", "a", T(0.5)), ("N2", "sports", "vote storm", "b", T(40 / 60))],
    imps=[("N1", T(0.5), 1), ("N2", T(40 / 60), 1)],
    hist=[("U1", T(0.5), [], 1)],
    fb=[("N1", T(50 / 60), 5), ("N1", T(1 + 20 / 60), 4), ("N2", T(1.5), 2)],
)


def test_news_quality_from_ratings_by_hand():
    f = _build(_tables(**RATED_WORLD))
    s = _stats(f)
    assert f.quality_source == "ratings"
    assert s["event_timestamp"].tolist() == [T(0.5), T(1), T(2), T(40 / 60), T(1), T(2)]
    # WR = v/(v+5) R + 5/(v+5) C, C the mean of all ratings before the row (3 with none); quality (WR - 1) / 4
    # N1: none -> 0.5; one 5 (C 5) -> 1.0; 5, 4 (C 11/3) -> WR 82/21 -> 61/84
    # N2: none -> 0.5; none (C 5) -> 1.0; one 2 (C 11/3) -> WR 61/18 -> 43/72
    np.testing.assert_allclose(s["news_quality"], [0.5, 1.0, 61 / 84, 0.5, 1.0, 43 / 72])


def test_quality_source_is_chosen_as_asked():
    tables = _tables(**RATED_WORLD)
    assert _build(tables, quality_source="ctr").quality_source == "ctr"
    assert _build(tables, quality_source="auto").quality_source == "ratings"


USER_WORLD = dict(
    news=[
        ("N1", "news", "storm vote goal", "a", T(-1)),
        ("N2", "sports", "vote goal market", "b", T(-1)),
        ("N3", "weird", "storm market goal", "c", T(-1)),
    ],
    imps=[("N1", T(0), 0)],
    hist=[
        ("U1", T(0), ["N1", "N404"], 1),
        ("U1", T(12), ["N1", "N2", "N3"], np.nan),
        ("U1", T(30), [], 2),
        ("U1", T(198), ["N2"], 0),
    ],
    fb=[],
)


def test_user_rows_by_hand():
    f = _build(_tables(**USER_WORLD))
    u = f.users.sort_values("event_timestamp").reset_index(drop=True)
    # the profile at the hour the reader's first impression falls in (T(0)), then each impression's row at the hour
    # after it (T(0) -> T(1), T(12) -> T(13), ...), its own impression counted
    assert u["event_timestamp"].tolist() == [T(0), T(1), T(13), T(31), T(199)]
    assert u["history_len"].tolist() == [2, 2, 3, 0, 1]
    assert u["user_imps_1d"].tolist() == [0, 1, 2, 2, 1] and u["user_clicks_1d"].tolist() == [0, 1, 1, 2, 0]
    assert u["user_imps_7d"].tolist() == [0, 1, 2, 3, 1] and u["user_clicks_7d"].tolist() == [0, 1, 1, 3, 0]
    assert u["user_cands_7d"].tolist() == [0, 2, 3, 6, 1]  # n_candidates 2, 1, 3, 1
    # per category (news, sports, finance, other): the history's clicks, and the log's last day
    hist = [[1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 1], [0] * 4, [0, 1, 0, 0]]
    np.testing.assert_array_equal(np.vstack(u["user_cat_hist"]), hist)
    shown = [[0] * 4, [1, 0, 0, 0], [1, 0, 0, 0], [0] * 4, [0] * 4]
    np.testing.assert_array_equal(np.vstack(u["user_cat_imps_1d"]), shown)
    assert not np.vstack(u["user_cat_clicks_1d"]).any()  # the one impression of N1 was not clicked
    # affinity (counts + 2/4) / (known + 2); N404 is unknown, N3's category is unknown -> "other"
    a, b, c, d = [0.5, 1 / 6, 1 / 6, 1 / 6], [0.3, 0.3, 0.1, 0.3], [0.25] * 4, [1 / 6, 0.5, 1 / 6, 1 / 6]
    np.testing.assert_allclose(np.vstack(u["user_aff"]), [a, a, b, c, d], rtol=1e-6)
    emb = dict(zip(f.news_meta["news_id"], f.news_meta["news_emb"]))
    three = unit((emb["N1"] + emb["N2"] + emb["N3"])[None].astype(np.float64))[0]
    want = [emb["N1"], emb["N1"], three, np.zeros(2), emb["N2"]]
    np.testing.assert_allclose(np.vstack(u["user_emb"]), np.vstack(want), atol=1e-6)
    meta = f.news_meta.sort_values("news_id")
    assert meta["category_idx"].tolist() == [0, 1, 3]
    assert meta["first_seen_ts"].tolist() == [1793574000.0] * 3  # 2026-11-01T23:00Z in epoch seconds


def test_a_profile_for_a_readers_first_ingested_impression_only():
    # U1's first impression is ingested, U2's first is collected (served traffic: no history from the data)
    world = dict(USER_WORLD, hist=[("U1", T(2.5), ["N1"], 1), ("U1", T(30), [], 0), ("U2", T(3.5), ["N2"], 1)])
    news, imps, hist, fb = _tables(**world)
    hist["split"] = ["test", "test", "live"]
    u = _build((news, imps, hist, fb)).users.sort_values(["user_id", "event_timestamp"]).reset_index(drop=True)
    assert u["user_id"].tolist() == ["U1", "U1", "U1", "U2"]
    assert u["event_timestamp"].tolist() == [T(2), T(3), T(31), T(4)]  # U1's profile at the hour of its first
    assert u["history_len"].tolist() == [1, 1, 0, 1] and u["user_imps_1d"].tolist() == [0, 1, 1, 1]


def test_feature_tables_have_the_declared_columns_and_types():
    f = _build(_tables(**USER_WORLD))
    for df, v in ((f.users, USER_VIEW), (f.news_meta, META_VIEW), (f.news_stats, STATS_VIEW)):
        assert list(df.columns) == [v.key, "event_timestamp", *v.columns]
        assert str(df["event_timestamp"].dtype) == "datetime64[us, UTC]"
        for col, dtype in v.columns.items():
            if dtype == "float32[]":
                assert all(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in df[col]), col
            else:
                assert str(df[col].dtype) == dtype, col


def test_missing_titles_have_no_embedding():
    world = dict(
        USER_WORLD,
        news=[
            ("N1", "news", None, "a", T(-1)),
            ("N2", "news", None, "b", T(-1)),
            ("N3", "news", "storm vote", "c", T(-1)),
            ("N4", "news", "vote storm", "d", T(-1)),
        ],
    )
    f = _build(_tables(**world))
    emb = dict(zip(f.news_meta["news_id"], f.news_meta["news_emb"]))
    assert not emb["N1"].any() and not emb["N2"].any() and emb["N3"].any()


def test_news_embeddings_use_the_configured_seed():
    titles = _many_titles(60)
    news = [(f"N{i}", "news", t, "", T(-1)) for i, t in enumerate(titles)]
    f = build_features(
        *_tables(news=news, imps=[("N0", T(0), 0)], hist=[("U1", T(0), [], 0)], fb=[]),
        CATS,
        Features(text_dims=4, seed=7),
    )
    meta = f.news_meta.set_index("news_id").loc[[f"N{i}" for i in range(60)]]
    np.testing.assert_array_equal(np.vstack(meta["news_emb"]), title_embeddings(titles, 4, 7))


# ----------------------------------------------------------------------------- the reasons, word for word
# A person reads these lines in the CLI, the flows and the model card: each is pinned exactly.


def test_no_contract_checks_is_refused_in_those_words():
    assert validation_decision([]).reasons == ["no contract checks ran"] and not validation_decision([]).ok


def test_a_challenger_below_popularity_stays_refused_when_it_beats_the_champion():
    # popularity 0.40 > 0.35 fails first; beating the champion (0.35 > 0.30) must not reset the verdict
    d = promotion_decision({"ndcg@10": 0.35}, {"ndcg@10": 0.30}, {"ndcg@10": 0.40}, Promote())
    assert not d.ok
    assert d.reasons == [
        "does not beat popularity on ndcg@10: 0.3500 vs 0.4000 (gain -0.0500, needs > +0.0000)",
        "beats the champion on ndcg@10: 0.3500 vs 0.3000 (gain +0.0500, needs > +0.0000)",
    ]


def test_promotion_reasons_word_for_word():
    first = promotion_decision({"ndcg@10": 0.5}, None, {"ndcg@10": 0.4}, Promote())
    assert first.reasons[1] == "no champion yet"
    lost = promotion_decision({"ndcg@10": 0.5}, {"ndcg@10": 0.6}, {"ndcg@10": 0.4}, Promote())
    assert lost.reasons[1] == "does not beat the champion on ndcg@10: 0.5000 vs 0.6000 (gain -0.1000, needs > +0.0000)"


def test_drift_reasons_word_for_word():
    p = Monitor(features=["news_ctr", "news_quality"], min_rows=10, drift_threshold=0.1, drift_share=0.5)
    empty = drift_decision(DriftSummary(window=[], model_version=None, rows={"current": 0}), p)
    assert empty.reasons == ["no traffic in the window: nothing to judge, nothing triggered"]
    s = DriftSummary(["2026-11-09"], "3", {"current": 100}, feature_drift={"news_ctr": 0.3, "news_quality": 0.2})
    d = drift_decision(s, p)
    assert d.reasons == [
        "RETRAIN: 2/2 gated features drift (100%, retrain at 50%): news_ctr 0.300, news_quality 0.200",
        "ok: clicks of the window not known yet: performance not judged",
    ]
    calm = DriftSummary(["2026-11-09"], "3", {"current": 100}, feature_drift={"news_ctr": 0.0, "news_quality": 0.0})
    assert drift_decision(calm, p).reasons[0] == "ok: 0/2 gated features drift (0%, retrain at 50%)"


def test_the_fallback_reason_word_for_word():
    rec, _ = ranker().recommend(RecommendRequest(user_id="new", request_time=NOW), None, NEWS, [])
    assert rec.fallback_reason == "unknown user: ranked by quality and popularity"
