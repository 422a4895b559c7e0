"""Training stages: trainset (Feast point-in-time retrieval) and train (MLflow-tracked)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from newsrec.config import Paths, load_params
from newsrec.stages.common import progress, write_json

KEEP = ["impression_id", "user_id", "news_id", "event_timestamp", "clicked", "split"]


def trainset(args: argparse.Namespace) -> int:
    """Stage `trainset`: the labeled impressions joined point-in-time to the FeatureService."""
    from newsrec.adapters import feast as fa
    from newsrec.data.canonical import read_table
    from newsrec.data.io import atomic_dir
    from newsrec.features import MODEL_FEATURES
    from newsrec.model import check_split, split_by_day

    p, paths = load_params(args.params), Paths()
    say = progress("trainset")
    imps = read_table(paths.table("impressions"))
    imps = imps[imps["clicked"].notna()]
    entities = pd.DataFrame({
        "impression_id": imps["impression_id"].to_numpy(), "user_id": imps["user_id"].to_numpy(),
        "news_id": imps["news_id"].to_numpy(), "event_timestamp": imps["time"].to_numpy(),
        "request_time": imps["time"].astype("int64").to_numpy() / 1e6,
        "clicked": imps["clicked"].astype(int).to_numpy()})
    say(f"{len(entities):,} labeled candidate rows -> Feast get_historical_features({fa.SERVICE})")
    frame = fa.historical(fa.store(paths.feature_repo), entities)
    frame["split"] = split_by_day(frame["event_timestamp"], p.train)
    check_split(frame["split"], frame["clicked"], p.train)
    frame = frame[KEEP + MODEL_FEATURES].sort_values(["event_timestamp", "impression_id", "news_id"])
    with atomic_dir(paths.root / "data" / "trainset") as tmp:
        frame.to_parquet(tmp / "trainset.parquet", index=False)
    counts = frame["split"].value_counts().to_dict()
    say(f"{len(frame):,} rows {counts}; missing values per feature: "
        f"{ {c: int(n) for c, n in frame[MODEL_FEATURES].isna().sum().items() if n} }")
    return 0


def train(args: argparse.Namespace) -> int:
    """Stage `train`: fit, log to MLflow (params, metrics, plots, model, lineage), register."""
    from newsrec import lineage, metrics, plots
    from newsrec.adapters import feast as fa
    from newsrec.adapters import mlflow as ml
    from newsrec.features import MODEL_FEATURES, fill_defaults, fit_defaults
    from newsrec.model import SKOPS_TRUSTED, fit, predict

    p, paths = load_params(args.params), Paths()
    say = progress("train")
    trainset_file = paths.root / "data" / "trainset" / "trainset.parquet"
    frame = pd.read_parquet(trainset_file)
    categories = json.loads((paths.features / "categories.json").read_text())
    key = lineage.training_key(trainset_file, p.train.model_dump(), Path(fit.__code__.co_filename))
    ml.configure(paths.root, p.train.experiment)
    done = None if getattr(args, "force", False) else ml.find_version(p.train.model_name, "training_key", key)
    if done:  # this exact training already registered, e.g. by a run cut off before DVC recorded it
        ml.point_challenger(p.train.model_name, done["version"])
        write_json(paths.reports / "train.json", {**done, "reused": True})
        say(f"{p.train.model_name} v{done['version']} was trained on the same data, parameters and code "
            f"(training_key {key[:12]}): challenger points at it; no duplicate registered")
        return 0
    tr, va = frame[frame["split"] == "train"], frame[frame["split"] == "valid"]
    defaults = fit_defaults(tr, len(categories))
    (xt, filled), (xv, _) = fill_defaults(tr, defaults), fill_defaults(va, defaults)
    say(f"fitting on {len(tr):,} rows, validating on {len(va):,}")
    model = fit(xt, tr["clicked"], p.train)
    pv = predict(model, xv)
    valid = {f"valid_{k}": v for k, v in metrics.ranking_metrics(va["impression_id"], va["clicked"], pv).items()}
    from sklearn.metrics import log_loss, roc_auc_score
    valid |= {"valid_global_auc": roc_auc_score(va["clicked"], pv), "valid_logloss": log_loss(va["clicked"], pv)}
    say("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in valid.items()))
    sha = lineage.git_sha(paths.root)
    hashes = lineage.dvc_hashes(paths.root, ["data/canonical", "data/features"])
    fs = fa.store(paths.feature_repo)
    tags = {"git_sha": sha, "dvc.data/canonical": hashes["data/canonical"],
            "dvc.data/features": hashes["data/features"], "feature_service": fa.SERVICE,
            "feature_service_version": fa.service_version(fs), "training_key": key}
    with ml.run(run_name=f"train-{sha[:8]}") as run:
        run.tags(tags)
        run.params({f"train.{k}": v for k, v in p.train.model_dump().items()}
                          | {f"features.{k}": v for k, v in p.features.model_dump().items()}
                          | {"rows.train": len(tr), "rows.valid": len(va), "n_iter": model.n_iter_})
        run.metrics(valid)
        run.metrics(filled, "filled.")
        run.figure(plots.roc(va["clicked"], pv), "plots/roc.png")
        run.figure(plots.calibration(va["clicked"], pv), "plots/calibration.png")
        imp = _importance(model, xv, va["clicked"], p.train.seed)
        run.figure(plots.importance(MODEL_FEATURES, *imp), "plots/importance.png")
        meta = {"features": MODEL_FEATURES, "defaults": defaults, "categories": categories,
                "feature_service": fa.SERVICE} | tags
        info = ml.log_sklearn_model(model, xt.head(5), meta, SKOPS_TRUSTED)
        version = ml.register(info.model_uri, p.train.model_name, tags | {"run_id": run.id})
    out = {"run_id": run.id, "model_uri": info.model_uri, "model_name": p.train.model_name,
           "version": version, "metrics": valid}
    write_json(paths.reports / "train.json", out)
    say(f"registered {p.train.model_name} v{version} as challenger (run {run.id})")
    return 0


def _importance(model, x: pd.DataFrame, y: pd.Series, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.inspection import permutation_importance

    n = min(len(x), 20_000)
    idx = np.random.default_rng(seed).choice(len(x), n, replace=False)
    r = permutation_importance(model, x.to_numpy()[idx], y.to_numpy()[idx], scoring="roc_auc",
                               n_repeats=3, random_state=seed)
    return r.importances_mean, r.importances_std
