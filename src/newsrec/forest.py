"""The click model's trees, walked by one compiled loop: the click probabilities of
`HistGradientBoostingClassifier.predict_proba`, to the last bit, at a fraction of its cost
on the few candidates of a request.

scikit-learn walks its trees one at a time: for each of the model's trees (up to a few
hundred) a Python call sets up its compiled walk over the rows, so a request's tens of
candidates paid more than half a millisecond of calls around microseconds of walking. Here every tree's nodes are
laid end to end once per model, and one compiled function (numba) walks all of them over
a request's rows (a batch of thousands goes to scikit-learn's walk, on every core). The
sums are those of scikit-learn's own walk (`_predict_one_from_raw_data`: a missing value
goes where the node sends missing values, any other goes left when at most the threshold),
added tree after tree onto the baseline in the same order, and turned into
a probability by the same function (scipy's `expit`), so the probabilities are equal, not
close. A model this does not cover (another estimator, more than two classes,
categorical features, another loss) is scored by its own `predict_proba`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
from scipy.special import expit  # scikit-learn's binomial loss turns raw scores into probabilities with it

_FORESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per fitted model: its Forest, or None
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Forest:
    """Every tree's nodes, end to end; `roots[t]`: where tree t starts (its children's
    indices are relative to it, as scikit-learn stores them)."""

    roots: np.ndarray
    value: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    baseline: float
    n_features: int


def forest_of(model) -> Forest | None:
    """The model's Forest (made once per fitted model), or None when it is not covered."""
    try:
        return _FORESTS[model]
    except KeyError:
        pass
    except TypeError:  # not weakly referable: laid out each time, never kept
        return _lay_out(model)
    with _LOCK:
        if model not in _FORESTS:
            _FORESTS[model] = _lay_out(model)
        return _FORESTS[model]


def _lay_out(model) -> Forest | None:
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.ensemble import HistGradientBoostingClassifier

    if type(model) is not HistGradientBoostingClassifier or not hasattr(model, "_predictors"):
        return None
    # categorical features put their columns first (the trees index the reordered ones), and
    # another loss than the binomial's would not turn raw scores into probabilities by expit
    if getattr(model, "_preprocessor", None) is not None or type(model._loss) is not HalfBinomialLoss:
        return None
    if len(model.classes_) != 2 or any(len(it) != 1 for it in model._predictors):
        return None
    trees = [it[0] for it in model._predictors]
    if not trees:
        return None
    nodes = np.concatenate([t.nodes for t in trees])
    sizes = np.array([len(t.nodes) for t in trees], dtype=np.int64)
    return Forest(
        roots=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        value=nodes["value"].astype(np.float64),
        feature=nodes["feature_idx"].astype(np.int64),
        threshold=nodes["num_threshold"].astype(np.float64),
        missing_left=nodes["missing_go_to_left"].astype(np.bool_),
        left=nodes["left"].astype(np.int64),
        right=nodes["right"].astype(np.int64),
        leaf=nodes["is_leaf"].astype(np.bool_),
        baseline=float(np.ravel(model._baseline_prediction)[0]),
        n_features=int(model.n_features_in_),
    )


def raw(f: Forest, x: np.ndarray) -> np.ndarray:
    """The model's raw scores (log-odds) of the rows of `x` (n x the model's features)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != f.n_features:
        raise ValueError(f"X has {x.shape[-1] if x.ndim else 0} features, but the model expects {f.n_features}")
    return _walk(x, f.roots, f.value, f.feature, f.threshold, f.missing_left, f.left, f.right, f.leaf, f.baseline)


FEW = 2048  # rows: up to this many, the compiled walk; more, predict_proba's own (see below)


def probability(model, x: np.ndarray) -> np.ndarray:
    """P(click) of each row: `model.predict_proba(x)[:, 1]`, equal to the last bit. More than
    FEW rows go to `predict_proba` itself: its calls are then paid once for many rows and it
    walks them on every core, where the compiled walk uses one (100,000 logged rows of the
    live loop's champion: 0.19-0.21 s on 2 cores against 0.23-0.31 s)."""
    f = forest_of(model) if len(x) <= FEW else None
    if f is None:
        return model.predict_proba(x)[:, 1]
    return expit(raw(f, x))


def ready(model) -> None:
    """Lay the model's trees out and load the compiled walk now (a service loading a model
    does it before the first request, which would otherwise pay it)."""
    if (f := forest_of(model)) is not None:
        raw(f, np.zeros((1, f.n_features)))


def _walk(*args) -> np.ndarray:
    """newsrec._walk.walk, imported at the first call in a process (numba then compiles it,
    about a second, or loads it from its cache on disk) and called directly after that."""
    global _walk
    from newsrec._walk import walk

    _walk = walk
    return walk(*args)
