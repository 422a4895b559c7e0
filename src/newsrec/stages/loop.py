"""The project `make loop` lives its days in: loop/ under this one, a copy of its pipeline
(code, params, feature repo, DVC config) that shares its DVC cache, with a data folder,
MLflow store, BentoML store, prediction log and service of its own. So the live loop runs
every real part (DVC, Great Expectations, Feast, MLflow, BentoML, Evidently, Prefect)
while this project's data, models and champion stay as they are.

The Prefect orchestration is flows/loop.py; this module only prepares and starts things.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from newsrec import procs
from newsrec.config import Paths
from newsrec.console import Say, progress
from newsrec.data.io import write_text
from newsrec.profile import endpoints, profile

COPIED = ("src", "feature_repo")
FILES = ("dvc.yaml", ".dvcignore", ".gitignore", "params.yaml")


@dataclass(frozen=True)
class Lab:
    root: Path
    url: str  # its service
    env: dict[str, str]  # what its processes run with


def prepare(paths: Paths, prefect_url: str, say: Say | None = None) -> Lab:
    """A fresh loop/ project: the copy, its own service port, the shared DVC cache."""
    say = say or progress("loop")
    root = paths.root / "loop"
    for name in ("serve", "deployments"):  # a loop left running by an interrupted run
        procs.stop(root, name) if root.exists() else None
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for d in COPIED:
        shutil.copytree(paths.root / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in FILES:
        shutil.copy(paths.root / f, root / f)
    shutil.copytree(paths.root / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache", "config.local"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    port = procs.free_port()
    params["serve"].update(host="127.0.0.1", port=port)
    params["train"]["experiment"] = "newsrec-loop"  # its own runs (and no training restored from this project's cache)
    write_text(root / "params.yaml", yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "NEWSREC_ROOT": str(root),
        "BENTOML_HOME": str(root / "bentoml"),
        "PREFECT_API_URL": prefect_url,
        "PATH": f"{Path(procs.tool('python')).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("NEWSREC_PREDICTIONS", None)
    if profile() == "prod":  # the servers are shared: the loop gets its own registered model and Feast stores
        params["train"]["model_name"] += "-loop"
        write_text(root / "params.yaml", yaml.safe_dump(params, sort_keys=False))
        env["NEWSREC_NAMESPACE"] = f"{endpoints().feast_namespace}_loop"
    else:  # its own files: mlruns/ in the loop's project
        env.pop("MLFLOW_TRACKING_URI", None)
    for cmd in (
        ["git", "init", "-q"],
        [procs.tool("dvc"), "config", "--local", "cache.dir", str(paths.root / ".dvc" / "cache")],
    ):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    say(f"the loop's project: {root} (service on port {port}, DVC cache shared with {paths.root})")
    return Lab(root, f"http://127.0.0.1:{port}", env)


def run(lab: Lab, *args: str, say: Say | None = None) -> str:
    """A command in the loop's project; its output, or an error naming the command and its last lines."""
    res = subprocess.run(list(args), cwd=lab.root, env=lab.env, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"loop: `{' '.join(args)}` failed (exit {res.returncode}):\n{tail}")
    if say:
        for line in res.stderr.splitlines():
            if line.startswith("["):
                say(line)
    return res.stdout + res.stderr


def start_deployments(lab: Lab) -> None:
    """Serve the loop project's deployments (retrain on its drift event) in the background."""
    procs.start(lab.root, "deployments", [procs.tool("python"), "-m", "flows.deployments"], env=lab.env)


def stop(lab: Lab) -> None:
    for name in ("serve", "deployments"):
        procs.stop(lab.root, name)
