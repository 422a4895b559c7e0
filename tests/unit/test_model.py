"""The click model: time split, clear errors on data that cannot train, determinism."""

import numpy as np
import pandas as pd
import pytest

from newsrec.config import Train, Trainset
from newsrec.features.spec import MODEL_FEATURES
from newsrec.model import TrainingDataError, check_split, fit, held_out, predict, split_by_day, split_rows

SPLIT = Trainset(train_days=2, valid_days=1, test_days=1)
P = Train(max_iter=30)


def _times(days):
    return pd.Series(pd.to_datetime(["2026-11-02 10:00"] * 4, utc=True) + pd.to_timedelta(days, unit="D"))


def test_split_by_whole_days_from_the_first():
    s = split_by_day(
        pd.Series(
            pd.to_datetime(
                ["2026-11-02 23:59", "2026-11-03 00:01", "2026-11-04 12:00", "2026-11-05 01:00", "2026-11-06 01:00"],
                utc=True,
            )
        ),
        SPLIT,
    )
    assert s.tolist() == ["train", "train", "valid", "test", "unused"]


def test_empty_split_names_the_param():
    split = split_by_day(_times([0, 0, 2, 2]), SPLIT)
    with pytest.raises(TrainingDataError, match=r"test split .*trainset.test_days"):
        check_split(split, pd.Series([0, 1, 1, 0]), SPLIT)


def test_a_retrain_splits_the_last_days_and_holds_out_part_of_the_last():
    # ids 1..6 hash to 0.62, 0.24, 0.86, 0.47, 0.09, 0.71 (id * 2654435761 mod 2^32 / 2^32)
    np.testing.assert_allclose(held_out([1, 2, 3, 4, 5, 6]), [0.618, 0.236, 0.854, 0.472, 0.090, 0.708], atol=1e-3)
    p = Trainset(window_days=2, holdout=0.5)
    times = pd.Series(pd.to_datetime(["2026-11-02 10:00"] + ["2026-11-04 09:00"] + ["2026-11-05 08:00"] * 4, utc=True))
    s = split_rows(times, [1, 2, 3, 4, 5, 6], p)
    # the first day is outside the 2-day window; on the last day, u < 0.25 -> valid, < 0.5 -> test
    assert s.tolist() == ["unused", "train", "train", "test", "valid", "train"]
    assert split_rows(times, [1, 2, 3, 4, 5, 6], SPLIT).tolist() == split_by_day(times, SPLIT).tolist()
    with pytest.raises(TrainingDataError, match=r"valid split \(half of trainset.holdout"):
        check_split(pd.Series(["train", "train", "test", "test"]), pd.Series([0, 1, 0, 1]), p)


def test_split_without_positives_is_refused():
    split = pd.Series(["train", "train", "valid", "valid", "test", "test"])
    with pytest.raises(TrainingDataError, match="valid split has only non-clicks"):
        check_split(split, pd.Series([0, 1, 0, 0, 1, 0]), SPLIT)


