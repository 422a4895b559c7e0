"""The BentoML service: POST /recommend over the champion model, Feast online features and
the prediction log. BentoML itself serves /healthz, /readyz (through __is_ready__) and
/metrics (Prometheus: request count and latency; plus the counters below).

Thin by design: every decision is made by newsrec.recommend.Ranker.
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml

from newsrec.adapters.bento import BENTO_MODEL
from newsrec.recommend import Recommendation, RecommendRequest

MODEL_TAG = os.environ.get("NEWSREC_MODEL_TAG", f"{BENTO_MODEL}:latest")
# One OpenMP thread per scoring call: a request scores ~100 rows, and every request thread
# would otherwise keep its own team of spinning OpenMP threads (measured: throughput fell
# from ~125 to ~15 req/s under sustained load on 2 cores). Set before scikit-learn loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
FALLBACKS = bentoml.metrics.Counter(name="newsrec_fallback_total", documentation="responses that used a fallback")
ERRORS = bentoml.metrics.Counter(name="newsrec_error_total", documentation="requests that failed inside the service")


def _workers() -> int:
    """serve.workers from params.yaml (processes, each with the model and the article cache)."""
    from newsrec.config import load_params

    return load_params().serve.workers


@bentoml.service(name="newsrec", traffic={"timeout": 30}, workers=_workers())
class Recommender:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        from newsrec.adapters.feast import ArticleCache
        from newsrec.adapters.mlflow import load_model_dir
        from newsrec.bootstrap import context
        from newsrec.predlog import PredictionLog
        from newsrec.recommend import Ranker

        ctx = context()
        p = self.params = ctx.params
        stored = bentoml.models.get(MODEL_TAG)
        model, meta = load_model_dir(Path(stored.path_of("mlflow_model")))
        self.ranker = Ranker.of(model, stored.info.labels.get("version", "?"), meta, p.ranking)
        self.articles = ArticleCache(ctx.feature_store, p.serve.freshest_n, p.serve.cache_seconds)
        self.log = PredictionLog(ctx.paths.predictions, max_queue=2_000, batch=20_000)  # queue: responses; batch: rows

    def __is_ready__(self) -> bool:
        return self.ranker is not None and self.articles.reachable()

    @bentoml.api(route="/recommend", input_spec=RecommendRequest)
    def recommend(self, **fields) -> Recommendation:
        try:
            req = RecommendRequest(**fields)
            user = self.articles.user(req.user_id)
            news, unknown = self.articles.lookup(req.candidates)
            rec, scored = self.ranker.recommend(req, user, news, unknown)
        except Exception:
            ERRORS.inc()
            raise
        if rec.fallback:
            FALLBACKS.inc()
        self.log.append(scored)
        return rec

    @bentoml.on_shutdown
    def _flush(self) -> None:
        self.log.close()
