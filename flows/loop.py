"""Prefect flow `loop` (`make loop DAYS=N SCENARIO=<name>`): live days through the real
stack, in the loop's own project (newsrec.stages.loop), on the Prefect server `make loop`
starts (or `make ui` runs):

1. the pipeline trains the first model on the logged days; it is deployed to the loop's service;
2. a process serves the loop project's deployments, among them `retrain/on-drift`;
3. each live day, the readers call the service (the store moving forward hour by hour),
   then the monitor flow judges the day; on drift its event triggers the retraining
   deployment (collect, train on the days since the drift began, gate, deploy), and the
   loop waits for that flow run to end (the night) before the next day.

Writes reports/loop.json and reports/loop.png in the shape of reports/simulate.json.
"""

from __future__ import annotations

import os
import time

from prefect import flow, get_run_logger, task

from flows import entry, in_process
from flows import simulate as simulate_flow
from flows.monitor import listeners
from flows.monitor import monitor as monitor_flow
from newsrec import plots
from newsrec import simulate as sim
from newsrec.bootstrap import context
from newsrec.data.io import write_json
from newsrec.economics import economics, verdict
from newsrec.stages import loop as lab_stage
from newsrec.stages.features import feature_categories
from newsrec.stages.serve import status
from newsrec.stages.traffic import traffic

POLICY = "drift"
STATIC = "never"  # the baseline the economics price the live policy against, simulated on the same days
# the largest difference, on any day, of the model's share of the oracle (ctr@10, ndcg@10,
# quality@10) between the live days and the same days simulated in process
TOLERANCE = 0.05


