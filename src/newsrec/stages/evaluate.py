"""Stage `evaluate`: per-impression metrics of the challenger on the test days against the
baselines, the oracle (simulated data) and the champion; realised engagement and quality
of each ranking, and what else it shows: category diversity, novelty, catalogue coverage
(reports/metrics.json, reports/evaluate.json, reports/plots/)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from newsrec import plots
from newsrec.beyond import beyond_accuracy
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.canonical import article_categories
from newsrec.data.io import read_json, write_json
from newsrec.features.request import fill_defaults
from newsrec.metrics import ranking_metrics
from newsrec.model import predict_in_parts, read_split
from newsrec.ranking import blend, popularity, realised

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry


@dataclass(frozen=True)
class Evaluation:
    """reports/evaluate.json; the per-scorer metrics go to reports/metrics.json."""

    model: dict[str, str]  # name, version
    champion: dict | None  # version and metrics of the champion on the same days
    realised: dict[str, dict[str, float]]  # ranking -> value@k
    rows: int
    impressions: int


def scorers(test: pd.DataFrame, model_scores: np.ndarray, p: Params) -> dict[str, np.ndarray]:
    """The model's scores and the baselines': popularity, random, quality and (on simulated
    data, where the truth is known) the oracle's true click probability."""
    rng = np.random.default_rng(p.train.seed)
    out = {
        "model": model_scores,
        "popularity": popularity(test["news_clicks_1d"], test["news_imps_1d"]),
        "random": rng.random(len(test)),
        "quality": test["news_quality"].fillna(0).to_numpy(),
    }
    if p.ingest.source == "sim":
        from newsrec.data.world import NewsWorld

        t = pd.to_datetime(test["request_time"], unit="s", utc=True)
        out["oracle"] = NewsWorld(p.world).click_probability(test["user_id"], test["news_id"], t)
    return out


@contextmanager
def _parts(p: Params, say: Say) -> Iterator:
    """None (score in this process), or on engine.kind dask a `run` on the cluster."""
    if p.engine.kind != "dask":
        yield None
        return
    from newsrec.adapters.dask import client, runner

    with client(p.engine, say) as c:
        yield runner(c, say, "test days scored")


def evaluate(p: Params, paths: Paths, registry: Registry, say: Say | None = None) -> Evaluation:
    """Score the test days with the registered challenger (reports/train.json) and judge it."""
    say = say or progress("evaluate")
    trained = read_json(paths.train)
    model, meta = registry.load_model(trained["version"])
    test, _ = read_split(paths.trainset, "test")
    day = pd.to_datetime(test["request_time"], unit="s", utc=True).dt.floor("D")  # a part per test day
    x, _ = fill_defaults(test, meta["defaults"])
    ver = registry.champion()
    with _parts(p, say) as run:
        challenger = predict_in_parts(model, x, day, run)
        if ver is not None:
            cm, cmeta = registry.load_model(ver)
            cx, _ = fill_defaults(test, cmeta["defaults"])
            by_champion = predict_in_parts(cm, cx, day, run)
    scores = scorers(test, challenger, p)
    g, y = test["impression_id"], test["clicked"]
    metrics = {name: ranking_metrics(g, y, s) for name, s in scores.items()}
    for name, m in metrics.items():
        say(f"{name:<11} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))
    champion = None
    if ver is not None:
        champion = {"version": ver, "metrics": ranking_metrics(g, y, by_champion)}
        say(f"champion v{ver}  " + "  ".join(f"{k} {v:.4f}" for k, v in champion["metrics"].items()))
    cats = article_categories(paths, p.ingest.source)
    real = realised_by_ranking(test, scores, x["news_quality"].to_numpy(), p, cats)
    for name, v in real.items():
        say(f"ranked by {name:<10} " + "  ".join(f"{k} {x_:.4f}" for k, x_ in v.items()))
    out = Evaluation(
        {"name": trained["model_name"], "version": trained["version"]}, champion, real, len(test), int(g.nunique())
    )
    write_json(paths.metrics, metrics)
    write_json(paths.evaluate, asdict(out))
    paths.plots.mkdir(parents=True, exist_ok=True)
    plots.save(plots.scorers(metrics), paths.plots / "metrics.png")
    with registry.run(run_id=trained["run_id"]) as run:
        for name, m in metrics.items():
            run.metrics(m, f"test.{name}.")
        for name, v in real.items():
            run.metrics(v, f"test.ranked_by_{name}.")
        run.artifact(str(paths.plots / "metrics.png"), "plots")
    return out


def realised_by_ranking(
    test: pd.DataFrame, scores: dict[str, np.ndarray], quality: np.ndarray, p: Params, categories: pd.Series
) -> dict[str, dict[str, float]]:
    """What the top k of each list gets when ranked by the model's engagement alone, by the
    blend, and by each baseline (on simulated data also the oracle: the same blend of the true
    click probability and quality): CTR and quality (true ones too, on simulated data), and
    category diversity, novelty and catalogue coverage (newsrec.beyond, `categories`: each
    article's category)."""
    g, r = test["impression_id"], p.ranking
    values = {"ctr": test["clicked"].to_numpy(float), "quality": quality}
    rankings = {
        "engagement": scores["model"],
        "blend": blend(scores["model"], quality, g, r.engagement_weight, r.quality_weight),
        "quality": quality,
        "popularity": scores["popularity"],
        "random": scores["random"],
    }
    if "oracle" in scores:
        from newsrec.data.world import NewsWorld

        arts, _ = NewsWorld(p.world).truth()
        true_quality = test["news_id"].map(arts.set_index("news_id")["quality"]).to_numpy()
        values |= {"true_ctr": scores["oracle"], "true_quality": true_quality}
        rankings["oracle"] = blend(scores["oracle"], true_quality, g, r.engagement_weight, r.quality_weight)
    cats = test["news_id"].map(categories).to_numpy()
    return {
        name: realised(s, g, values, r.k) | beyond_accuracy(g, test["news_id"], cats, s, test["clicked"], r.k)
        for name, s in rankings.items()
    }
