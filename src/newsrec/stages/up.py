"""`newsrec up` / `newsrec down`: the prod profile's servers on one machine.

PostgreSQL and Redis are the machine's: started if they are not running (installed from
Debian's packages where missing, and said so), never stopped by `down`. The project's own
servers run as background processes on 127.0.0.1 (a pid file and a log each under .run/):
the S3-compatible endpoint (moto's server mode, the local stand-in for S3), the MLflow
tracking server (PostgreSQL, artifacts proxied to S3), the Prefect server (PostgreSQL) and
Prometheus (scraping the service). Addresses come from newsrec.profile.endpoints.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from newsrec import procs
from newsrec.config import Params, Paths
from newsrec.console import say
from newsrec.profile import Endpoints, endpoints

SERVERS = (
    "prod-s3",
    "prod-mlflow",
    "prod-prefect",
    "prod-pushgateway",
    "prod-prometheus",
)  # what `down` stops, in reverse
WAIT_S = 180


def _host_port(url: str, default: int) -> tuple[str, int]:
    u = urlsplit(url if "://" in url else f"tcp://{url}")
    return u.hostname or "127.0.0.1", u.port or default


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not listening(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} does not answer on {host}:{port} after {WAIT_S} s")
        time.sleep(0.5)


def _apt_install(*packages: str) -> None:
    """Install Debian packages (the first install on a machine takes a while: said first)."""
    say(f"installing {' '.join(packages)} from Debian's packages (once per machine)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    t0 = time.monotonic()
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd)}` failed: {res.stderr.strip()[-400:]}")
    say(f"installed {' '.join(packages)} in {time.monotonic() - t0:.0f} s")


def ensure_postgres(ep: Endpoints) -> None:
    """PostgreSQL answering at the endpoint: started (or installed) here if it is local."""
    host, port = _host_port(ep.postgres, 5432)
    if listening(host, port):
        return
    if host not in ("127.0.0.1", "localhost"):
        raise ConnectionError(f"PostgreSQL at {host}:{port} does not answer (NEWSREC_PG_URL)")
    if not shutil.which("pg_ctlcluster"):
        _apt_install("postgresql")
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()
    version, name = (clusters[0], clusters[1]) if len(clusters) >= 2 else ("", "")
    say(f"starting PostgreSQL {version} cluster {name}")
    subprocess.run(["pg_ctlcluster", version, name, "start"], check=False, capture_output=True)
    _wait_port(host, port, "PostgreSQL")


def ensure_redis(ep: Endpoints) -> None:
    """Redis answering at the endpoint: started (or installed) here if it is local."""
    host, port = ep.redis_host_port
    if listening(host, port):
        return
    if host not in ("127.0.0.1", "localhost"):
        raise ConnectionError(f"Redis at {host}:{port} does not answer (NEWSREC_REDIS)")
    if not shutil.which("redis-server"):
        _apt_install("redis-server")
    say(f"starting Redis on {host}:{port}")
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", host, "--port", str(port), "--save", ""],
        check=True,
        capture_output=True,
    )
    _wait_port(host, port, "Redis")


def psql(ep: Endpoints, sql: str, database: str = "postgres") -> str:
    """One statement through psql (the client the PostgreSQL package installs)."""
    res = subprocess.run(
        ["psql", f"{ep.postgres.rstrip('/')}/{database}", "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise RuntimeError(f"psql: {res.stderr.strip()}")
    return res.stdout.strip()


def create_databases(ep: Endpoints) -> list[str]:
    """The project's databases (mlflow, prefect, feast); those created now."""
    made = []
    for db in ep.databases.values():
        if psql(ep, f"select 1 from pg_database where datname = '{db}'") != "1":
            psql(ep, f'create database "{db}"')
            made.append(db)
    return made


