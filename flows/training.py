"""Prefect flow `training` (`make pipeline`): the DVC stages as tasks, in order. DVC decides
what is stale, so a re-run (after a crash too) skips what is done; each stage's command is
the one dvc.yaml runs. Retries where the failure can be transient: the SQLite files of the
Feast registry and of MLflow lock under a concurrent writer.
"""
from __future__ import annotations

import json
import subprocess

from prefect import flow, get_run_logger, task

from newsrec import procs
from newsrec.config import Paths, load_params

STAGES = ["world", "ingest", "validate", "features", "feast", "trainset", "train", "evaluate", "promote"]
RETRIES = {"feast": 2, "trainset": 1, "train": 1, "promote": 1}


@task(name="stage", task_run_name="{name}")
def stage(name: str) -> str:
    """`dvc repro --single-item <name>`: runs the stage only if its inputs changed."""
    log, root = get_run_logger(), Paths().root
    res = subprocess.run([procs.tool("dvc"), "repro", "--single-item", name], cwd=root, capture_output=True, text=True)
    for line in (res.stdout + res.stderr).splitlines():
        if line.strip():
            log.info(line)
    if res.returncode != 0:
        raise RuntimeError(f"stage {name} failed (exit {res.returncode}); nothing downstream runs")
    return "ran" if f"Running stage '{name}'" in res.stdout else "up to date"


@flow(name="training")
def training() -> dict:
    """Data, contract, features, training set, model, evaluation, promotion gate."""
    p, paths = load_params(), Paths()
    stages = [s for s in STAGES if not (s == "world" and p.ingest.source != "sim")]  # MIND data: no simulator
    done = {}
    for s in stages:
        done[s] = stage.with_options(retries=RETRIES.get(s, 0), retry_delay_seconds=5)(s)
    promotion = paths.reports / "promotion.json"
    return {"stages": done, "promotion": json.loads(promotion.read_text()) if promotion.exists() else None}


if __name__ == "__main__":
    training()