def _wait_for_retrain(after: float, timeout: float = 1800) -> tuple[str, dict[str, float]]:
    """The final state of the retrain flow run the drift event started after `after` (epoch
    s), and the seconds it took: in all, and in its `deploy` subflow (0 if it deployed nothing)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["on-drift"])),
                flow_run_filter=FlowRunFilter(),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=5,
            )
            mine = [r for r in runs if r.created and r.created.timestamp() >= after - 1]
            if mine and mine[0].state and mine[0].state.is_final():
                run = mine[0]
                subs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])),
                    flow_filter=FlowFilter(name=FlowFilterName(any_=["deploy"])),
                    sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                    limit=5,
                )
                deploy = sum(r.total_run_time.total_seconds() for r in subs)
                return run.state.name, {"retrain": run.total_run_time.total_seconds() - deploy, "deploy": deploy}
            time.sleep(1)
    raise TimeoutError(f"no retraining run finished within {timeout:.0f} s of the drift event")


@task(name="day", task_run_name="live-day-{day}")
def live_day(lab: lab_stage.Lab, day: int, scenario: str, shock_day: int) -> dict:
    """One live day: the readers, then the monitor flow's verdict, then (on drift) the night's
    retraining. Its seconds by part: the readers' (advance: moving the store forward hour by
    hour, requests, log: waiting for the service's log), monitoring, and the night (the
    event reaching the deployment, retraining, deploying)."""
    log = get_run_logger()
    ctx = context(root=lab.root)
    champion = ctx.registry.champion()
    served = traffic(ctx.params, ctx.paths, lab.url, 1, day, scenario, shock_day, say=log.info).per_day[0]
    t0, m0 = time.time(), time.monotonic()
    verdict = in_process(monitor_flow, end=served["date"], retrain="event")
    secs = dict(served["seconds"]) | {"monitor": round(time.monotonic() - m0, 1)}
    state, spent = None, 0.0
    if verdict["retrain"] and verdict.get("event"):
        n0 = time.monotonic()
        state, night = _wait_for_retrain(t0)
        secs |= {k: round(v, 1) for k, v in night.items()}
        spent = night["retrain"] + night["deploy"]  # the machine time the night's retraining took
        secs["night"] = round(time.monotonic() - n0, 1)
        log.info(f"the night's retraining ended {state}")
    after = context(root=lab.root).registry.champion()
    serving = status(lab.url)  # what the service answers with now (the deploy waited for every worker)
    secs["day"] = round(time.monotonic() - m0 + served["seconds"]["day"], 1)
    return served | {
        "model_version": served["model_versions"][0],
        "drift": bool(verdict["retrain"]),
        "retrained": state is not None,
        "retrain_seconds": round(spent, 1),
        "deployed": after != champion,
        "serving_after": serving["model_version"] if serving else None,
        "reasons": verdict["reasons"],
        "trigger": verdict.get("trigger"),
        "seconds": secs,
    }


@task(name="simulate")
def simulated(days: int, scenario: str, shock_day: int) -> dict:
    """The same live days simulated in process (`make simulate`'s drift policy, on the loop's
    world: its logged days, its readers and their clicks): the first model as the pipeline
    trains it, a retrain on the days since the drift began, each day judged by the monitor
    stage's gate; and the static policy (`never`) on the same days, what the economics price
    the live policy against."""
    ctx, log = context(), get_run_logger()
    p = ctx.params
    p = p.model_copy(
        update={"simulate": p.simulate.model_copy(update={"days": days, "scenario": scenario, "shock_day": shock_day})}
    )
    ctx.paths.simulate_data.parent.mkdir(parents=True, exist_ok=True)
    data = sim.prepare_live(
        p, feature_categories(p), scenario, shock_day, days, ctx.paths.simulate_data.parent, log.info
    )
    split = p.trainset.model_copy(update={"window_days": 0})
    first = sim.fit_split(data, data.history_days - 1, 1, p, split)

    def refit(start: int, end: int, now: sim.Served) -> sim.Served | None:
        window = split.model_copy(update={"window_days": end - start + 1})
        return sim.fit_split(data, end, now.version + 1, p, window, champion=now)

    judge = simulate_flow.judge(p, ctx.paths.monitor / "loop-simulated", ctx.paths.evidently)
    t0 = time.monotonic()
    days_run = sim.run_policy(POLICY, data, first, judge, p, say=log.info, refit=refit)
    seconds = time.monotonic() - t0  # seconds_per_day: the policy's days alone, as make simulate counts them
    static = sim.run_policy(STATIC, data, first, judge, p, say=log.info)  # what the economics compare with
    return sim.summary({POLICY: days_run, STATIC: static}, p, seconds)


SCENARIOS = ("interest_shock", "new_cohort", "none")  # new_category changes the logged days too


def check(days: int, scenario: str, shock_day: int, live_days: int) -> None:
    """Refuse, before anything runs, what the loop cannot live: one line saying why and what to do."""
    if scenario not in SCENARIOS:
        raise ValueError(f"SCENARIO={scenario}: the loop lives one of {', '.join(SCENARIOS)} (or shock)")
    if not 1 <= days <= live_days:
        raise ValueError(
            f"DAYS={days}: the world has {live_days} live days (world.live_days); ask for 1 to {live_days}"
        )
    if scenario != "none" and not 0 <= shock_day < days:
        raise ValueError(f"SHOCK_DAY={shock_day}: the shock must start on a live day, 0 to {days - 1}")


@flow(name="loop")
def loop(days: int | None = None, scenario: str | None = None, shock_day: int | None = None) -> dict:
    """N live days of `scenario` from live day `shock_day` (defaults: simulate.days,
    simulate.scenario, simulate.shock_day)."""
    from prefect.settings import PREFECT_API_URL

    log, t0 = get_run_logger(), time.monotonic()
    main = context()
    sp = main.params.simulate
    if main.params.ingest.source != "sim":
        raise ValueError(
            f"make loop lives the simulated world's days, and ingest.source is {main.params.ingest.source}: "
            "run it with the default source (make data SOURCE=sim)"
        )
    days, scenario = days or sp.days, scenario or sp.scenario
    shock = (sp.shock_day if shock_day is None else shock_day) if scenario != "none" else 0
    check(days, scenario, shock, main.params.world.live_days)
    lab = lab_stage.prepare(main.paths, PREFECT_API_URL.value(), say=log.info)
    lab_stage.run(lab, "dvc", "repro", "promote", say=log.info)
    lab_stage.run(lab, "newsrec", "deploy", say=log.info)
    lab_stage.start_deployments(lab)
    namespace = os.environ.get("NEWSREC_NAMESPACE")
    os.environ["NEWSREC_ROOT"] = str(lab.root)  # the monitor flow below judges the loop's project
    if "NEWSREC_NAMESPACE" in lab.env:  # prod: the live days below read and advance the loop's own stores
        os.environ["NEWSREC_NAMESPACE"] = lab.env["NEWSREC_NAMESPACE"]
    try:
        for _ in range(90):  # the deployment's trigger registered on the server
            if any("drift detected" in w for w in listeners() or []):
                break
            time.sleep(2)
        results = [live_day(lab, d, scenario, shock) for d in range(days)]
    finally:
        lab_stage.stop(lab)
        os.environ["NEWSREC_ROOT"] = str(main.paths.root)
        if namespace is None:
            os.environ.pop("NEWSREC_NAMESPACE", None)
        else:
            os.environ["NEWSREC_NAMESPACE"] = namespace
    result = {
        "scenario": scenario,
        "shock_day": shock if scenario != "none" else None,
        "days": days,
        "history_days": main.params.world.days,
        "train_window_days": sp.train_window_days,
        "seconds": round(time.monotonic() - t0, 1),
        "seconds_per_day": round((time.monotonic() - t0) / max(days, 1), 1),
        "project": str(lab.root),
        "policies": {POLICY: results},
    }
    result["recovery"] = sim.recovery(result, POLICY) if result["shock_day"] is not None else None
    run = simulated(days, scenario, shock)
    same = run["policies"][POLICY]
    result["simulated"] = {
        "policies": {POLICY: same},
        "seconds_per_day": run["seconds_per_day"],  # the policy-days alone, as make simulate counts them
        "agreement": sim.agreement(results, same),
    }
    if result["shock_day"] is not None:
        result["simulated"]["recovery"] = sim.recovery(result | {"policies": {POLICY: same}}, POLICY)
    # the live policy priced against the static model on the same readers (simulated: the loop lives one policy)
    result["economics"] = economics({POLICY: results, STATIC: run["policies"][STATIC]}, sp.economics, STATIC)
    result["simulated"]["economics"] = run["economics"]
    result["simulated"]["agreement"]["tolerance"] = TOLERANCE
    write_json(main.paths.loop, result)
    both = result | {"policies": {"live (the real stack)": results, "simulated in process": same}}
    plots.save(plots.simulate(both, "Live days, and the same days simulated"), main.paths.loop_plot)
    a = result["simulated"]["agreement"]
    log.info(
        f"the same days simulated in process: the share of the oracle differs by at most {a['max_share_gap']:.3f} "
        f"on a day (tolerance {TOLERANCE}); drift verdicts differ on days {a['drift_differs'] or 'none'}"
    )
    log.info("economics: " + verdict(result["economics"]))
    log.info(f"{main.paths.loop}, {main.paths.loop_plot}; {result['seconds_per_day']} s per live day")
    return result


if __name__ == "__main__":
    import signal
    import sys

    # a stopped `make loop` (SIGTERM) unwinds like Ctrl-C, so the loop's service and deployments stop too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    a = sys.argv[1:] + [""] * 3
    entry(loop, int(a[0]) if a[0] else None, a[1] or None, int(a[2]) if a[2] else None)
