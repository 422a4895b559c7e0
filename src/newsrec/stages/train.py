"""Stage `train`: fit the click model on the training set, and a smaller configuration
beside it on the same rows; log the one the size gate picks to MLflow (params, metrics of
both, plots, model, lineage) and register it as `challenger` (reports/train.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from newsrec import lineage, metrics, plots
from newsrec.config import Params, Paths, Train
from newsrec.console import Say, progress
from newsrec.data.io import write_json
from newsrec.features.request import fill_defaults, fit_defaults
from newsrec.features.spec import MODEL_FEATURES, SERVICE
from newsrec.gates import size_decision
from newsrec.model import SKOPS_TRUSTED, fit, footprint, predict, read_split, scoring_costs

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
    # "full" and "smaller": each one's overrides of the train section, validation metrics,
    # bytes, trees, leaves and us_per_candidate; which one is registered, and why
    configurations: dict[str, dict] = field(default_factory=dict)
    registered: str = "full"
    size_reasons: list[str] = field(default_factory=list)


SIZE_ARTIFACT = "size.json"  # the run's copy of the size block, for a reused training


def train(
    p: Params, paths: Paths, registry: Registry, store: FeatureStore, force: bool = False, say: Say | None = None
) -> Trained:
    """Fit both configurations, log and register the one the size gate picks; an identical
    earlier training (same data, params, model and gate code) is reused unless `force`."""
    say = say or progress("train")
    categories = json.loads((paths.features / "categories.json").read_text())
    # the size gate's choice is part of what is registered: its metric and code count too
    key = lineage.training_key(
        paths.trainset,
        p.train.model_dump() | {"promote.metric": p.promote.metric},
        Path(fit.__code__.co_filename),
        Path(size_decision.__code__.co_filename),
    )
    done = None if force else registry.find_version("training_key", key)
    if done:  # this exact training already registered, e.g. by a run cut off before DVC recorded it
        registry.point_challenger(done["version"])
        out = Trained(**done, **(registry.run_json(done["run_id"], SIZE_ARTIFACT) or {}), reused=True)
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
    fitted = {name: _fit(*c, xt, tr["clicked"], xv, va) for name, c in configurations(p).items()}
    costs = scoring_costs({name: model for name, (model, _, _) in fitted.items()}, xv)  # side by side
    conf = {name: c | {"us_per_candidate": costs[name]} for name, (_, _, c) in fitted.items()}
    for name, c in conf.items():
        say(
            f"{name}: valid {p.promote.metric} {c[f'valid_{p.promote.metric}']:.4f}, {c['leaves']:,} leaves in "
            f"{c['trees']:,} trees, {c['bytes']:,} bytes, {c['us_per_candidate']:.2f} µs per candidate"
        )
    size = size_decision(
        conf["full"], conf["smaller"], f"valid_{p.promote.metric}", p.train.smaller_tolerance, p.train.prefer_smaller
    )
    chosen = "smaller" if size.ok else "full"
    model, pv, _ = fitted[chosen]
    valid = {k: v for k, v in conf[chosen].items() if k.startswith("valid_")}
    say(f"validation ({chosen}): " + ", ".join(f"{k} {v:.4f}" for k, v in valid.items()))
    for line in size.reasons:
        say(line)
    sha = lineage.git_sha(paths.root)
    hashes = lineage.dvc_hashes(paths.root, ["data/canonical", "data/features"])
    tags = {
        "git_sha": sha,
        "dvc.data/canonical": hashes["data/canonical"],
        "dvc.data/features": hashes["data/features"],
        "feature_service": SERVICE,
        "feature_service_version": store.service_version(),
        "training_key": key,
        "size.registered": chosen,
    }
    sized = {"configurations": conf, "registered": chosen, "size_reasons": size.reasons}
    with registry.run(run_name=f"train-{sha[:8]}") as run:
        run.tags(tags)
        run.params(
            {f"train.{k}": v for k, v in p.train.model_dump(exclude={"smaller"}).items()}
            | {f"train.smaller.{k}": v for k, v in p.train.smaller.overrides().items()}
            | {f"trainset.{k}": v for k, v in p.trainset.model_dump().items()}
            | {f"features.{k}": v for k, v in p.features.model_dump().items()}
            | {"rows.train": len(tr), "rows.valid": len(va), "n_iter": model.n_iter_}
        )
        run.metrics(valid)
        for name, c in conf.items():
            run.metrics({k: v for k, v in c.items() if k != "overrides"}, f"{name}.")
        run.text(json.dumps(sized, indent=1), SIZE_ARTIFACT)
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
    out = Trained(run.id, info.model_uri, registry.name, version, valid, **sized)
    write_json(paths.train, asdict(out))
    say(f"registered {registry.name} v{version} ({chosen} configuration) as challenger (run {run.id})")
    return out


def configurations(p: Params) -> dict[str, tuple[Train, dict]]:
    """Each configuration's train section and its overrides of p.train: full, then smaller."""
    return {"full": (p.train, {}), "smaller": (p.train.smaller_train(), p.train.smaller.overrides())}


def _fit(tp: Train, overrides: dict, xt: pd.DataFrame, y: pd.Series, xv: pd.DataFrame, va: pd.DataFrame) -> tuple:
    """One configuration fitted: the model, its validation probabilities, and its record
    (overrides, validation metrics, footprint)."""
    model = fit(xt, y, tp, sampled=True)
    pv = predict(model, xv)
    valid = validation_metrics(va["impression_id"], va["clicked"], pv)
    return model, pv, {"overrides": overrides, **valid, **footprint(model)}


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
