"""Prefect flow `monitor` (`make monitor`): the Evidently reports on the latest log window,
the drift gate, then the trigger. A retrain decision emits the event
`newsrec.drift.detected`; the `retrain-on-drift` deployment (flows/deployments.py) runs the
pipeline flow on it. Run ad hoc, `retrain="inline"` runs the pipeline flow right here.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.events import emit_event

from newsrec.bootstrap import context
from newsrec.stages.monitor import Monitoring
from newsrec.stages.monitor import monitor as monitor_stage

DRIFT_EVENT = "newsrec.drift.detected"
RESOURCE = {"prefect.resource.id": "newsrec.monitor", "prefect.resource.name": "newsrec monitor"}


@task(name="monitor")
def report(end: str | None = None) -> Monitoring:
    """The monitor stage: reports and the gate's decision (an unreadable window fails the task)."""
    ctx, log = context(), get_run_logger()
    decision = monitor_stage(ctx.params, ctx.paths, ctx.registry, end, say=log.info)
    return decision


@flow(name="monitor")
def monitor(end: str | None = None, retrain: Literal["event", "inline", "off"] = "event") -> dict:
    """Report, gate, trigger. Nothing is triggered for an empty or unreadable window."""
    decision = report(end)
    out, log = asdict(decision), get_run_logger()
    if not decision.retrain:
        log.info("decision: keep the model")
        return out
    if retrain == "event":
        event = emit_event(
            DRIFT_EVENT,
            resource=RESOURCE,
            payload={"window": decision.window, "model_version": decision.model_version, "reasons": decision.reasons},
        )
        out["event"] = str(event.id) if event else None
        log.info(f"decision: retrain; emitted {DRIFT_EVENT} ({out['event']})")
    elif retrain == "inline":
        from flows.pipeline import pipeline

        log.info("decision: retrain; running the pipeline flow")
        out["pipeline"] = pipeline()
    return out


if __name__ == "__main__":
    monitor()
