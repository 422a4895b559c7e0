"""Prefect flow `simulate` (`make simulate`): simulated days of closed-loop traffic under
three retraining policies, on the same days and seeds. Wiring only: the days, the policies
and the model live in newsrec.simulate; the reports and the gate in monitoring/.

Writes reports/simulate.json and reports/simulate.png; each day's Evidently reports go
to reports/monitor/simulate/<policy>/<date>/ and to the workspace project
`newsrec-simulation` that `make ui` serves.
"""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows import entry
from newsrec import plots
from newsrec import simulate as sim
from newsrec.bootstrap import context
from newsrec.config import Params
from newsrec.data.io import write_json
from newsrec.economics import verdict
from newsrec.stages.features import feature_categories
from newsrec.stages.monitor import assess

PROJECT = "newsrec-simulation"


def _params(scenario: str | None) -> Params:
    p = context().params
    if scenario:
        p = p.model_copy(update={"simulate": p.simulate.model_copy(update={"scenario": scenario})})
    return p


@task(name="prepare")
def prepare(scenario: str | None) -> str:
    """Simulate the world and join its features; returns the folder it is saved in."""
    p, paths, log = _params(scenario), context().paths, get_run_logger()
    paths.simulate_data.parent.mkdir(exist_ok=True)
    data = sim.prepare(p, feature_categories(p), work=paths.simulate_data.parent, say=log.info)
    return str(sim.save_data(data, paths.simulate_data))


@task(name="policy", task_run_name="policy-{policy}")
def run_policy(policy: str, folder: str, scenario: str | None) -> list[sim.DayResult]:
    """Every simulated day under one policy, monitoring each day."""
    p, paths, log = _params(scenario), context().paths, get_run_logger()
    data = sim.load_data(Path(folder))
    first = sim.train(data, range(0, data.history_days), 1, p)
    return sim.run_policy(policy, data, first, judge(p, paths.monitor / "simulate", paths.evidently), p, say=log.info)


def judge(p: Params, out: Path, workspace: Path) -> sim.Judge:
    """The monitor stage's judgement of a simulated day (Evidently reports into `out`/<policy>/<date>/
    and the workspace project PROJECT, then the drift gate)."""

    def judged(reference, current, label: str) -> tuple[bool, list[str]]:
        pol, date = label.split()
        _, d = assess(
            reference,
            current,
            [date],
            p.monitor,
            out / pol / date,
            workspace,
            say=lambda m: None,
            project=PROJECT,
            html=False,
        )
        return d.retrain, d.reasons

    return judged


@task(name="report")
def report(results: dict[str, list[sim.DayResult]], seconds: float, scenario: str | None) -> dict:
    """reports/simulate.json and reports/simulate.png."""
    p, paths, log = _params(scenario), context().paths, get_run_logger()
    result = sim.summary(results, p, seconds)
    shock = result["shock_day"] is not None and "drift" in result["policies"]
    result["recovery"] = sim.recovery(result) if shock else None
    write_json(paths.simulate, result)
    plots.save(plots.simulate(result), paths.simulate_plot)
    for name, days in result["policies"].items():
        rec = (result["recovery"] or {}).get("policies", {}).get(name)
        by_metric = ", ".join(f"{m} {rec[m]:.3f}" for m in sim.RECOVERY) if rec else ""
        log.info(
            f"{name:>8}: {sum(d['retrained'] for d in days)} retrain(s), drift on days "
            f"{[d['day'] for d in days if d['drift']]}, final nDCG@10 {days[-1]['ndcg@10']:.4f}"
            + (f", recovery {rec['mean']:.3f} of its share of the oracle before the shock ({by_metric})" if rec else "")
        )
    log.info("economics: " + verdict(result["economics"]))
    log.info(
        f"{paths.simulate}, {paths.simulate_plot}; "
        f"{result['seconds_per_day']} s per simulated day ({len(results)} policies)"
    )
    return result


@flow(name="simulate", task_runner=ThreadPoolTaskRunner(max_workers=1))
def simulate(scenario: str | None = None) -> dict:
    """N simulated days: never retrain, retrain on a schedule, retrain on drift. The policies
    are independent: one after another in this process, or side by side on the Dask cluster
    (`engine.kind: dask`, flows.on_engine), the same results."""
    t0 = time.monotonic()
    folder = prepare(scenario)
    runs = {pol: run_policy.submit(pol, folder, scenario) for pol in _params(scenario).simulate.policies}
    results = {pol: r.result() for pol, r in runs.items()}
    return report(results, time.monotonic() - t0, scenario)


if __name__ == "__main__":
    import sys

    entry(simulate, sys.argv[1] if len(sys.argv) > 1 else None, engine=True)
