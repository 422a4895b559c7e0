"""Prefect flow `simulate` (`make simulate`): simulated days of closed-loop traffic under
three retraining policies, on the same days and seeds. Wiring only: the days, the policies
and the model live in newsrec.simulation; the reports and the gate in monitoring/.

Writes reports/simulation.json and reports/simulation.png; each day's Evidently reports go
to reports/monitoring/simulation/<policy>/<date>/ and to the workspace project
`newsrec-simulation` that `make ui` serves.
"""
from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, get_run_logger, task

from newsrec import plots
from newsrec import simulation as sim
from newsrec.config import Params, Paths, load_params
from newsrec.stages.common import write_json
from newsrec.stages.features import feature_categories

PROJECT = "newsrec-simulation"


def _params(scenario: str | None) -> Params:
    p = load_params()
    if scenario:
        p = p.model_copy(update={"simulate": p.simulate.model_copy(update={"scenario": scenario})})
    return p


@task(name="prepare")
def prepare(scenario: str | None) -> str:
    """Simulate the world and join its features; returns the folder it is saved in."""
    p, paths, log = _params(scenario), Paths(), get_run_logger()
    (paths.root / "data").mkdir(exist_ok=True)
    data = sim.prepare(p, feature_categories(p), work=paths.root / "data", say=log.info)
    return str(sim.save_data(data, paths.root / "data" / "simulation"))


@task(name="policy", task_run_name="policy-{policy}")
def run_policy(policy: str, folder: str, scenario: str | None) -> list[sim.DayResult]:
    """Every simulated day under one policy, monitoring each day."""
    from monitoring.run import assess

    p, paths, log = _params(scenario), Paths(), get_run_logger()
    data = sim.load_data(Path(folder))
    out = paths.monitoring / "simulation"

    def judge(reference, current, label: str) -> tuple[bool, list[str]]:
        pol, date = label.split()
        _, d = assess(reference, current, [date], p.monitor, out / pol / date, paths.evidently,
                      say=lambda m: None, project=PROJECT, html=False)
        return d.retrain, d.reasons

    first = sim.train(data, range(0, data.history_days), 1, p)
    return sim.run_policy(policy, data, first, judge, p, say=log.info)


@task(name="report")
def report(results: dict[str, list[sim.DayResult]], seconds: float, scenario: str | None) -> dict:
    """reports/simulation.json and reports/simulation.png."""
    p, paths, log = _params(scenario), Paths(), get_run_logger()
    result = sim.summary(results, p, seconds)
    result["recovery"] = sim.recovery(result) if result["shock_day"] is not None else None
    write_json(paths.reports / "simulation.json", result)
    plots.save(plots.simulation(result), paths.reports / "simulation.png")
    for name, days in result["policies"].items():
        log.info(f"{name:>8}: {sum(d['retrained'] for d in days)} retrain(s), drift on days "
                 f"{[d['day'] for d in days if d['drift']]}, final nDCG@10 {days[-1]['ndcg@10']:.4f}")
    log.info(f"{paths.reports / 'simulation.json'}, {paths.reports / 'simulation.png'}; "
             f"{result['seconds_per_day']} s per simulated day ({len(results)} policies)")
    return result


@flow(name="simulate")
def simulate(scenario: str | None = None) -> dict:
    """N simulated days: never retrain, retrain on a schedule, retrain on drift."""
    t0 = time.monotonic()
    folder = prepare(scenario)
    results = {pol: run_policy(pol, folder, scenario) for pol in _params(scenario).simulate.policies}
    return report(results, time.monotonic() - t0, scenario)


if __name__ == "__main__":
    import sys

    simulate(sys.argv[1] if len(sys.argv) > 1 else None)
