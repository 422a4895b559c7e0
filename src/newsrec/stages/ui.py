"""`newsrec ui` and `newsrec down`: the three UIs as background processes on 127.0.0.1. On
the prod profile the Prefect and MLflow UIs are their servers' (`newsrec up` starts them)."""

from __future__ import annotations

from newsrec import procs
from newsrec.config import Paths
from newsrec.console import say
from newsrec.profile import profile
from newsrec.stages.up import SERVERS

UIS = {  # name -> (port, health path, what it shows)
    "prefect": (4200, "/api/health", "Prefect UI: flow runs, deployments, events"),
    "mlflow": (5000, "/health", "MLflow UI: experiments, runs, the model registry"),
    "evidently": (8000, "/", "Evidently UI: drift and performance reports"),
}
HOST = "127.0.0.1"
PROCESSES = [*UIS, "serve", *SERVERS]  # what `newsrec down` can stop
SERVED = ("prefect", "mlflow")  # on prod: the servers' own UIs


def url(name: str) -> str:
    return f"http://{HOST}:{UIS[name][0]}"


def _cmd(name: str, paths: Paths) -> list[str]:
    port = str(UIS[name][0])
    if name == "prefect":
        return [procs.tool("prefect"), "server", "start", "--host", HOST, "--port", port]
    if name == "mlflow":
        paths.mlflow.mkdir(exist_ok=True)
        return [
            procs.tool("mlflow"),
            "ui",
            "--backend-store-uri",
            f"sqlite:///{paths.mlflow / 'mlflow.db'}",
            "--host",
            HOST,
            "--port",
            port,
        ]
    paths.evidently.mkdir(parents=True, exist_ok=True)
    return [procs.tool("evidently"), "ui", "--workspace", str(paths.evidently), "--host", HOST, "--port", port]


def ui(paths: Paths, names: list[str] | None = None) -> dict[str, str]:
    """Start the Prefect server, the MLflow UI and the Evidently UI (or only `names`); their
    addresses. One already answering is left as it is."""
    names = names or list(UIS)
    if bad := [n for n in names if n not in UIS]:
        raise ValueError(f"unknown UI(s) {bad}; known: {list(UIS)}")
    prod = profile() == "prod"
    for name in names:
        if not procs.answers(url(name) + UIS[name][1]):
            if prod and name in SERVED:
                raise ConnectionError(f"the prod {name} server does not answer at {url(name)}: `make up PROFILE=prod`")
            procs.start(paths.root, name, _cmd(name, paths))
    for name in names:
        _, health, what = UIS[name]
        procs.wait_http(url(name) + health, 120, name, procs.log_file(paths.root, name))
        say(f"  {url(name):<24} {what}")
    say(
        "flows started by make (pipeline, deploy, monitor, simulate, loop, demo) now report to the Prefect server; "
        "`make down` stops the UIs"
    )
    return {name: url(name) for name in names}


def down(paths: Paths, names: list[str] | None = None) -> list[str]:
    """Stop the UIs, the background service and the prod servers `newsrec up` started (or
    only `names`); those that were running."""
    names = names or PROCESSES
    if bad := [n for n in names if n not in PROCESSES]:
        raise ValueError(f"unknown process(es) {bad}; known: {PROCESSES}")
    stopped = [n for n in names if procs.stop(paths.root, n)]
    for name in stopped:
        say(f"stopped {name}")
    return stopped
