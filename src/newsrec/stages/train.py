"""Stage `train`: fit the click model on the training set, log it to MLflow (params,
metrics, plots, model, lineage) and register it as `challenger` (reports/train.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from newsrec import lineage, metrics, plots
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.io import write_json
from newsrec.features.request import fill_defaults, fit_defaults
from newsrec.features.spec import MODEL_FEATURES, SERVICE
from newsrec.model import SKOPS_TRUSTED, fit, predict, read_split

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore
    from newsrec.adapters.mlflow import Registry


@dataclass(frozen=True)
class Trained:
    """A registered model version (reports/train.json)."""

    run_id: str
    model_uri: str
    model_name: str
    version: str
    metrics: dict[str, float] = field(default_factory=dict)
    reused: bool = False  # this exact training was registered before


def train(
    p: Params, paths: Paths, registry: Registry, store: FeatureStore, force: bool = False, say: Say | None = None
) -> Trained:
    """Fit, log and register; an identical earlier training (same data, params and model
    code) is reused unless `force`."""
    say = say or progress("train")
    categories = json.loads((paths.features / "categories.json").read_text())
    key = lineage.training_key(paths.trainset, p.train.model_dump(), Path(fit.__code__.co_filename))
    done = None if force else registry.find_version("training_key", key)
    if done:  # this exact training already registered, e.g. by a run cut off before DVC recorded it
        registry.point_challenger(done["version"])
        out = Trained(**done, reused=True)
        write_json(paths.train, asdict(out))
        say(
            f"{registry.name} v{out.version} was trained on the same data, parameters and code "
            f"(training_key {key[:12]}): challenger points at it; no duplicate registered"
        )
        return out
    rate = p.train.negative_rate
    cols = [*MODEL_FEATURES, "clicked"]  # what a fit reads: no ids or keys held for the train rows
    tr, uniform = read_split(paths.trainset, "train", cols, rate=rate, seed=p.train.seed)  # downsampled as read
    va, _ = read_split(paths.trainset, "valid", ["impression_id", *cols])
    defaults = fit_defaults(tr[uniform], len(categories))  # medians of a uniform sample of the train rows
    (xt, filled), (xv, _) = fill_defaults(tr, defaults), fill_defaults(va, defaults)
    kept = f" (every click, {rate:.0%} of the rest: train.negative_rate)" if rate < 1 else ""
    say(f"fitting on {len(tr):,} rows{kept}, validating on {len(va):,}")
    model = fit(xt, tr["clicked"], p.train, sampled=True)
    pv = predict(model, xv)
    valid = validation_metrics(va["impression_id"], va["clicked"], pv)
    say("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in valid.items()))
    sha = lineage.git_sha(paths.root)
    hashes = lineage.dvc_hashes(paths.root, ["data/canonical", "data/features"])
    tags = {
        "git_sha": sha,
        "dvc.data/canonical": hashes["data/canonical"],
        "dvc.data/features": hashes["data/features"],
        "feature_service": SERVICE,
        "feature_service_version": store.service_version(),
        "training_key": key,
    }
    with registry.run(run_name=f"train-{sha[:8]}") as run:
        run.tags(tags)
        run.params(
            {f"train.{k}": v for k, v in p.train.model_dump().items()}
            | {f"trainset.{k}": v for k, v in p.trainset.model_dump().items()}
            | {f"features.{k}": v for k, v in p.features.model_dump().items()}
            | {"rows.train": len(tr), "rows.valid": len(va), "n_iter": model.n_iter_}
        )
        run.metrics(valid)
        run.metrics(filled, "filled.")
        run.figure(plots.roc(va["clicked"], pv), "plots/roc.png")
        run.figure(plots.calibration(va["clicked"], pv), "plots/calibration.png")
        imp = _importance(model, xv, va["clicked"], p.train.seed)
        run.figure(plots.importance(MODEL_FEATURES, *imp), "plots/importance.png")
        meta = {
            "features": MODEL_FEATURES,
            "defaults": defaults,
            "categories": categories,
            "feature_service": SERVICE,
        } | tags
        info = run.sklearn_model(model, xt.head(5), meta, SKOPS_TRUSTED)
        version = registry.register(info.model_uri, tags | {"run_id": run.id})
    out = Trained(run.id, info.model_uri, registry.name, version, valid)
    write_json(paths.train, asdict(out))
    say(f"registered {registry.name} v{version} as challenger (run {run.id})")
    return out


def validation_metrics(groups, y, p) -> dict[str, float]:
    """The ranking metrics on the validation day, plus global AUC and log loss."""
    from sklearn.metrics import log_loss, roc_auc_score

    valid = {f"valid_{k}": v for k, v in metrics.ranking_metrics(groups, y, p).items()}
    return valid | {"valid_global_auc": roc_auc_score(y, p), "valid_logloss": log_loss(y, p)}


def _importance(model, x: pd.DataFrame, y: pd.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.inspection import permutation_importance

    n = min(len(x), 20_000)
    idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
    r = permutation_importance(
        model, x.to_numpy()[idx], y.to_numpy()[idx], scoring="roc_auc", n_repeats=3, random_state=seed
    )
    return r.importances_mean, r.importances_std