def _xy(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((n, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    y = pd.Series((rng.random(n) < 0.2 + 0.5 * x["category_affinity"] * x["news_ctr"]).astype(int))
    return x, y


def test_nan_inputs_are_refused_not_silently_filled():
    x, y = _xy()
    x.loc[3, "news_ctr"] = np.nan
    with pytest.raises(TrainingDataError, match=r"missing values left in \['news_ctr'\]"):
        fit(x, y, P)


def test_training_is_deterministic_for_a_seed():
    x, y = _xy()
    a, b = predict(fit(x, y, P), x), predict(fit(x, y, P), x)
    assert np.array_equal(a, b)
    c = predict(fit(x, y, P.model_copy(update={"seed": 8})), x)
    assert not np.array_equal(a, c)


def test_negative_downsampling_keeps_every_click_and_stays_calibrated():
    """A quarter of the non-clicks, and the model's log-odds moved back by log(0.25): the
    mean probability is the click rate's (within 5%), where the sample alone would teach
    about three times it; the ranking holds; the model is still the plain estimator."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from newsrec.model import downsample

    rng = np.random.default_rng(0)
    n = 40_000
    x = pd.DataFrame(rng.normal(size=(n, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    logit = -3.0 + 1.2 * x[MODEL_FEATURES[0]] - 0.8 * x[MODEL_FEATURES[5]]
    y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int))
    kept = y.to_numpy()[downsample(y.to_numpy(), 0.25, 7)]
    assert kept.sum() == y.sum() and abs((kept == 0).sum() / (y == 0).sum() - 0.25) < 0.02
    assert len(downsample(y.to_numpy(), 1.0, 7)) == n
    assert kept.mean() / y.mean() > 2.5  # what the sample alone would teach
    whole = fit(x, y, Train(max_iter=60))
    down = fit(x, y, Train(max_iter=60, negative_rate=0.25))
    p_all, p_down = predict(whole, x), predict(down, x)
    ctr = y.mean()
    assert abs(p_all.mean() / ctr - 1) < 0.05 and abs(p_down.mean() / ctr - 1) < 0.05
    assert roc_auc_score(y, p_down) > roc_auc_score(y, p_all) - 0.01
    assert type(down) is HistGradientBoostingClassifier  # nothing new for the model's loader to trust


def test_a_split_read_downsampled_keeps_every_click_and_a_share_of_the_rest(tmp_path):
    """read_split: the split's rows only, every click, about `rate` of the non-clicks, the
    same rows each time, and a uniform-sample mask of about `rate` of all the rows."""
    from newsrec.model import read_split

    rng = np.random.default_rng(1)
    n = 40_000
    frame = pd.DataFrame(
        {"split": rng.choice(["train", "test"], n), "clicked": (rng.random(n) < 0.1).astype(int), "x": rng.random(n)}
    )
    (tmp_path / "parts").mkdir()
    frame.iloc[: n // 2].to_parquet(tmp_path / "parts" / "day-1.parquet", index=False)
    frame.iloc[n // 2 :].to_parquet(tmp_path / "parts" / "day-2.parquet", index=False)
    whole, uniform = read_split(tmp_path / "parts", "train")
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    pd.testing.assert_frame_equal(whole, train)
    assert uniform.all()
    got, uniform = read_split(tmp_path / "parts", "train", rate=0.25, seed=3)
    assert (got["split"] == "train").all() and got["clicked"].sum() == train["clicked"].sum()
    share = (got["clicked"] == 0).sum() / (train["clicked"] == 0).sum()
    assert 0.23 < share < 0.27 and 0.23 < uniform.sum() / len(train) < 0.27
    assert got["clicked"][uniform].mean() == pytest.approx(train["clicked"].mean(), abs=0.02)  # uniform: unbiased
    again, _ = read_split(tmp_path / "parts", "train", rate=0.25, seed=3)
    pd.testing.assert_frame_equal(got, again)


def test_footprint_counts_the_fitted_trees_and_leaves():
    """Trees and leaves as sklearn's own attributes give them (n_iter_ x trees per iteration,
    each tree's get_n_leaf_nodes); bytes is the pickled estimator's length; a model with
    fewer, smaller trees is smaller on every count."""
    import pickle

    from newsrec.model import footprint

    x, y = _xy()
    big = fit(x, y, Train(max_iter=12, max_leaf_nodes=8, min_samples_leaf=5))
    small = fit(x, y, Train(max_iter=4, max_leaf_nodes=3, min_samples_leaf=5))
    for m in (big, small):
        f = footprint(m)
        assert f["trees"] == m.n_iter_ * m.n_trees_per_iteration_
        assert f["leaves"] == sum(t.get_n_leaf_nodes() for it in m._predictors for t in it)
        assert f["bytes"] == len(pickle.dumps(m, protocol=5))
    fb, fs = footprint(big), footprint(small)
    assert fs["trees"] == 4 and fs["leaves"] <= 4 * 3 < fb["leaves"] <= 12 * 8
    assert fs["bytes"] < fb["bytes"] and fs["trees"] < fb["trees"]


def test_scoring_cost_is_a_positive_finite_time_per_candidate():
    """Never a wall-clock value (machines differ): positive and finite, on a frame or a
    matrix, with a batch larger than the rows, for one model or several side by side; no
    rows is refused."""
    from newsrec.model import scoring_cost, scoring_costs

    x, y = _xy(n=500)
    m = fit(x, y, Train(max_iter=5))
    both = scoring_costs({"a": m, "b": fit(x, y, Train(max_iter=2))}, x, repeats=2)
    costs = [scoring_cost(m, x, repeats=2), scoring_cost(m, x[MODEL_FEATURES].to_numpy(), batch=1000, repeats=1)]
    assert set(both) == {"a", "b"}
    for us in [*costs, *both.values()]:
        assert isinstance(us, float) and 0 < us < float("inf")
    with pytest.raises(ValueError, match="no rows"):
        scoring_cost(m, x.iloc[:0])


def _fitted(n=4000, features=6, seed=3, **kw):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values, sent left or right by each node
    y = ((np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1], nan=2.0) + rng.normal(size=n)) > 0.8).astype(int)
    from sklearn.ensemble import HistGradientBoostingClassifier

    params = dict(max_iter=60, max_leaf_nodes=31, min_samples_leaf=20, random_state=0) | kw
    return HistGradientBoostingClassifier(**params).fit(x, y), x


@pytest.mark.parametrize("rows", [1, 7, 100, 2048, 4000])
def test_the_compiled_walk_gives_predict_probas_probabilities_to_the_last_bit(rows, monkeypatch):
    from newsrec import forest
    from newsrec.forest import forest_of

    monkeypatch.setattr(forest, "FEW", 4000)  # every size through the compiled walk
    model, x = _fitted()
    q = x[:rows].copy()
    q[0, :] = np.nan  # a row with nothing known
    if rows > 1:
        q[1, 0] = np.inf  # beyond every threshold
    assert forest_of(model) is not None  # the compiled walk, not the fallback
    got, want = predict(model, q), model.predict_proba(q)[:, 1]
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_models_the_walk_does_not_cover_are_scored_by_their_own_predict_proba():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from newsrec.forest import forest_of

    _, x = _fitted()
    x = np.nan_to_num(x)
    x[:, 5] = np.abs(np.round(x[:, 5] * 3)) % 8  # a categorical feature: its splits are category sets
    y = (x[:, 5] > 3).astype(int) ^ (x[:, 0] > 1).astype(int)
    for model in (
        # categorical features: their columns go first, whether or not a tree splits on them
        HistGradientBoostingClassifier(max_iter=20, categorical_features=[5], random_state=0),
        LogisticRegression(),
    ):
        model.fit(x, y)
        assert forest_of(model) is None
        assert np.array_equal(predict(model, x[:50]), model.predict_proba(x[:50])[:, 1])


def test_a_large_batch_goes_to_predict_proba_and_a_request_to_the_compiled_walk(monkeypatch):
    from newsrec import forest

    model, x = _fitted()
    walked = []
    real = forest.raw
    monkeypatch.setattr(forest, "raw", lambda f, q: walked.append(len(q)) or real(f, q))
    for rows in (forest.FEW, forest.FEW + 1):
        assert np.array_equal(predict(model, x[:rows]), model.predict_proba(x[:rows])[:, 1])
    assert walked == [forest.FEW]


def test_the_compiled_walk_refuses_rows_of_another_width():
    model, x = _fitted()
    with pytest.raises(ValueError, match="X has 5 features, but the model expects 6"):
        predict(model, x[:3, :5])
