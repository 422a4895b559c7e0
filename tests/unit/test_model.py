"""The click model: time split, clear errors on data that cannot train, determinism."""

import numpy as np
import pandas as pd
import pytest

from newsrec.config import Train, Trainset
from newsrec.features.spec import MODEL_FEATURES
from newsrec.model import TrainingDataError, check_split, fit, predict, split_by_day

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
