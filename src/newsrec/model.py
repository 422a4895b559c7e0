"""The click model: a scikit-learn gradient-boosted classifier over MODEL_FEATURES, with a
time-based split and explicit errors where the data cannot support training."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from newsrec.config import Train, Trainset
from newsrec.features.spec import MODEL_FEATURES

# the types skops must trust to load the model (MLflow saves scikit-learn models with skops)
SKOPS_TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


class TrainingDataError(ValueError):
    """The training set cannot train or evaluate a model (an empty split, no clicks...)."""


def split_by_day(times: pd.Series, p: Trainset) -> pd.Series:
    """'train', 'valid', 'test' or 'unused' for each row, by whole days since the first day."""
    day = (times - times.min().floor("D")).dt.days
    edges = np.cumsum([p.train_days, p.valid_days, p.test_days])
    labels = np.select([day < edges[0], day < edges[1], day < edges[2]], ["train", "valid", "test"], "unused")
    return pd.Series(labels, index=times.index)


def held_out(impression_ids) -> np.ndarray:
    """A fixed number in [0, 1) per impression (a multiplicative hash): which impressions a
    split holds out does not depend on the order or the rest of the data."""
    ids = np.asarray(impression_ids, dtype=np.int64).astype(np.uint64)
    return (ids * np.uint64(2654435761)) % np.uint64(2**32) / 2**32


def split_recent(times: pd.Series, impression_ids, p: Trainset) -> pd.Series:
    """A retrain's split: the last `window_days` days with labels; of the last day's
    impressions, `holdout` is held out, half for 'valid' (the monitoring reference) and half
    for 'test' (the gate); the rest of the window is 'train', anything older 'unused'."""
    day = (times - times.min().floor("D")).dt.days.to_numpy()
    last, u = day.max(initial=0), held_out(impression_ids)
    held = day == last
    labels = np.select(
        [held & (u < p.holdout / 2), held & (u < p.holdout), day > last - p.window_days],
        ["valid", "test", "train"],
        "unused",
    )
    return pd.Series(labels, index=times.index)


def split_rows(times: pd.Series, impression_ids, p: Trainset) -> pd.Series:
    """The split the params ask for: by day from the first day, or the recent window."""
    return split_recent(times, impression_ids, p) if p.window_days else split_by_day(times, p)


def check_split(split: pd.Series, y: pd.Series, p: Trainset) -> None:
    """Raise TrainingDataError naming the split that is empty or has a single class."""
    if p.window_days:
        asks = {
            "train": f"the last {p.window_days} day(s) in params trainset.window_days, but the held-out share",
            "valid": f"half of trainset.holdout ({p.holdout}) of the last day's impressions",
            "test": f"half of trainset.holdout ({p.holdout}) of the last day's impressions",
        }
    else:
        asks = {n: f"{getattr(p, f'{n}_days')} day(s) in params trainset.{n}_days" for n in ("train", "valid", "test")}
    for name, what in asks.items():
        ys = y[split == name]
        if ys.empty:
            raise TrainingDataError(
                f"the {name} split ({what}) has no labeled rows: the data covers fewer days or impressions "
                f"than the split asks for"
            )
        if ys.nunique() < 2:
            raise TrainingDataError(
                f"the {name} split has only {'clicks' if ys.iloc[0] else 'non-clicks'} "
                f"({len(ys):,} rows): a click model needs both"
            )


def fit(x: pd.DataFrame, y: pd.Series, p: Train) -> HistGradientBoostingClassifier:
    """Fit the click model on the filled model inputs (no NaN may remain)."""
    if x[MODEL_FEATURES].isna().any().any():
        bad = x[MODEL_FEATURES].columns[x[MODEL_FEATURES].isna().any()].tolist()
        raise TrainingDataError(f"missing values left in {bad}: fill them with features.fill_defaults")
    y_all = y.to_numpy().astype(int)
    rows = downsample(y_all, p.negative_rate, p.seed)
    model = HistGradientBoostingClassifier(
        learning_rate=p.learning_rate,
        max_iter=p.max_iter,
        max_leaf_nodes=p.max_leaf_nodes,
        min_samples_leaf=p.min_samples_leaf,
        l2_regularization=p.l2_regularization,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=p.seed,
    )
    m = x[MODEL_FEATURES].to_numpy()
    if len(rows) == len(y_all):
        return model.fit(m, y_all)
    model.fit(m[rows], y_all[rows])
    # the calibration correction: the sample's odds of a click are 1/rate times the data's,
    # so every log-odds the model gives moves by log(rate) (its baseline: one constant)
    model._baseline_prediction = model._baseline_prediction + np.log(p.negative_rate)
    return model


def downsample(y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Negative downsampling: the rows of every positive and of each negative with
    probability `rate` (seeded); rate 1: every row."""
    if rate >= 1:
        return np.arange(len(y))
    return np.flatnonzero((y == 1) | (np.random.default_rng(seed).random(len(y)) < rate))


def predict(model, x: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Click probabilities for filled model inputs (a frame, or a matrix of MODEL_FEATURES)."""
    return model.predict_proba(x if isinstance(x, np.ndarray) else x[MODEL_FEATURES].to_numpy())[:, 1]


def predict_in_parts(model, x: pd.DataFrame, keys: pd.Series, run) -> np.ndarray:
    """`predict` a part of the rows at a time (one per value of `keys`, e.g. a day) with
    `run(fn, parts)` (a Dask cluster: newsrec.adapters.dask), the probabilities in the rows'
    order: the same values, each row scored alone."""
    if run is None:
        return predict(model, x)
    m = x[MODEL_FEATURES].to_numpy()
    codes, _ = pd.factorize(keys, sort=True)
    rows = [np.flatnonzero(codes == k) for k in range(codes.max(initial=-1) + 1)]
    scored = run(lambda part: predict(model, part), [m[r] for r in rows])
    out = np.empty(len(m))
    for r, s in zip(rows, scored):
        out[r] = s
    return out
