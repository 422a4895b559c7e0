"""A scratch copy of the project in a temporary folder, and a runner for its commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from newsrec.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def env_for(cwd: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NEWSREC_ROOT": str(cwd), **extra}


def sh(cwd: Path, *args: str, check: bool = True, timeout: int = 900, **extra: str) -> subprocess.CompletedProcess:
    env = env_for(cwd, **extra)
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{args} exited {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def prom_query(base: str, expr: str) -> list | None:
    """A Prometheus instant query's result at `base` (http://host:port); None while it does not answer."""
    import json
    import urllib.parse
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", timeout=10) as r:
            return json.loads(r.read())["data"]["result"]
    except OSError:
        return None  # Prometheus still starting


def make_project(dest: Path, **sections) -> Path:
    """Copy what the pipeline needs; `sections` update params.yaml (e.g. world={...})."""
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "feature_repo", dest / "feature_repo", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / f, dest / f)
    shutil.copytree(ROOT / ".dvc", dest / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    (dest / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "canvas.yaml", dest / "docs" / "canvas.yaml")  # the canvas's human parts
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # a scratch project's service runs beside other tests on a busy machine, where a request
    # can take far longer than on a quiet one: its worker sheds no standing queue (the
    # shedding has tests of its own, tests/unit/test_guard.py), so its answers are all kept
    params["serve"]["queue_target_services"], params["serve"]["max_wait_ms"] = 1_000_000, 60_000
    for key, values in sections.items():
        params[key].update(values)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(dest, "git", "init", "-q")
    return dest


def set_params(proj: Path, section: str, **values) -> None:
    """Update one section of a project's params.yaml (e.g. engine kind and workers)."""
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params[section].update(values)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def assert_join_equals_feast(project: Path) -> None:
    """The in-process join of a project's feature tables gives its Feast training set, row for row."""
    import numpy as np
    import pandas as pd

    from newsrec.features.join import as_of
    from newsrec.features.spec import MODEL_FEATURES, VIEWS

    feast = pd.read_parquet(project / "data/trainset/trainset.parquet")
    tables = {v.table: pd.read_parquet(project / "data/features" / f"{v.table}.parquet") for v in VIEWS}
    ent = feast[["impression_id", "user_id", "news_id", "event_timestamp", "request_time", "clicked"]]
    ours = as_of(ent, tables)
    assert len(ours) == len(feast) and (ours["news_id"].to_numpy() == feast["news_id"].to_numpy()).all()
    for c in MODEL_FEATURES:
        a, b = ours[c].to_numpy(np.float64, na_value=np.nan), feast[c].to_numpy(np.float64, na_value=np.nan)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=c)


def assert_same_training_set(ours, feast) -> None:
    """A training set joined another way (`ours`) is Feast's, row for row and value for value."""
    import numpy as np

    from newsrec.features.spec import MODEL_FEATURES

    assert len(ours) == len(feast) > 10_000
    for c in ("impression_id", "news_id", "request_time", "clicked", "split"):
        assert (ours[c].to_numpy() == feast[c].to_numpy()).all(), c
    for c in MODEL_FEATURES:
        a, b = ours[c].to_numpy(np.float64, na_value=np.nan), feast[c].to_numpy(np.float64, na_value=np.nan)
        assert np.isnan(b).sum() < len(b) / 2, c  # mostly joined: the comparison is not of missing values
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=c)


METRIC_KEYS = {"auc", "mrr", "ndcg@5", "ndcg@10"}  # each ranker's entry in reports/metrics.json
TINY_WORLD = dict(n_users=300, n_articles=300, impressions_per_day=200, days=3, backlog_days=1)
SMALL_WORLD = dict(n_users=600, n_articles=500, impressions_per_day=500, days=5, backlog_days=1)
SMALL_SPLIT = dict(train_days=3, valid_days=1, test_days=1)
SMALL_TRAIN = dict(max_iter=100)


class Service:
    """`newsrec serve` of a scratch project in a subprocess on a port of its own, following the
    BentoML store's latest model; stopped (and its log closed) on exit."""

    def __init__(self, proj: Path, log: Path, **env: str) -> None:
        self.proj, self.log_path, self.env = proj, log, env
        self.port = free_port()
        params = yaml.safe_load((proj / "params.yaml").read_text())
        params["serve"].update(host="127.0.0.1", port=self.port)
        (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Service:
        import time
        import urllib.request

        self.log = self.log_path.open("wb")  # a file, not a pipe nobody drains: a full pipe blocks the server
        env = {k: v for k, v in env_for(self.proj, **self.env).items() if k != "NEWSREC_MODEL_TAG"}
        self.p = subprocess.Popen(
            [str(BIN / "newsrec"), "serve"], cwd=self.proj, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{self.url}/readyz", timeout=5).status == 200:
                    return self
            except OSError:
                time.sleep(1)
        self.__exit__()
        raise AssertionError(f"the service did not become ready within 180 s; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        import signal

        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)
        self.log.close()
        if exc and exc[0] is not None:
            return
        import socket
        import time

        deadline = time.monotonic() + 60  # the server itself stops, not only the command that started it
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.5)
        raise AssertionError(f"the service still answers on port {self.port} after `newsrec serve` was stopped")


class Load:
    """Steady traffic from `clients` threads on keep-alive connections until stopped: every
    response's status and the model version that served it, in order."""

    def __init__(self, url: str, users: list[str], candidates: list[str], clients: int = 3) -> None:
        import threading

        self.url, self.users, self.candidates = url, users, candidates
        self.results: list[tuple[int, str | None]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(clients)]

    def _run(self, seed: int) -> None:
        import http.client
        import json
        import random

        rng = random.Random(seed)
        host, port = self.url.removeprefix("http://").split(":")
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        while not self._stop.is_set():
            body = {"user_id": rng.choice(self.users), "candidates": rng.sample(self.candidates, 20), "k": 10}
            try:
                c.request("POST", "/recommend", json.dumps(body), {"content-type": "application/json"})
                r = c.getresponse()
                data = r.read()
                self.results.append((r.status, json.loads(data).get("model_version") if r.status == 200 else None))
            except (OSError, http.client.HTTPException) as e:
                self.results.append((0, type(e).__name__))
                c.close()
                c = http.client.HTTPConnection(host, int(port), timeout=30)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
