"""Prefect flow `monitor` (`make monitor`): the Evidently reports on the latest log window,
the drift gate, then the trigger. A retrain decision emits the event
`newsrec.drift.detected`; the `retrain/on-drift` deployment (flows/deployments.py) runs the
retrain flow on it. Run ad hoc, `retrain="inline"` runs the retrain flow right here.

With `first` (`make monitor FROM=YYYY-MM-DD`) every logged day from then on is judged as its
own night, a Prefect task per day (side by side on the Dask cluster under `engine.kind: dask`);
the trigger then follows the last day's decision.

The flow never claims more than it knows: without a Prefect server an event reaches no
deployment, and with one it says which deployments listen (or that none does).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.events import emit_event
from prefect.task_runners import ThreadPoolTaskRunner

from flows import entry, in_process, parts
from newsrec.bootstrap import context
from newsrec.stages.monitor import Monitoring, monitor_days
from newsrec.stages.monitor import monitor as monitor_stage

DRIFT_EVENT = "newsrec.drift.detected"


def resource() -> dict[str, str]:
    """The event's resource: this project's monitor, so that only this project's retraining
    deployment reacts (another clone, or `make loop`'s project, has its own)."""
    import hashlib

    root = context().paths.root
    tag = f"{root.name}-{hashlib.sha1(str(root).encode()).hexdigest()[:8]}"
    return {"prefect.resource.id": f"newsrec.monitor.{tag}", "prefect.resource.name": f"newsrec monitor of {root}"}


def listeners() -> list[str] | None:
    """The enabled automations on the Prefect server that react to the drift event (a
    deployment's event trigger is one); None when there is no server (ephemeral mode)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return None
    with get_client(sync_client=True) as client:  # Prefect 3.8's server refuses a null sort or limit
        found = client.read_automations(sort="NAME_ASC", limit=200)
    return [a.name for a in found if a.enabled and DRIFT_EVENT in (getattr(a.trigger, "expect", None) or ())]


def announce(decision: Monitoring, who: list[str] | None) -> tuple[bool, str]:
    """Whether to emit the drift event, and the one line that says what will happen."""
    why = f"{DRIFT_EVENT} for window {','.join(decision.window)}"
    if who is None:
        return False, (
            f"no Prefect server: nothing would receive {why}, so nothing retrains; start one with `make ui` and "
            "`make deployments`, or retrain here with `python -m flows.monitor inline`"
        )
    if not who:
        return (
            True,
            f"emitted {why}; no deployment listens to it on this server, so nothing retrains (`make deployments`)",
        )
    return True, f"emitted {why}; it triggers {', '.join(who)}"


@task(name="monitor")
def report(end: str | None = None) -> Monitoring:
    """The monitor stage: reports and the gate's decision (an unreadable window fails the task)."""
    ctx, log = context(), get_run_logger()
    return monitor_stage(ctx.params, ctx.paths, ctx.registry, end, say=log.info)


def report_days(first: str, end: str | None) -> Monitoring:
    """The monitor stage over the days from `first`, a task per day; the last day's decision."""
    ctx, log = context(), get_run_logger()
    days = monitor_days(ctx.params, ctx.paths, ctx.registry, first, end, say=log.info, run=parts("monitor-day"))
    return days[-1]


@flow(name="monitor", task_runner=ThreadPoolTaskRunner(max_workers=1))
def monitor(
    end: str | None = None, retrain: Literal["event", "inline", "off"] = "event", first: str | None = None
) -> dict:
    """Report, gate, trigger. Nothing is triggered for an empty or unreadable window."""
    decision = report_days(first, end) if first else report(end)
    out, log = asdict(decision), get_run_logger()
    if not decision.retrain:
        log.info("decision: keep the model")
        return out
    if retrain == "event":
        emit, line = announce(decision, listeners())
        if emit:
            payload = {
                "window": decision.window,
                "since": decision.drift_since or decision.window[0],
                "until": decision.window[-1],
                "model_version": decision.model_version,
                "reasons": decision.reasons,
            }
            event = emit_event(DRIFT_EVENT, resource=resource(), payload=payload)
            out["event"] = str(event.id) if event else None
        out["trigger"] = line
        log.info(f"decision: retrain; {line}")
    elif retrain == "inline":
        from flows.retrain import retrain as retrain_flow

        log.info("decision: retrain; running the retrain flow here")
        out["retrain"] = in_process(
            retrain_flow, since=decision.drift_since or decision.window[0], until=decision.window[-1]
        )
    return out


if __name__ == "__main__":
    import argparse

    a = argparse.ArgumentParser(prog="python -m flows.monitor", description=monitor.description)
    a.add_argument("retrain", nargs="?", default="event", choices=["event", "inline", "off"])
    a.add_argument("--from", dest="first", help="judge every logged day from this one (YYYY-MM-DD), a task per day")
    a.add_argument("--end", help="the last day judged: YYYY-MM-DD, `traffic`, or today (UTC) by default")
    args = a.parse_args()
    entry(monitor, engine=bool(args.first), end=args.end, retrain=args.retrain, first=args.first)
