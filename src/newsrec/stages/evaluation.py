"""Judging stages: evaluate (metrics against baselines, oracle and champion), promote
(the gate, tags and model card) and rollback."""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from newsrec.config import Paths, load_params
from newsrec.stages.common import progress, read_json, write_json


def _scorers(test: pd.DataFrame, model_scores: np.ndarray, p, paths: Paths) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(p.train.seed)
    out = {"model": model_scores,
           "popularity": test["news_clicks_1d"].fillna(0).to_numpy() + 1e-6 * test["news_imps_1d"].fillna(0).to_numpy(),
           "random": rng.random(len(test)), "quality": test["news_quality"].fillna(0).to_numpy()}
    if p.ingest.source == "sim":  # ground truth exists: rank by the true click probability
        from newsrec.data.world import NewsWorld

        out["oracle"] = NewsWorld(p.world).click_probability(test["user_id"], test["news_id"], test["event_timestamp"])
    return out


def evaluate(args: argparse.Namespace) -> int:
    """Stage `evaluate`: per-impression metrics on the test days, realised engagement and quality."""
    from newsrec import plots
    from newsrec.adapters import mlflow as ml
    from newsrec.features import fill_defaults
    from newsrec.metrics import ranking_metrics
    from newsrec.model import predict
    from newsrec.ranking import blend, realised

    p, paths = load_params(args.params), Paths()
    say = progress("evaluate")
    trained = read_json(paths.reports / "train.json")
    ml.configure(paths.root, p.train.experiment)
    model, meta = ml.load_model(trained["model_name"], trained["version"])
    frame = pd.read_parquet(paths.root / "data" / "trainset" / "trainset.parquet")
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    x, _ = fill_defaults(test, meta["defaults"])
    scores = _scorers(test, predict(model, x), p, paths)
    g, y = test["impression_id"], test["clicked"]
    metrics = {name: ranking_metrics(g, y, s) for name, s in scores.items()}
    for name, m in metrics.items():
        say(f"{name:<11} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))
    champion = None
    ver = ml.alias_version(trained["model_name"], ml.CHAMPION)
    if ver is not None:
        cm, cmeta = ml.load_model(trained["model_name"], ver)
        cx, _ = fill_defaults(test, cmeta["defaults"])
        champion = {"version": ver, "metrics": ranking_metrics(g, y, predict(cm, cx))}
        say(f"champion v{ver}  " + "  ".join(f"{k} {v:.4f}" for k, v in champion["metrics"].items()))
    r = p.ranking
    quality = x["news_quality"].to_numpy()
    values = {"ctr": y.to_numpy(float), "quality": quality}
    if "oracle" in scores:
        from newsrec.data.world import NewsWorld

        arts, _ = NewsWorld(p.world).truth()
        values |= {"true_ctr": scores["oracle"],
                   "true_quality": test["news_id"].map(arts.set_index("news_id")["quality"]).to_numpy()}
    rankings = {"engagement": scores["model"], "quality": quality,
                "blend": blend(scores["model"], quality, g, r.engagement_weight, r.quality_weight)}
    real = {name: realised(s, g, values, r.k) for name, s in rankings.items()}
    for name, v in real.items():
        say(f"ranked by {name:<10} " + "  ".join(f"{k} {x_:.4f}" for k, x_ in v.items()))
    write_json(paths.reports / "metrics.json", metrics)
    write_json(paths.reports / "evaluation.json", {"model": {"name": trained["model_name"], "version": trained["version"]},
                                                   "champion": champion, "realised": real, "rows": len(test),
                                                   "impressions": int(g.nunique())})
    (paths.reports / "plots").mkdir(parents=True, exist_ok=True)
    plots.save(plots.scorers(metrics), paths.reports / "plots" / "metrics.png")
    with ml.run(run_id=trained["run_id"]) as run:
        for name, m in metrics.items():
            run.metrics(m, f"test.{name}.")
        for name, v in real.items():
            run.metrics(v, f"test.ranked_by_{name}.")
        run.artifact(str(paths.reports / "plots" / "metrics.png"), "plots")
    return 0


def promote(args: argparse.Namespace) -> int:
    """Stage `promote`: the gate decides; tags, model card and (maybe) the champion alias."""
    from newsrec.adapters import mlflow as ml
    from newsrec.gates import promotion_decision
    from newsrec.modelcard import model_card

    p, paths = load_params(args.params), Paths()
    say = progress("promote")
    trained, metrics = read_json(paths.reports / "train.json"), read_json(paths.reports / "metrics.json")
    ev = read_json(paths.reports / "evaluation.json")
    name, version = trained["model_name"], trained["version"]
    champ = ev["champion"]
    if champ and champ["version"] == version:
        champ = None
    decision = promotion_decision(metrics["model"], champ and champ["metrics"], metrics["popularity"], p.promote)
    ml.configure(paths.root, p.train.experiment)
    _, meta = ml.load_model(name, version)
    tags = {k: meta.get(k, "") for k in ("git_sha", "dvc.data/canonical", "dvc.data/features",
                                         "feature_service", "feature_service_version")}
    shown = dict(metrics) | ({f"champion v{champ['version']}": champ["metrics"]} if champ else {})
    card = model_card(name, version, trained["run_id"], decision.ok, decision.reasons, shown, ev["realised"],
                      tags, p.train.model_dump() | {"ranking": p.ranking.model_dump()}, meta["features"],
                      p.ingest.source)
    (paths.reports / "model_card.md").write_text(card)
    with ml.run(run_id=trained["run_id"]) as run:
        run.text(card, "model_card.md")
    ml.tag_version(name, version, {"gate.decision": "promoted" if decision.ok else "rejected",
                                   "gate.reasons": " | ".join(decision.reasons), "gate.metric": p.promote.metric})
    if decision.ok:
        history = [v for v in ml.champion_history(name) if v != version] + [version]
        ml.set_champion(name, version, history)
    write_json(paths.reports / "promotion.json", {"model": name, "version": version, "promoted": decision.ok,
                                                  "reasons": decision.reasons,
                                                  "champion": ml.alias_version(name, ml.CHAMPION)})
    for line in decision.reasons:
        say(line)
    say(f"{name} v{version}: {'PROMOTED to champion' if decision.ok else 'not promoted'}; "
        f"model card {paths.reports / 'model_card.md'}")
    return 0


def rollback(args: argparse.Namespace) -> int:
    """Move `champion` back to the previous champion (recorded at each promotion)."""
    from newsrec.adapters import mlflow as ml

    p, paths = load_params(args.params), Paths()
    ml.configure(paths.root, p.train.experiment)
    name = p.train.model_name
    history = ml.champion_history(name)
    if len(history) < 2:
        raise ValueError(f"{name}: no previous champion to roll back to (history: {history or 'empty'})")
    current, previous = history[-1], history[-2]
    ml.set_champion(name, previous, history[:-1])
    ml.tag_version(name, current, {"gate.rolled_back": f"champion moved back to v{previous}"})
    progress("rollback")(f"{name}: champion v{current} -> v{previous}")
    return 0
