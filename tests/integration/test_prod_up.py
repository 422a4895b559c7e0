"""`newsrec up` / `newsrec down` on the prod profile: the servers one machine runs, each on a
port of the test's own and databases the test creates and drops, so a developer's running
stack is never touched. MLflow tracks through its server (the run in PostgreSQL, the
artifact in S3), the Prefect server keeps its tables in PostgreSQL, and Prometheus scrapes
the service's address and the Pushgateway. Then the lifecycle on those servers, on a small
world: the pipeline to the gate, the data pushed to S3, the champion served with its
features from Redis, a live day of readers, and monitoring's numbers in Prometheus; and
the MLflow server stopped in the middle of a training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml
from scratch import SMALL_SPLIT, SMALL_TRAIN, SMALL_WORLD, Service, env_for, make_project, prom_query, sh

from newsrec import procs
from newsrec.predlog import read_log
from newsrec.procs import answers, free_ports
from newsrec.profile import endpoints
from newsrec.stages.up import psql

TRACK = """
import mlflow, pathlib, sys
from newsrec.adapters.mlflow import Registry
r = Registry.connect(pathlib.Path("mlruns"), "newsrec", "newsrec-ranker")
with r.run(run_name="prod") as run:
    run.text("through the server", "notes/hello.txt")
    run.metrics({"x": 1.0})
