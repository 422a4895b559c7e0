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


def check_split(split: pd.Series, y: pd.Series, p: Trainset) -> None:
    """Raise TrainingDataError naming the split that is empty or has a single class."""
    days = {"train": p.train_days, "valid": p.valid_days, "test": p.test_days}
    for name, n_days in days.items():
        ys = y[split == name]
        if ys.empty:
            raise TrainingDataError(
                f"the {name} split ({n_days} day(s) in params trainset.{name}_days) has no "
                f"labeled rows: the data covers fewer days than the split asks for"
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
    return model.fit(x[MODEL_FEATURES].to_numpy(), y.to_numpy().astype(int))


def predict(model, x: pd.DataFrame) -> np.ndarray:
    """Click probabilities for filled model inputs."""
    return model.predict_proba(x[MODEL_FEATURES].to_numpy())[:, 1]
