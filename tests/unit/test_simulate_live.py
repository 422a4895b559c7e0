"""The in-process simulation of the loop's own days (newsrec.simulate.prepare_live,
fit_split, agreement): the yardstick `make loop` is held to."""

from __future__ import annotations

import numpy as np
import pytest

from newsrec import simulate as sim
from newsrec.config import Params
from newsrec.data.readers import live_days
from newsrec.stages.features import feature_categories

TINY = dict(n_users=300, n_articles=300, impressions_per_day=200, days=3, backlog_days=1, live_days=2)


@pytest.fixture(scope="module")
def params() -> Params:
    return Params.model_validate(
        {"world": TINY, "trainset": {"train_days": 1, "valid_days": 1, "test_days": 1}, "train": {"max_iter": 30}}
    )


@pytest.fixture(scope="module")
def data(params) -> sim.SimData:
    return sim.prepare_live(params, feature_categories(params), "interest_shock", 1, 2)


def test_the_live_days_are_the_readers_own(params, data):
    """Every impression the loop's readers send on a live day is a row, clicked or not, with
    the readers' clicks and true click probability; the logged days are the ingested ones."""
    assert data.history_days == TINY["days"] and len(data.dates) == TINY["days"] + 2
    w = params.simulate.live_world(params.world, "interest_shock", 1)
    for d, frame in live_days(w, 0, 2):
        rows = data.frame[data.frame["day"] == TINY["days"] + d].sort_values(["impression_id", "news_id"])
        want = frame.sort_values(["impression_id", "news_id"])
        assert len(rows) == len(want) and rows["impression_id"].nunique() == want["impression_id"].nunique()
        np.testing.assert_array_equal(rows["news_id"].to_numpy(), want["news_id"].to_numpy())
        np.testing.assert_array_equal(rows["clicked"].to_numpy(), want["clicked"].to_numpy(float))
        np.testing.assert_allclose(rows["p_true"].to_numpy(), want["p_true"].to_numpy(), rtol=1e-9)
    logged = data.frame[data.frame["day"] < TINY["days"]]
    assert (logged.groupby("impression_id")["clicked"].max() > 0).all()  # like MIND: clicked impressions only


def test_the_gate_refuses_a_retrain_no_better_than_the_champion(params, data):
    split = params.trainset.model_copy(update={"window_days": 0})
    first = sim.fit_split(data, data.history_days - 1, 1, params, split)
    assert first is not None and len(first.reference) > 0
    assert set(first.reference["model_version"]) == {"1"}
    # the same data and seed give the same model: no gain over the champion, so no promotion
    assert sim.fit_split(data, data.history_days - 1, 2, params, split, champion=first) is None


def test_agreement_is_the_largest_gap_in_the_share_of_the_oracle():
    oracle = {"ctr@10": 0.2, "ndcg@10": 0.5, "quality@10": 0.8}

    def day(i: int, ctr: float, drift: bool) -> dict:
        return {"day": i, "ctr@10": ctr, "ndcg@10": 0.4, "quality@10": 0.6, "oracle": oracle, "drift": drift}

    a = sim.agreement([day(0, 0.10, False), day(1, 0.12, True)], [day(0, 0.11, False), day(1, 0.12, False)])
    assert a == {"share_gap": [0.05, 0.0], "max_share_gap": 0.05, "drift_differs": [1]}
    with pytest.raises(ValueError):
        sim.agreement([day(0, 0.1, False)], [])
    assert sim.agreement([], []) == {"share_gap": [], "max_share_gap": 0.0, "drift_differs": []}