print(mlflow.get_experiment(r.experiment_id).artifact_location, run.id)
"""


def _serving(proj, name: str, url: str) -> None:
    """`url` answers within a minute (one probe of a few seconds can miss on a machine the
    other test worker keeps busy); if not, the server's log says why."""
    try:
        procs.wait_http(url, 60, name)
    except TimeoutError as e:
        log = procs.log_file(proj, name)
        raise AssertionError(f"{e}\n{log.read_text()[-3000:] if log.exists() else 'no log'}") from None


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def test_up_starts_the_prod_servers_and_down_stops_them(tmp_path):
    proj = make_project(tmp_path / "proj", world=SMALL_WORLD, trainset=SMALL_SPLIT, train=SMALL_TRAIN)
    names = ("s3", "mlflow", "prefect", "pushgateway", "prometheus", "redis")
    port = dict(zip(names, free_ports(len(names))))  # six different ports
    env = {
        "NEWSREC_PROFILE": "prod",
        "NEWSREC_DB_PREFIX": f"newsrec_test_{os.getpid()}",
        "NEWSREC_REDIS": f"127.0.0.1:{port['redis']}",
        "NEWSREC_S3_ENDPOINT": f"http://127.0.0.1:{port['s3']}",
        "NEWSREC_S3_BUCKET": "newsrec-test",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port['mlflow']}",
        "PREFECT_API_URL": f"http://127.0.0.1:{port['prefect']}/api",
        "NEWSREC_PROMETHEUS": f"http://127.0.0.1:{port['prometheus']}",
        "NEWSREC_PUSHGATEWAY": f"http://127.0.0.1:{port['pushgateway']}",
    }
    ep = endpoints(env)
    bento_home = str(tmp_path / "bentoml")
    svc = Service(
        proj, tmp_path / "serve.log", BENTOML_HOME=bento_home, **env
    )  # its port, before up configures Prometheus
    try:
        out = sh(proj, "newsrec", "up", **env).stderr
        for name in ("s3", "mlflow", "prefect", "pushgateway", "prometheus"):
            assert f"http://127.0.0.1:{port[name]}" in out, out
        _serving(proj, "prod-mlflow", f"{ep.mlflow}/health")
        _serving(proj, "prod-prefect", f"{ep.prefect}/health")
        assert (
            subprocess.run(
                ["redis-cli", "-p", str(port["redis"]), "ping"], capture_output=True, text=True
            ).stdout.strip()
            == "PONG"
        )

        # MLflow through its server: the experiment's artifacts are the server's, the run is in PostgreSQL
        res = sh(proj, sys.executable, "-c", TRACK, **env)
        location, run_id = res.stdout.split()[-2:]
        assert location.startswith("mlflow-artifacts:"), location
        assert psql(ep, f"select count(*) from runs where run_uuid = '{run_id}'", ep.databases["mlflow"]) == "1"
        listing = _get(f"{ep.s3}/{ep.bucket}?list-type=2")
        assert f"{run_id}/artifacts/notes/hello.txt" in listing, listing
        assert not (proj / "mlruns" / "artifacts").exists()  # nothing written to a local artifact folder

        # DVC pushes to the S3 remote
        (proj / "sample.txt").write_text("versioned data")
        sh(proj, "dvc", "add", "-q", "sample.txt", **env)
        sh(proj, "dvc", "push", "-q", "-r", "s3", **env)
        assert "<Key>dvc/files/md5/" in _get(f"{ep.s3}/{ep.bucket}?list-type=2&prefix=dvc/")

        # the Prefect server's tables are in its PostgreSQL database
        assert (
            psql(
                ep,
                "select count(*) from information_schema.tables where table_name = 'flow_run'",
                ep.databases["prefect"],
            )
            == "1"
        )
        # Prometheus scrapes the service's address (params serve.host:serve.port) and the Pushgateway
        targets = json.loads(_get(f"{ep.prometheus}/api/v1/targets"))["data"]["activeTargets"]
        assert sorted(t["labels"]["job"] for t in targets) == ["newsrec", "pushgateway"], targets

        # the lifecycle on these servers
        sh(proj, "dvc", "repro", "promote", **env)
        sh(proj, "dvc", "push", "-q", "-r", "s3", **env)
        assert int(psql(ep, "select count(*) from model_versions", ep.databases["mlflow"])) >= 1
        assert int(psql(ep, "select count(*) from projects", ep.databases["feast"])) == 1
        assert not (proj / "data" / "feast").exists()  # Feast's registry and rows are on the servers
        sh(proj, "newsrec", "package", "--no-build", BENTOML_HOME=bento_home, **env)
        with svc:
            day = sh(proj, "newsrec", "traffic", "--days", "1", **env).stderr
            log = read_log(proj / "data" / "predictions")
            assert len(log) > 1000 and (~log["fallback"].astype(bool)).mean() > 0.5, day  # most readers known in Redis
            status = json.loads(_get(f"{svc.url}/status/"))
            built = json.loads((proj / "reports" / "feast.json").read_text())["store"]
            assert not status["errors"] and status["features_store"] != built  # the day advanced a copy, in Redis
            mon = sh(proj, "newsrec", "monitor", "--end", "traffic", **env).stderr
            assert f"metrics pushed to {ep.pushgateway}" in mon, mon
            assert json.loads((proj / "reports" / "monitor" / "decision.json").read_text())["status"] == "judged"
            wanted = {"newsrec_score_drift", 'bentoml_service_request_total{endpoint="/recommend"}'}
            deadline = time.monotonic() + 60
            while wanted and time.monotonic() < deadline:
                time.sleep(1)
                for q in list(wanted):
                    if prom_query(ep.prometheus, q):
                        wanted.discard(q)
            assert not wanted, f"no series in Prometheus for {wanted}"

            # the MLflow server stopped while a training run is under way: a clean failure, one
            # line; nothing registered, the champion still served
            versions = psql(ep, "select count(*) from model_versions", ep.databases["mlflow"])
            served = json.loads(_get(f"{svc.url}/status/"))["model_version"]
            running = "select count(*) from runs where status = 'RUNNING'"
            before_runs = int(psql(ep, running, ep.databases["mlflow"]))
            params = yaml.safe_load((proj / "params.yaml").read_text())
            params["train"]["max_iter"] += 1  # new training inputs: a run that would register a version
            (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            fast = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
            train = subprocess.Popen(
                ["newsrec", "train"], cwd=proj, env=env_for(proj, **env, **fast), stderr=subprocess.PIPE, text=True
            )
            deadline = time.monotonic() + 300
            while int(psql(ep, running, ep.databases["mlflow"])) == before_runs:
                assert train.poll() is None and time.monotonic() < deadline, train.communicate()[1][-3000:]
                time.sleep(0.2)
            assert procs.stop(proj, "prod-mlflow")
            err = train.communicate(timeout=300)[1]
            assert train.returncode != 0 and "cannot be reached" in err and "Traceback" not in err, err[-3000:]
            assert psql(ep, "select count(*) from model_versions", ep.databases["mlflow"]) == versions
            assert json.loads(_get(f"{svc.url}/status/"))["model_version"] == served
            sh(proj, "newsrec", "up", **env)  # starts what is missing: the MLflow server again
            _serving(proj, "prod-mlflow", f"{ep.mlflow}/health")
    finally:
        stopped = sh(proj, "newsrec", "down", check=False, **env).stderr
        subprocess.run(["redis-cli", "-p", str(port["redis"]), "shutdown", "nosave"], capture_output=True)
        for db in ep.databases.values():
            psql(ep, f'drop database if exists "{db}" with (force)')
    for name in ("prod-s3", "prod-mlflow", "prod-prefect", "prod-pushgateway", "prod-prometheus"):
        assert f"stopped {name}" in stopped, stopped
    assert not answers(f"{ep.mlflow}/health") and not answers(f"{ep.prefect}/health")
