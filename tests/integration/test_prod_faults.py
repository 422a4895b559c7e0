"""Faults on the prod profile's PostgreSQL: a private cluster of the test's own (initdb and
postgres refuse to run as root, so it runs as the `postgres` user, on a free port), the
MLflow and Prefect servers started on it by `newsrec up`, each on a port of its own; the
cluster restarted under them, and both serve again without being restarted themselves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from scratch import make_project, sh

from newsrec.procs import free_port, free_ports
from newsrec.profile import endpoints

TRACK = """
import sys
from pathlib import Path
from newsrec.adapters.mlflow import Registry
r = Registry.connect(Path("mlruns"), "newsrec", "newsrec-ranker")
with r.run(run_name=sys.argv[1]) as run:
    run.metrics({"x": 1.0})
print(run.id)
"""


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        pytest.skip(f"no PostgreSQL {name} on this machine")
    return str(found[-1])


def _as_postgres(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*run_as, *cmd], capture_output=True, text=True, check=check, timeout=120)


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _eventually(fn, seconds: float = 60):
    """fn() once it stops raising (a server's first call after the database came back may
    fail while its pool notices); the last error if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_mlflow_and_prefect_serve_again_after_postgresql_restarts(tmp_path):
    pg_ctl = _pg_bin("pg_ctl")
    data = Path(tempfile.mkdtemp(prefix="newsrec-pg-"))  # outside pytest's root-only folders
    shutil.chown(data, "postgres", "postgres")
    pg = free_port()
    _as_postgres(_pg_bin("initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres")
    opts = f"-p {pg} -k {data} -c listen_addresses=127.0.0.1"
    _as_postgres(pg_ctl, "-D", str(data / "db"), "-o", opts, "-l", str(data / "log"), "-w", "start")
    proj = make_project(tmp_path / "proj")
    names = ("s3", "mlflow", "prefect", "pushgateway", "prometheus", "redis")
    port = dict(zip(names, free_ports(len(names))))  # six different ports
    env = {
        "NEWSREC_PROFILE": "prod",
        "NEWSREC_PG_URL": f"postgresql://postgres@127.0.0.1:{pg}",
        "NEWSREC_DB_PREFIX": "newsrec_fault",
        "NEWSREC_REDIS": f"127.0.0.1:{port['redis']}",
        "NEWSREC_S3_ENDPOINT": f"http://127.0.0.1:{port['s3']}",
        "NEWSREC_S3_BUCKET": "newsrec-fault",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port['mlflow']}",
        "PREFECT_API_URL": f"http://127.0.0.1:{port['prefect']}/api",
        "NEWSREC_PROMETHEUS": f"http://127.0.0.1:{port['prometheus']}",
        "NEWSREC_PUSHGATEWAY": f"http://127.0.0.1:{port['pushgateway']}",
    }
    ep = endpoints(env)
    try:
        sh(proj, "newsrec", "up", **env)
        first = sh(proj, sys.executable, "-c", TRACK, "before", **env).stdout.split()[-1]
        flow = _post(f"{ep.prefect}/flows/", {"name": "newsrec-fault-before"})

        _as_postgres(pg_ctl, "-D", str(data / "db"), "-o", opts, "-l", str(data / "log"), "-m", "fast", "-w", "restart")

        second = _eventually(lambda: sh(proj, sys.executable, "-c", TRACK, "after", **env).stdout.split()[-1])
        again = _eventually(lambda: _post(f"{ep.prefect}/flows/", {"name": "newsrec-fault-after"}))
        assert second != first and again["id"] != flow["id"]
        with urllib.request.urlopen(f"{ep.mlflow}/api/2.0/mlflow/experiments/get-by-name?experiment_name=newsrec") as r:
            exp = json.loads(r.read())["experiment"]["experiment_id"]
        runs = _post(f"{ep.mlflow}/api/2.0/mlflow/runs/search", {"experiment_ids": [exp], "max_results": 10})["runs"]
        assert {r["info"]["run_id"] for r in runs} >= {first, second}  # both in the restarted database
        flows = _post(f"{ep.prefect}/flows/filter", {"flows": {"name": {"like_": "newsrec-fault"}}})
        assert {f["name"] for f in flows} == {"newsrec-fault-before", "newsrec-fault-after"}
    finally:
        sh(proj, "newsrec", "down", check=False, **env)
        subprocess.run(["redis-cli", "-p", str(port["redis"]), "shutdown", "nosave"], capture_output=True)
        _as_postgres(pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop", check=False)
        shutil.rmtree(data, ignore_errors=True)