def _s3_env(ep: Endpoints) -> dict[str, str]:
    """What a client of the S3 endpoint needs: the endpoint, and keys (the environment's;
    for the local stand-in any will do, so placeholders when none are set)."""
    env = {"MLFLOW_S3_ENDPOINT_URL": ep.s3} if ep.s3 else {}
    if _local(ep.s3):
        env |= {
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "newsrec-local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "newsrec-local"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        }
    return env


def _local(url: str) -> bool:
    return bool(url) and _host_port(url, 80)[0] in ("127.0.0.1", "localhost")


def _bucket(ep: Endpoints) -> None:
    """The bucket on the local S3 stand-in (which takes unsigned requests)."""
    req = urllib.request.Request(f"{ep.s3.rstrip('/')}/{ep.bucket}", method="PUT")
    try:
        urllib.request.urlopen(req, timeout=10).close()
    except urllib.error.HTTPError as e:
        if e.code != 409:  # already there
            raise


def dvc_remote(paths: Paths, ep: Endpoints) -> None:
    """Point the DVC remote `s3` (.dvc/config) at the bucket and the endpoint, in the
    untracked .dvc/config.local: the address (and the stand-in's placeholder keys) are this
    machine's, not the project's."""
    dvc = procs.tool("dvc")
    for args in (
        ["remote", "modify", "--local", "s3", "url", f"s3://{ep.bucket}/dvc"],
        *([["remote", "modify", "--local", "s3", "endpointurl", ep.s3]] if ep.s3 else []),
        *(  # the local stand-in takes any keys; a real endpoint's come from the environment
            [
                ["remote", "modify", "--local", "s3", "access_key_id", _s3_env(ep)["AWS_ACCESS_KEY_ID"]],
                ["remote", "modify", "--local", "s3", "secret_access_key", _s3_env(ep)["AWS_SECRET_ACCESS_KEY"]],
            ]
            if _local(ep.s3)
            else []
        ),
    ):
        res = subprocess.run([dvc, *args], cwd=paths.root, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"dvc {' '.join(args)}: {res.stderr.strip()}")


def ensure_prometheus() -> str:
    """The prometheus binary (and the Pushgateway beside it), installed from Debian's
    packages where missing."""
    missing = [p for p in ("prometheus", "prometheus-pushgateway") if not shutil.which(p)]
    if missing:
        _apt_install(*missing)
    return shutil.which("prometheus") or "prometheus"


def prometheus_config(f: Path, target: str, interval_s: int = 5, pushgateway: str | None = None) -> Path:
    """A scrape config for the service's /metrics at `target` (host:port; every worker
    shares it) and, with `pushgateway` (host:port), monitoring's metrics pushed there
    (their own labels kept), written to `f`."""
    f.parent.mkdir(parents=True, exist_ok=True)
    text = (
        f"global:\n  scrape_interval: {interval_s}s\n"
        "scrape_configs:\n"
        "  - job_name: newsrec\n"
        "    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    if pushgateway:
        text += (
            "  - job_name: pushgateway\n"
            "    honor_labels: true\n"
            f"    static_configs:\n      - targets: ['{pushgateway}']\n"
        )
    f.write_text(text)
    return f


def _servers(paths: Paths, p: Params, ep: Endpoints) -> dict[str, tuple[list[str], dict, str, str]]:
    """name -> (command, environment, health URL, what it is)."""
    s3_host, s3_port = _host_port(ep.s3, 5002)
    ml_host, ml_port = _host_port(ep.mlflow, 5000)
    pf_host, pf_port = _host_port(ep.prefect, 4200)
    pm_host, pm_port = _host_port(ep.prometheus, 9090)
    pg_host, pg_port = _host_port(ep.pushgateway, 9091)
    prometheus = shutil.which("prometheus") or "prometheus"
    scrape = prometheus_config(
        paths.root / ".run" / "prometheus.yml", f"{p.serve.host}:{p.serve.port}", pushgateway=f"{pg_host}:{pg_port}"
    )
    return {
        "prod-s3": (
            [procs.tool("moto_server"), "-H", s3_host, "-p", str(s3_port)],
            {},
            f"http://{s3_host}:{s3_port}/moto-api/",
            "S3-compatible storage (moto): the DVC remote and MLflow's artifacts",
        ),
        "prod-mlflow": (
            [
                procs.tool("mlflow"),
                "server",
                "--backend-store-uri",
                ep.database("mlflow", "+psycopg"),
                "--artifacts-destination",
                f"s3://{ep.bucket}/mlflow",
                "--serve-artifacts",
                "--host",
                ml_host,
                "--port",
                str(ml_port),
            ],
            _s3_env(ep),
            f"http://{ml_host}:{ml_port}/health",
            "MLflow tracking server (PostgreSQL, artifacts proxied to S3)",
        ),
        "prod-prefect": (
            [procs.tool("prefect"), "server", "start", "--host", pf_host, "--port", str(pf_port)],
            {
                "PREFECT_API_DATABASE_CONNECTION_URL": ep.database("prefect", "+asyncpg"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            },
            f"http://{pf_host}:{pf_port}/api/health",
            "Prefect server (PostgreSQL)",
        ),
        "prod-pushgateway": (
            [
                shutil.which("prometheus-pushgateway") or "prometheus-pushgateway",
                f"--web.listen-address={pg_host}:{pg_port}",
            ],
            {},
            f"http://{pg_host}:{pg_port}/-/ready",
            "Prometheus Pushgateway: monitoring's drift scores and nDCG@10",
        ),
        "prod-prometheus": (
            [
                prometheus,
                f"--config.file={scrape}",
                f"--storage.tsdb.path={paths.root / '.run' / 'prometheus-data'}",
                f"--web.listen-address={pm_host}:{pm_port}",
            ],
            {},
            f"http://{pm_host}:{pm_port}/-/ready",
            f"Prometheus, scraping the service at {p.serve.host}:{p.serve.port} and the Pushgateway",
        ),
    }


def up(paths: Paths, p: Params) -> dict[str, str]:
    """Start what the prod profile needs on this machine and wait until each answers; the
    addresses. A server already answering is left as it is."""
    ep = endpoints()
    ensure_postgres(ep)
    ensure_redis(ep)
    if made := create_databases(ep):
        say(f"created the databases {', '.join(made)}")
    ensure_prometheus()
    servers = _servers(paths, p, ep)
    # a real S3 endpoint: nothing to start
    ours = {name: s for name, s in servers.items() if name != "prod-s3" or _local(ep.s3)}
    for name, (cmd, env, health, _) in ours.items():  # all started first: they boot side by side
        if not procs.answers(health):
            host, port = _host_port(health, 80)
            if listening(host, port):
                raise ConnectionError(
                    f"{host}:{port} is taken by something else (the local profile's `make ui`? `make down` stops it)"
                )
            procs.start(paths.root, name, cmd, {**os.environ, **env})
    for name, (_, _, health, _) in ours.items():
        procs.wait_http(health, WAIT_S, name, procs.log_file(paths.root, name))
        if name == "prod-s3":
            _bucket(ep)
    if (paths.root / ".dvc").is_dir():
        dvc_remote(paths, ep)
    out = {"postgres": (ep.postgres, "PostgreSQL (the machine's)"), "redis": (ep.redis, "Redis (the machine's)")}
    for name, (_, _, health, what) in servers.items():
        u = urlsplit(health)
        out[name.removeprefix("prod-")] = (f"{u.scheme}://{u.netloc}", what)
    for name, (address, what) in out.items():
        say(f"  {name:<11} {address:<40} {what}")
    say("`make down` stops the project's servers (PostgreSQL and Redis are the machine's and keep running)")
    return {name: address for name, (address, _) in out.items()}


def down(paths: Paths) -> list[str]:
    """Stop the project's servers `up` started (PostgreSQL and Redis are the machine's)."""
    return [n for n in reversed(SERVERS) if procs.stop(paths.root, n)]
