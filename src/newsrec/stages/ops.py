"""`newsrec ui` and `newsrec down`: the three UIs as background processes on 127.0.0.1."""
from __future__ import annotations

import argparse

from newsrec import procs
from newsrec.config import Paths
from newsrec.stages.common import say

UIS = {  # name -> (port, health path, what it shows)
    "prefect": (4200, "/api/health", "Prefect UI: flow runs, deployments, events"),
    "mlflow": (5000, "/health", "MLflow UI: experiments, runs, the model registry"),
    "evidently": (8000, "/", "Evidently UI: drift and performance reports"),
}
HOST = "127.0.0.1"


def _cmd(name: str, paths: Paths) -> list[str]:
    port = str(UIS[name][0])
    if name == "prefect":
        return [procs.tool("prefect"), "server", "start", "--host", HOST, "--port", port]
    if name == "mlflow":
        paths.mlflow.mkdir(exist_ok=True)
        return [procs.tool("mlflow"), "ui", "--backend-store-uri", f"sqlite:///{paths.mlflow / 'mlflow.db'}",
                "--host", HOST, "--port", port]
    paths.evidently.mkdir(parents=True, exist_ok=True)
    return [procs.tool("evidently"), "ui", "--workspace", str(paths.evidently), "--host", HOST, "--port", port]


def ui(args: argparse.Namespace) -> int:
    """Start the Prefect server, the MLflow UI and the Evidently UI; print their addresses."""
    paths = Paths()
    for name in UIS:
        procs.start(paths.root, name, _cmd(name, paths))
    for name, (port, health, what) in UIS.items():
        url = f"http://{HOST}:{port}"
        procs.wait_http(url + health, 120, name, procs.log_file(paths.root, name))
        say(f"  {url:<24} {what}")
    say("flows started by make (pipeline, deploy, monitoring, simulate, demo) now report to the Prefect server; "
        "`make down` stops the UIs")
    return 0


def down(args: argparse.Namespace) -> int:
    """Stop the UIs and a background service started by the deploy flow."""
    root, known = Paths().root, [*UIS, "serve"]
    names = getattr(args, "names", None) or known
    if bad := [n for n in names if n not in known]:
        raise ValueError(f"unknown process(es) {bad}; known: {known}")
    for name in names:
        if procs.stop(root, name):
            say(f"stopped {name}")
    return 0
