"""Prefect flow `monitoring`: the Evidently reports on the latest log window, then the drift
gate, then the trigger. A retrain decision emits the event `newsrec.drift.detected`; the
`retrain-on-drift` deployment (flows/deployments.py) runs the training flow on it. Run ad
hoc, `retrain="inline"` runs the training flow right here instead.
"""
from __future__ import annotations

import argparse
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.events import emit_event

from newsrec.config import Paths

DRIFT_EVENT = "newsrec.drift.detected"
RESOURCE = {"prefect.resource.id": "newsrec.monitoring", "prefect.resource.name": "newsrec monitoring"}


@task(name="report")
def report(end: str | None = None) -> dict:
    """`newsrec monitor`: reports and the gate's decision (also in reports/monitoring/decision.json)."""
    from monitoring.run import load_decision, monitor

    code = monitor(argparse.Namespace(params=None, end=end))
    decision = load_decision(Paths())
    for r in decision["reasons"]:
        get_run_logger().info(r)
    if code != 0:
        raise RuntimeError("; ".join(decision["reasons"]))
    return decision


@flow(name="monitoring")
def monitoring(end: str | None = None, retrain: Literal["event", "inline", "off"] = "event") -> dict:
    """Report, gate, trigger. Nothing is triggered for an empty or unreadable window."""
    decision = report(end)
    log = get_run_logger()
    if not decision["retrain"]:
        log.info("decision: keep the model")
        return decision
    if retrain == "event":
        event = emit_event(DRIFT_EVENT, resource=RESOURCE, payload={"window": decision["window"],
                                                                  "model_version": decision.get("model_version"),
                                                                  "reasons": decision["reasons"]})
        decision["event"] = str(event.id) if event else None
        log.info(f"decision: retrain; emitted {DRIFT_EVENT} ({decision['event']})")
    elif retrain == "inline":
        from flows.training import training

        log.info("decision: retrain; running the training flow")
        decision["training"] = training()
    return decision


if __name__ == "__main__":
    monitoring()
