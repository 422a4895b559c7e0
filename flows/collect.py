"""Prefect flow `collect`: the served days (the prediction log joined with the outcomes) ->
data/collected, a day per task (newsrec.collect.collect_days). Under `engine.kind: dask` the
days run side by side on the cluster (flows.on_engine). The pipeline flow runs it as its
`collect` step on Dask and records the output with `dvc commit`; `dvc repro` runs the same
stage function through `newsrec collect`.
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from flows import entry, parts
from newsrec.bootstrap import context
from newsrec.stages.collect import collect as collect_stage


@flow(name="collect", task_runner=ThreadPoolTaskRunner(max_workers=1))
def collect() -> dict:
    """Every served day with outcomes, a task per day; what was collected."""
    ctx = context()
    return asdict(collect_stage(ctx.params, ctx.paths, get_run_logger().info, parts("collect-day")))


if __name__ == "__main__":
    entry(collect, engine=True)
