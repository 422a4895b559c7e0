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
  of the training impressions as the pipeline's model does. Which to keep is decided on
  validation nDCG@10 (the test days only report): another objective replaces the pipeline's
  when it beats it by more than the pipeline's own fits move with the seed (`noise`).
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
SEEDS = 3  # the pipeline's model fitted again with this many other seeds: how far apart fits land by chance


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
    early on STOP_SHARE of its impressions (which ones: by p.seed, as the pipeline's model's)."""
    import lightgbm as lgb

    order = _contiguous(train)
    x, y, g = train.x[MODEL_FEATURES].to_numpy()[order], train.y[order], train.groups[order]
    shift = np.random.default_rng(p.seed).random()
    stop = (held_out(g) + shift) % 1.0 < STOP_SHARE
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
        model.fit(x[~stop], y[~stop], eval_X=(x[stop],), eval_y=(y[stop],), callbacks=done)
        return lambda m: model.predict_proba(m)[:, 1]
    model = lgb.LGBMRanker(**kw)
    model.fit(
        x[~stop],
        y[~stop],
        group=_sizes(g[~stop]),
        eval_X=(x[stop],),
        eval_y=(y[stop],),
        eval_group=[_sizes(g[stop])],
        eval_at=[10],
        callbacks=done,
    )
    return model.predict


def _pointwise(train: Split, p: Train):
    model = fit(train.x, pd.Series(train.y), p, sampled=True)
    return lambda m: predict(model, m)


def objectives(
    train: Split, valid: Split, test: Split, p: Train, say: Callable[[str], None], pipeline: dict | None = None
) -> dict:
    """Per objective, each fitted with the pipeline's seed and SEEDS more (what a seed moves:
    which rows early stopping holds out): the mean validation and test nDCG@10 and AUC, the
    range of each nDCG@10 over the seeds, and the fit's CPU seconds. Also which one is best on
    mean validation nDCG@10, and which to keep: the pipeline's, unless another's worst seed
    beats its best on validation (more than chance). `pipeline`: the pipeline's model with its
    own seed already measured (ablate's every-feature row), not fitted again."""
    fits = {POINTWISE: _pointwise} | {n: (lambda t, q, o=o: fit_lightgbm(t, o, q)) for n, o in LIGHTGBM.items()}
    seeds = range(p.seed, p.seed + 1 + SEEDS)
    out = {}
    for name, fitter in fits.items():
        runs = {}
        for seed in seeds:
            if name == POINTWISE and seed == p.seed and pipeline:
                runs[str(seed)] = {k: pipeline[k] for k in ("valid_ndcg@10", "valid_auc", "test_ndcg@10", "test_auc")}
                runs[str(seed)]["fit_seconds"] = pipeline["fit_seconds"]
                continue
            t0 = time.process_time()
            score = fitter(train, p.model_copy(update={"seed": seed}))
            seconds = time.process_time() - t0
            got = {f"valid_{k}": v for k, v in valid.scored(score(valid.x[MODEL_FEATURES].to_numpy())).items()}
            got |= {f"test_{k}": v for k, v in test.scored(score(test.x[MODEL_FEATURES].to_numpy())).items()}
            runs[str(seed)] = got | {"fit_seconds": seconds}
        mean = {k: float(np.mean([r[k] for r in runs.values()])) for k in next(iter(runs.values()))}
        rng = {f"{k}_range": [min(r[k] for r in runs.values()), max(r[k] for r in runs.values())] for k in RANGED}
        out[name] = mean | rng | {"fit_seconds": round(mean["fit_seconds"], 2), "seeds": runs}
        say(
            f"{name}: valid nDCG@10 {mean['valid_ndcg@10']:.4f} ({_span(rng['valid_ndcg@10_range'])}), "
            f"test {mean['test_ndcg@10']:.4f} ({_span(rng['test_ndcg@10_range'])}), {len(runs)} seeds"
        )
    best = max(out, key=lambda k: out[k]["valid_ndcg@10"])
    ours, theirs = out[POINTWISE]["valid_ndcg@10_range"], out[best]["valid_ndcg@10_range"]
    kept = best if theirs[0] > ours[1] else POINTWISE
    if kept != POINTWISE:
        why = (
            f"{best} beats the pipeline's on validation nDCG@10 with every seed ({_span(theirs)} against "
            f"{_span(ours)}): it should replace it"
        )
    elif best == POINTWISE:
        why = f"the pipeline's stays: it is the best on validation nDCG@10 ({out[best]['valid_ndcg@10']:.4f})"
    else:
        why = (
            f"the pipeline's stays: {best} is best on mean validation nDCG@10 ({out[best]['valid_ndcg@10']:.4f} "
            f"against {out[POINTWISE]['valid_ndcg@10']:.4f}), but the seeds' ranges overlap ({_span(theirs)} "
            f"against {_span(ours)}): no more than chance"
        )
    say(why)
    return {"objectives": out, "best": best, "kept": kept, "why": why}


RANGED = ("valid_ndcg@10", "test_ndcg@10")


def _span(r: list[float]) -> str:
    return f"{r[0]:.4f}-{r[1]:.4f}"
