"""Serving logic with the model stubbed: ranking, cold start, request validation."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from serving_fixture import DEFAULTS, NEWS, NOW, USER, Stub, ranker

from newsrec.features.spec import MODEL_FEATURES
from newsrec.recommend import RecommendRequest


def test_known_user_ranked_by_engagement_then_blended():
    rec, scored = ranker().recommend(RecommendRequest(user_id="U1", k=2, request_time=NOW), USER, NEWS, [])
    scored = scored.frame()
    assert [i.news_id for i in rec.items] == ["N1", "N3"] and not rec.fallback and rec.model_version == "7"
    assert rec.items[0].engagement == pytest.approx(0.30)
    assert scored["category_affinity"].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert scored["freshness_hours"].tolist() == pytest.approx([1.0] * 3)
    rec_q, _ = ranker(0.0, 1.0).recommend(RecommendRequest(user_id="U1", k=3, request_time=NOW), USER, NEWS, [])
    assert [i.news_id for i in rec_q.items] == ["N2", "N3", "N1"]  # all weight on quality


def test_unknown_user_gets_the_quality_popularity_fallback():
    rec, scored = ranker(0.5, 0.5).recommend(RecommendRequest(user_id="new", request_time=NOW), None, NEWS, ["N9"])
    assert rec.fallback and "unknown user" in rec.fallback_reason and rec.unknown_candidates == ["N9"]
    assert rec.items[0].engagement == pytest.approx(1.0)  # the most clicked article in the last day
    assert scored.frame()["fallback"].all()


@pytest.mark.parametrize("user", [USER, None])
def test_no_known_candidates_returns_an_empty_list(user):
    rec, _ = ranker().recommend(RecommendRequest(user_id="U1", request_time=NOW), user, NEWS.iloc[0:0], ["N8"])
    assert rec.items == [] and rec.unknown_candidates == ["N8"] and rec.fallback == (user is None)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"user_id": "U1", "k": 0}, "k"),
        ({"user_id": "U1", "k": 101}, "k"),
        ({"user_id": "U1", "candidates": [f"N{i}" for i in range(501)]}, "candidates"),
        ({"user_id": ""}, "user_id"),
        ({"k": 5}, "user_id"),
        ({"user_id": "U1", "colour": "red"}, "colour"),
        ({"user_id": "U1", "request_time": "yesterday"}, "request_time"),
    ],
)
def test_bad_requests_name_the_field(body, field):
    with pytest.raises(ValidationError) as e:
        RecommendRequest.model_validate(body)
    assert field in {str(err["loc"][0]) for err in e.value.errors()}


def test_score_candidates_fills_scores_and_blends_within_each_list():
    from newsrec.recommend import score_candidates

    x = pd.DataFrame({c: [np.nan] * 4 for c in MODEL_FEATURES})
    x["news_ctr"] = [0.3, np.nan, 0.2, 0.4]  # the stub's engagement; NaN gets the default 0.1
    x["news_quality"] = [0.2, 0.9, np.nan, 0.6]  # NaN gets the default 0.5
    e, q, s = score_candidates(Stub(), DEFAULTS, x, ["a", "a", "b", "b"], 0.2, 0.8)
    np.testing.assert_allclose(e, [0.3, 0.1, 0.2, 0.4])
    np.testing.assert_allclose(q, [0.2, 0.9, 0.5, 0.6])
    # list a: engagement (0.3, 0.1) -> (1, 0), quality (0.2, 0.9) -> (0, 1): 0.2 * 1, 0.8 * 1
    # list b: engagement (0.2, 0.4) -> (0, 1), quality (0.5, 0.6) -> (0, 1): 0, 0.2 + 0.8
    np.testing.assert_allclose(s, [0.2, 0.8, 0.0, 1.0])


def test_fallback_ranks_by_the_evaluation_baseline_and_differs_only_in_ties():
    """The cold-start fallback uses ranking.popularity (clicks, then impressions), the
    evaluation baseline. Against ranking by clicks alone (what it did before), the order
    changes only among articles whose clicks tie."""
    from newsrec.ranking import blend, popularity

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        news = pd.concat([NEWS] * (n // 3 + 1)).iloc[:n].copy()
        news.index = pd.Index([f"N{i}" for i in range(n)], name="news_id")
        news["news_clicks_1d"] = rng.integers(0, 4, n)  # few values: many ties
        news["news_imps_1d"] = rng.integers(0, 200, n)
        news["news_quality"] = rng.choice([0.2, 0.5], n)
        rec, scored = ranker(0.5, 0.5).recommend(RecommendRequest(user_id="new", k=n, request_time=NOW), None, news, [])
        assert rec.fallback
        base = popularity(news["news_clicks_1d"], news["news_imps_1d"])
        np.testing.assert_allclose(
            [i.engagement for i in rec.items],
            (base / max(base.max(), 1.0))[[news.index.get_loc(i.news_id) for i in rec.items]],
        )
        clicks_only = news["news_clicks_1d"].to_numpy(float)
        old = blend(clicks_only / max(clicks_only.max(), 1.0), news["news_quality"], None, 0.5, 0.5)
        old_in_new_order = old[[news.index.get_loc(i.news_id) for i in rec.items]]
        assert np.all(np.diff(old_in_new_order) <= 1e-4)  # the old scores still fall: only ties moved


def test_ranker_of_takes_the_fill_values_from_the_model_meta_and_the_weights_from_ranking():
    from newsrec.config import Ranking
    from newsrec.recommend import Ranker

    stub, defaults = Stub(), {"news_ctr": 0.25, "news_quality": 0.75}
    r = Ranker.of(
        stub, "12", {"defaults": defaults, "categories": ["a"]}, Ranking(engagement_weight=0.3, quality_weight=0.7)
    )
    assert r.model is stub and r.version == "12" and r.defaults == defaults
    assert (r.engagement_weight, r.quality_weight) == (0.3, 0.7)
