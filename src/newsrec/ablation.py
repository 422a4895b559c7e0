"""What each feature group and the training objective earn, on the same rows of the training
set (`make ablation`, newsrec.stages.ablation):

- ablation: the click model fitted again with one feature group removed (features.spec
  FEATURE_GROUPS), for each group; its test nDCG@10 and AUC against the model with every
  feature. A removed feature is held at one constant value in every row: a tree never
  splits on it, so the fit is the fit without it, through the same model interface.
- objectives: the pointwise classifier the pipeline trains (scikit-learn's
  HistGradientBoosting on log loss) against LightGBM on the same inputs, pointwise (binary
  log loss) and listwise (lambdarank, which optimises nDCG; rank_xendcg), with the same
  learning rate, leaves, leaf size, L2 and iteration budget, each stopping early on a tenth
  of the training impressions as the pipeline's model does. The one to keep is the best on
  validation nDCG@10; the test days only report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from newsrec.config import Train
from newsrec.features.spec import FEATURE_GROUPS, MODEL_FEATURES
from newsrec.metrics import auc, ndcg
from newsrec.model import fit, held_out, predict

POINTWISE = "pointwise: scikit-learn HistGradientBoosting, log loss (the pipeline's)"
LIGHTGBM = {  # name: LightGBM objective
    "pointwise: LightGBM, binary log loss": "binary",
    "listwise: LightGBM lambdarank (nDCG)": "lambdarank",
    "listwise: LightGBM rank_xendcg": "rank_xendcg",
}
STOP_SHARE = 0.1  # the share of the training impressions each fit stops early on
STOP_ROUNDS = 20  # rounds without improvement (as the pipeline's n_iter_no_change)


@dataclass(frozen=True)
class Split:
    """One split's filled model inputs, labels and impressions."""

    x: pd.DataFrame  # MODEL_FEATURES, filled
    y: np.ndarray
    groups: np.ndarray

    def scored(self, score: np.ndarray) -> dict[str, float]:
        return {"ndcg@10": ndcg(self.groups, self.y, score, 10), "auc": auc(self.groups, self.y, score)}


def without(x: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """The inputs with `features` held at 0 in every row (removed, for a tree model)."""
    return x.assign(**dict.fromkeys(features, 0.0)) if features else x


def ablate(train: Split, valid: Split, test: Split, p: Train, say: Callable[[str], None]) -> dict:
    """Per feature group: the features, test nDCG@10 and AUC without them, and the change
    against every feature; first the model with every feature itself."""
    out = {}
    for name, features in {"every feature": (), **FEATURE_GROUPS}.items():
        t0 = time.process_time()
        model = fit(without(train.x, features), pd.Series(train.y), p, sampled=True)  # downsampled as read
        got = {"features": list(features)}
        got |= {f"valid_{k}": v for k, v in valid.scored(predict(model, without(valid.x, features))).items()}
        got |= {f"test_{k}": v for k, v in test.scored(predict(model, without(test.x, features))).items()}
        got["fit_seconds"] = round(time.process_time() - t0, 2)
        out[name] = got
        if features:
            got["test_ndcg@10_change"] = got["test_ndcg@10"] - out["every feature"]["test_ndcg@10"]
            say(
                f"without {name} ({len(features)}): test nDCG@10 {got['test_ndcg@10']:.4f} "
                f"({got['test_ndcg@10_change']:+.4f}), AUC {got['test_auc']:.4f}"
            )
        else:
            say(f"every feature: test nDCG@10 {got['test_ndcg@10']:.4f}, AUC {got['test_auc']:.4f}")
    return out


def _contiguous(s: Split) -> np.ndarray:
    """Row order with each impression's rows together (a ranker's groups), stable."""
    return np.argsort(pd.factorize(s.groups)[0], kind="stable")


def _sizes(groups: np.ndarray) -> np.ndarray:
    """The sizes of the runs of equal values, in order (the rows of one group are together)."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.diff(np.r_[starts, len(groups)])


def fit_lightgbm(train: Split, objective: str, p: Train):
    """A LightGBM model of `objective` on the training split, the pipeline's settings, stopping
    early on STOP_SHARE of its impressions."""
    import lightgbm as lgb

    order = _contiguous(train)
    x, y, g = train.x[MODEL_FEATURES].to_numpy()[order], train.y[order], train.groups[order]
    stop = held_out(g) < STOP_SHARE
    kw = dict(
        objective=objective,
        n_estimators=p.max_iter,
        learning_rate=p.learning_rate,
        num_leaves=p.max_leaf_nodes,
        min_child_samples=p.min_samples_leaf,
        reg_lambda=p.l2_regularization,
        random_state=p.seed,
        n_jobs=1,
        verbose=-1,
    )
    done = [lgb.early_stopping(STOP_ROUNDS, verbose=False)]
    if objective == "binary":
        model = lgb.LGBMClassifier(**kw)
        model.fit(x[~stop], y[~stop], eval_set=[(x[stop], y[stop])], callbacks=done)
        return lambda m: model.predict_proba(m)[:, 1]
    model = lgb.LGBMRanker(**kw)
    model.fit(
        x[~stop],
        y[~stop],
        group=_sizes(g[~stop]),
        eval_set=[(x[stop], y[stop])],
        eval_group=[_sizes(g[stop])],
        eval_at=[10],
        callbacks=done,
    )
    return model.predict


def objectives(train: Split, valid: Split, test: Split, p: Train, pointwise: dict, say: Callable[[str], None]) -> dict:
    """Per objective: validation and test nDCG@10 and AUC and the fit's CPU seconds; `pointwise`
    the pipeline's model's (ablate's every-feature row). Also which one wins on validation."""
    keep = ("valid_ndcg@10", "valid_auc", "test_ndcg@10", "test_auc", "fit_seconds")
    out = {POINTWISE: {k: pointwise[k] for k in keep}}
    for name, objective in LIGHTGBM.items():
        t0 = time.process_time()
        score = fit_lightgbm(train, objective, p)
        seconds = round(time.process_time() - t0, 2)
        got = {f"valid_{k}": v for k, v in valid.scored(score(valid.x[MODEL_FEATURES].to_numpy())).items()}
        got |= {f"test_{k}": v for k, v in test.scored(score(test.x[MODEL_FEATURES].to_numpy())).items()}
        out[name] = got | {"fit_seconds": seconds}
        say(f"{name}: valid nDCG@10 {got['valid_ndcg@10']:.4f}, test {got['test_ndcg@10']:.4f}, {seconds:.1f} s")
    best = max(out, key=lambda k: out[k]["valid_ndcg@10"])
    return {"objectives": out, "best": best, "kept": POINTWISE if best == POINTWISE else best}
