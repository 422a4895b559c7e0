"""Prefect flow `retrain`: what the drift event triggers (the `retrain/on-drift` deployment).
Collect the served days, train on the days since the drift began (at most
simulate.train_window_days, set as trainset.window_days in params.yaml, so DVC and the run
record it), gate, and deploy the new champion into the running service if the gate
promotes it. Each step is the pipeline flow's or the deploy flow's own.
"""

from __future__ import annotations

import pandas as pd
from prefect import flow, get_run_logger

from flows import in_process
from flows.deploy import deploy
from flows.pipeline import pipeline
from newsrec.bootstrap import context
from newsrec.params_file import set_value
from newsrec.procs import project_lock


def window_days(since: str, until: str, most: int) -> int:
    """Days from the first drifting day to the last judged one, both counted, at most `most`."""
    return max(1, min((pd.Timestamp(until) - pd.Timestamp(since)).days + 1, most))


@flow(name="retrain")
def retrain(since: str, until: str) -> dict:
    """Retrain on the days since the drift began (`since`) up to the judged window's end (`until`)."""
    ctx, log = context(), get_run_logger()
    n = window_days(since, until, ctx.params.simulate.train_window_days)
    with project_lock(ctx.paths.root, "flow retrain", log.info):  # the window set is the one trained on
        set_value(ctx.paths.root / "params.yaml", "trainset", "window_days", str(n))
        log.info(f"drift since {since}: training on the last {n} day(s) up to {until} (trainset.window_days = {n})")
        done = in_process(pipeline)
    out = {"window_days": n, "pipeline": done, "deployed": None}
    if done["promote"] and done["promote"]["promoted"]:
        out["deployed"] = in_process(deploy)
    else:
        log.info("the gate kept the champion: nothing to deploy")
    return out
