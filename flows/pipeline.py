"""Prefect flow `pipeline` (`make pipeline`): the DVC stages as tasks, in order. DVC decides
what is stale, so a re-run (after a crash too) skips what is done; each task runs the
command dvc.yaml gives its stage. Retries where the failure can be transient: the SQLite
files of the Feast registry and of MLflow lock under a concurrent writer.

On `engine.kind: dask` the `collect` step is the collect flow (a Prefect task per served day
on the cluster), its output then recorded in dvc.lock with `dvc commit`, as `dvc repro`
would have.
"""

from __future__ import annotations

import subprocess

from prefect import flow, get_run_logger, task

from flows import Refused, entry, on_engine
from flows.collect import collect
from newsrec import procs
from newsrec.bootstrap import context
from newsrec.data.io import read_json

STAGES = ["world", "ingest", "collect", "validate", "features", "feast", "trainset", "train", "evaluate", "promote"]
RETRIES = {"feast": 2, "trainset": 1, "train": 1, "promote": 1}


class StageFailed(Refused):
    """A stage exited non-zero; its own output (in the task log) says why, traceback included
    if it crashed, so the flow adds none."""


def why(name: str, output: str, code: int) -> str:
    """The stage's reason in one line: the `newsrec <name>: error: ...` line its command ends
    an expected failure with, else where to look."""
    mine = [line for line in output.splitlines() if line.startswith(f"newsrec {name}: error: ")]
    said = mine[-1].split(": error: ", 1)[1] if mine else f"its command exited {code}; its output above says why"
    return f"stage {name}: {said} (nothing after it ran)"


@task(name="stage", task_run_name="{name}")
def stage(name: str) -> str:
    """`dvc repro --single-item <name>`: runs the stage only if its inputs changed."""
    out = dvc(["repro", "--single-item", name], name)
    return "ran" if f"Running stage '{name}'" in out else "up to date"


def dvc(args: list[str], name: str) -> str:
    """A dvc command in the project, its output to the task log; a failure is the stage's."""
    log, root = get_run_logger(), context().paths.root
    res = subprocess.run([procs.tool("dvc"), *args], cwd=root, capture_output=True, text=True)
    for line in (res.stdout + res.stderr).splitlines():
        if line.strip():
            log.info(line)
    if res.returncode != 0:
        raise StageFailed(why(name, res.stdout + res.stderr, res.returncode))
    return res.stdout


@task(name="stage", task_run_name="{name}")
def committed(name: str) -> str:
    """`dvc commit` of a stage whose command a flow ran itself: dvc.lock records its inputs
    and outputs as `dvc repro` would have."""
    dvc(["commit", "--force", name], name)
    return "ran"


@flow(name="pipeline")
def pipeline() -> dict:
    """Data, contract, features, training set, model, evaluation, promotion gate; what each
    stage did and the gate's decision (the promote stage's reports/promote.json)."""
    ctx = context()
    stages = [s for s in STAGES if not (s == "world" and ctx.params.ingest.source != "sim")]  # MIND: no simulator
    with procs.project_lock(ctx.paths.root, "flow pipeline", get_run_logger().info):
        done = {}
        for s in stages:
            if s == "collect" and ctx.params.engine.kind == "dask":  # a task per day on the cluster
                on_engine(collect)()
                done[s] = committed(s)
            else:
                done[s] = stage.with_options(retries=RETRIES.get(s, 0), retry_delay_seconds=5)(s)
    return {"stages": done, "promote": read_json(ctx.paths.promote) if ctx.paths.promote.exists() else None}


if __name__ == "__main__":
    entry(pipeline)
