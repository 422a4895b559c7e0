"""The BentoML service: POST /recommend over the champion model, Feast online features and
the prediction log; GET /status says what a worker serves. BentoML itself serves /healthz,
/readyz (through __is_ready__: the online store readable, the prediction log writable)
and /metrics (Prometheus: request count and latency; plus the counters below).

Thin by design: every decision is made by newsrec.recommend.Ranker. A new champion
(`make deploy`, `make rollback`) and a new or advanced online store (`make features`, the
live loop) are picked up while serving, without a restart.
"""

from __future__ import annotations

import gc
import os
import time
import warnings
from datetime import UTC, datetime

import bentoml
from bentoml.exceptions import InvalidArgument
from fastapi import FastAPI

from newsrec.adapters.bento import BENTO_MODEL
from newsrec.recommend import BadRequest, Recommendation, RecommendRequest, check_time
from services.guard import Deadline, Gate, Guard

MODEL_TAG = os.environ.get("NEWSREC_MODEL_TAG", f"{BENTO_MODEL}:latest")
# One OpenMP thread per scoring call: a request scores ~100 rows, and every request thread
# would otherwise keep its own team of spinning OpenMP threads (measured: throughput fell
# from ~125 to ~15 req/s under sustained load on 2 cores). Set before scikit-learn loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")
FALLBACKS = bentoml.metrics.Counter(name="newsrec_fallback_total", documentation="responses that used a fallback")
ERRORS = bentoml.metrics.Counter(name="newsrec_error_total", documentation="requests that failed inside the service")
MODEL_VERSION = bentoml.metrics.Gauge(
    name="newsrec_model_version",
    documentation="the registered model version a worker serves",
    multiprocess_mode="livemostrecent",
)
LOG_FAILED = bentoml.metrics.Counter(
    name="newsrec_log_failed_total", documentation="prediction-log rows whose write failed (quarantined or lost)"
)
LOG_DROPPED = bentoml.metrics.Counter(
    name="newsrec_log_dropped_total", documentation="prediction-log rows dropped: the writer's queue was full"
)
status = FastAPI(title="newsrec status")


def _serve():
    """serve from params.yaml (workers: processes, each with the model and the article cache)."""
    from newsrec.config import load_params

    return load_params().serve


SERVE = _serve()
DEADLINE = Deadline.in_services(SERVE.queue_target_services, SERVE.max_wait_ms)  # one per worker process
GATE = Gate(DEADLINE)  # the order the worker takes its requests up in, and which it sheds


@bentoml.asgi_app(status, path="/status")
@bentoml.service(name="newsrec", traffic={"timeout": 30}, workers=SERVE.workers)
class Recommender:
    model_ref = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        from pydantic.warnings import PydanticDeprecatedSince211

        from newsrec.adapters.bento import ServedModel
        from newsrec.adapters.feast import OnlineFeatures, load_feast
        from newsrec.bootstrap import context
        from newsrec.predlog import PredictionLog

        # BentoML 1.4 reads `model_fields` from each request's model instance, which pydantic
        # 2.11 deprecates. Feast, once imported, shows every DeprecationWarning "once" (its
        # filter goes first), and "once" starts over whenever a library changes the filters,
        # which pandas does on every request: the warning was formatted and logged on every
        # request. Ignored here, after Feast has put its filter in: it is BentoML's to change.
        load_feast()
        warnings.filterwarnings(
            "ignore", message="Accessing the 'model_fields' attribute", category=PydanticDeprecatedSince211
        )

        ctx = context()
        p = ctx.params
        self.model = ServedModel(MODEL_TAG, p.ranking)
        self.features = OnlineFeatures(
            ctx.paths.feature_repo, ctx.paths.online, p.serve.freshest_n, p.serve.store_wait_ms
        )
        # queue: responses; batch: rows; written every second under load and at once when the
        # traffic pauses for 20 ms, so a response is in the log soon after
        self.log = PredictionLog(
            ctx.paths.predictions,
            max_queue=2_000,
            batch=20_000,
            interval_s=1.0,
            idle_s=0.02,
            on_failed=LOG_FAILED.inc,
            on_dropped=LOG_DROPPED.inc,
        )
        # The objects loaded so far (model, libraries, the article table) live as long as the
        # worker: out of the collector's sight, a full collection no longer walks them. It
        # walked about 385k objects for 200-400 ms every few seconds under load, a stall that
        # made p99 and shedding (bench/serve.py, the 80% run: p99 867 -> 199 ms, 503s 114 -> 0).
        gc.collect()
        gc.freeze()

    def __is_ready__(self) -> bool:
        """Ready while the online store can be read and the prediction log written."""
        return self.features.readable() and self.log.healthy

    @status.get("/")
    def status(self) -> dict:
        """This worker's model version and the online store's last update."""
        return {
            "worker": bentoml.server_context.worker_index,
            "model_version": self.model.ranker.version,
            "model_tag": self.model.tag,
            "features_as_of": self.features.snapshot.as_of,
            "features_store": self.features.snapshot.store.name if self.features.snapshot.store else None,
            "features_reloads": self.features.reloads,  # whole article tables read
            "features_updates": self.features.updates,  # advances read in part (the pushed articles)
            "features_load_ms": round(self.features.load_seconds * 1000, 1),  # the last change's read
            "errors": [
                e for e in (self.model.error, self.features.error, self.features.read_error, self.log.error) if e
            ],
            "log": {
                k: getattr(self.log, k) for k in ("written", "dropped", "failed", "quarantined", "lost", "healthy")
            },
            # the worker's shedding rule now (services/guard.Gate): its mean time per request, the
            # queue target it makes, whether its queue stands (newest first), and the requests
            # waiting and shed so far
            "shedding": {
                "service_ms": round(DEADLINE.service * 1000, 2),
                "target_ms": round(DEADLINE.target * 1000, 1),
                "standing": GATE.standing,
                "waiting": len(GATE.waiting),
                "shed": DEADLINE.shed,
            },
        }

    @bentoml.api(route="/recommend", input_spec=RecommendRequest)
    def recommend(self, **fields) -> Recommendation:
        took_up = time.monotonic()
        try:
            req = RecommendRequest(**fields)
            snap = self.features.snapshot  # one store for the whole request, even if a newer one arrives
            check_time(req.request_time, snap.oldest, datetime.now(UTC), SERVE.max_future_skew)
            news, unknown = snap.lookup(req.candidates)
            user, why = self.features.user(snap, req.user_id)  # the store unreadable: a fallback, and why
            rec, scored = self.model.ranker.recommend(req, user, news, unknown, snap.as_of, why)
        except BadRequest as e:
            raise InvalidArgument(str(e)) from None
        except Exception:
            ERRORS.inc()
            raise
        if rec.fallback:
            FALLBACKS.inc()
        if rec.model_version.isdigit():
            MODEL_VERSION.set(int(rec.model_version))
        self.log.append(scored)
        DEADLINE.served(time.monotonic() - took_up)
        return rec

    @bentoml.on_shutdown
    def _flush(self) -> None:
        self.log.close()


Recommender.add_asgi_middleware(
    Guard,
    routes=("/recommend",),
    max_body_bytes=SERVE.max_body_bytes,
    max_concurrency=SERVE.max_concurrency,
    gate=GATE,
)
