"""The click model: a scikit-learn gradient-boosted classifier over MODEL_FEATURES, with a
time-based split and explicit errors where the data cannot support training."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from newsrec.config import Train, Trainset
from newsrec.features.spec import MODEL_FEATURES
from newsrec.forest import probability

# the types skops must trust to load the model (MLflow saves scikit-learn models with skops)
SKOPS_TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


Span = tuple[pd.Timestamp, pd.Timestamp]  # the first and last time of all the rows
UNUSED = "unused"  # the split of rows outside every window: the training set does not keep them


class TrainingDataError(ValueError):
    """The training set cannot train or evaluate a model (an empty split, no clicks...)."""


def split_by_day(times: pd.Series, p: Trainset, span: Span | None = None) -> pd.Series:
    """'train', 'valid', 'test' or 'unused' for each row, by whole days since the first day
    (of `span`, the times of all the rows when these are a part of them)."""
    day = (times - (span[0] if span else times.min()).floor("D")).dt.days
    edges = np.cumsum([p.train_days, p.valid_days, p.test_days])
    labels = np.select([day < edges[0], day < edges[1], day < edges[2]], ["train", "valid", "test"], UNUSED)
    return pd.Series(labels, index=times.index)


def held_out(impression_ids) -> np.ndarray:
    """A fixed number in [0, 1) per impression (a multiplicative hash): which impressions a
    split holds out does not depend on the order or the rest of the data."""
    ids = np.asarray(impression_ids, dtype=np.int64).astype(np.uint64)
    return (ids * np.uint64(2654435761)) % np.uint64(2**32) / 2**32


def split_recent(times: pd.Series, impression_ids, p: Trainset, span: Span | None = None) -> pd.Series:
    """A retrain's split: the last `window_days` days with labels; of the last day's
    impressions, `holdout` is held out, half for 'valid' (the monitoring reference) and half
    for 'test' (the gate); the rest of the window is 'train', anything older 'unused'."""
    first = (span[0] if span else times.min()).floor("D")
    day = (times - first).dt.days.to_numpy()
    last = (span[1] - first).days if span else day.max(initial=0)
    u = held_out(impression_ids)
    held = day == last
    labels = np.select(
        [held & (u < p.holdout / 2), held & (u < p.holdout), day > last - p.window_days],
        ["valid", "test", "train"],
        UNUSED,
    )
    return pd.Series(labels, index=times.index)


def split_rows(times: pd.Series, impression_ids, p: Trainset, span: Span | None = None) -> pd.Series:
    """The split the params ask for: by day from the first day, or the recent window. For a
    part of the rows, `span` is the first and last time of all of them."""
    return split_recent(times, impression_ids, p, span) if p.window_days else split_by_day(times, p, span)


def split_counts(split: pd.Series, y: pd.Series) -> dict[str, tuple[int, int]]:
    """Rows and clicks per split (what `check_split` judges; parts' counts add up)."""
    g = pd.DataFrame({"split": split.to_numpy(), "y": y.to_numpy().astype(int)}).groupby("split")["y"]
    return {str(k): (int(n), int(c)) for k, n, c in zip(g.size().index, g.size(), g.sum())}


def check_split(split: pd.Series, y: pd.Series, p: Trainset) -> None:
    """Raise TrainingDataError naming the split that is empty or has a single class."""
    check_counts(split_counts(split, y), p)


def check_counts(counts: dict[str, tuple[int, int]], p: Trainset) -> None:
    """`check_split` on the rows and clicks per split."""
    if p.window_days:
        asks = {
            "train": f"the last {p.window_days} day(s) in params trainset.window_days, but the held-out share",
            "valid": f"half of trainset.holdout ({p.holdout}) of the last day's impressions",
            "test": f"half of trainset.holdout ({p.holdout}) of the last day's impressions",
        }
    else:
        asks = {n: f"{getattr(p, f'{n}_days')} day(s) in params trainset.{n}_days" for n in ("train", "valid", "test")}
    for name, what in asks.items():
        n, clicks = counts.get(name, (0, 0))
        if n == 0:
            raise TrainingDataError(
                f"the {name} split ({what}) has no labeled rows: the data covers fewer days or impressions "
                f"than the split asks for"
            )
        if clicks in (0, n):
            raise TrainingDataError(
                f"the {name} split has only {'clicks' if clicks else 'non-clicks'} "
                f"({n:,} rows): a click model needs both"
            )


def read_split(
    path: Path, split: str, columns: list[str] | None = None, rate: float = 1.0, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of one split of a training set (a parquet file, or a folder of day parts), a
    batch at a time, so that only the rows kept are ever held: with rate < 1, negatively
    downsampled as they are read (`downsample`: every click, a seeded share `rate` of the
    rest). Also which rows are a uniform sample of the split (all of them at rate 1), for
    statistics such as the fill values."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    data = ds.dataset(path, format="parquet")
    scan = data.scanner(columns=columns, filter=ds.field("split") == split, use_threads=False)
    kept, uniform = [], []
    for i, b in enumerate(scan.to_batches()):
        u = np.random.default_rng([seed, i]).random(b.num_rows)
        y = b.column("clicked").to_numpy(zero_copy_only=False)
        rows = np.arange(b.num_rows) if rate >= 1 else np.flatnonzero((y == 1) | (u < rate))
        kept.append(b.take(pa.array(rows)))
        uniform.append(u[rows] < rate if rate < 1 else np.ones(len(rows), dtype=bool))
    table = pa.Table.from_batches(kept, schema=scan.projected_schema)
    return table.to_pandas(), np.concatenate(uniform) if uniform else np.zeros(0, dtype=bool)


def fit(x: pd.DataFrame, y: pd.Series, p: Train, sampled: bool = False) -> HistGradientBoostingClassifier:
    """Fit the click model on the filled model inputs (no NaN may remain). `sampled`: the
    rows were downsampled at p.negative_rate already (`read_split`), so only the calibration
    correction is left to make."""
    if x[MODEL_FEATURES].isna().any().any():
        bad = x[MODEL_FEATURES].columns[x[MODEL_FEATURES].isna().any()].tolist()
        raise TrainingDataError(f"missing values left in {bad}: fill them with features.fill_defaults")
    y_all = y.to_numpy().astype(int)
    rows = np.arange(len(y_all)) if sampled else downsample(y_all, p.negative_rate, p.seed)
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
    if p.negative_rate >= 1:
        return model.fit(m, y_all)
    model.fit(m[rows] if len(rows) < len(m) else m, y_all[rows])
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
    """Click probabilities for filled model inputs (a frame, or a matrix of MODEL_FEATURES):
    `model.predict_proba`'s, walked by newsrec.forest's compiled loop where it covers the model."""
    return probability(model, x if isinstance(x, np.ndarray) else x[MODEL_FEATURES].to_numpy())


def footprint(model: HistGradientBoostingClassifier) -> dict[str, int]:
    """A fitted model's size: `bytes` pickled, `trees` (one per boosting iteration for a
    click model) and `leaves`, summed over all the trees."""
    # _predictors is the fitted trees, one list per iteration: the only place sklearn keeps them
    trees = [tree for iteration in model._predictors for tree in iteration]
    return {
        "bytes": len(pickle.dumps(model, protocol=5)),  # a fixed protocol: the same count on every Python
        "trees": len(trees),
        "leaves": int(sum(int(tree.nodes["is_leaf"].sum()) for tree in trees)),
    }


def scoring_cost(
    model, x: pd.DataFrame | np.ndarray, batch: int = 100, repeats: int = 7, max_rows: int = 10_000
) -> float:
    """Microseconds of CPU per candidate when `predict` scores `x` (its first `max_rows` rows)
    in request-sized batches (a request ranks about `batch` candidates) on one OpenMP thread,
    as the service scores: the fastest of `repeats` passes."""
    return scoring_costs({"model": model}, x, batch, repeats, max_rows)["model"]


def scoring_costs(
    models: dict, x: pd.DataFrame | np.ndarray, batch: int = 100, repeats: int = 7, max_rows: int = 10_000
) -> dict[str, float]:
    """`scoring_cost` of several models on the same rows, their passes taken in turn, so that
    a slow spell of the machine weighs on each of them alike and their ratio holds."""
    from newsrec.threads import one_thread

    m = (x if isinstance(x, np.ndarray) else x[MODEL_FEATURES].to_numpy())[:max_rows]
    if not len(m):
        raise ValueError("no rows to score: the scoring cost needs at least one candidate")
    parts = [m[i : i + batch] for i in range(0, len(m), batch)]
    passes: dict[str, list[float]] = {name: [] for name in models}
    # One thread, as the service's OMP_NUM_THREADS=1 (a team of threads on a busy machine
    # waits for its slowest member at every call), timed in this thread's CPU time: wall time
    # also counts the moments other processes hold the core (beside a test run, one pass
    # measured 16.1 us per candidate in wall time, 9.4 in CPU time). Other work on the
    # machine still slows passes, for seconds at a time (up to 1.6x measured), and never
    # speeds one up: the fastest pass is the closest to the cost.
    with one_thread():
        for model in models.values():
            predict(model, parts[0])  # the first call pays one-off set-up costs that no request sees again
        for _ in range(repeats):
            for name, model in models.items():
                start = time.thread_time()
                for part in parts:
                    predict(model, part)
                passes[name].append(time.thread_time() - start)
    return {name: min(t) / len(m) * 1e6 for name, t in passes.items()}


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
