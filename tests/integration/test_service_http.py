"""The BentoML service over the champion: HTTP through the ASGI app, parity with the
offline scores, and a real `bentoml serve` subprocess with its prediction log."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scratch import BIN, ROOT, env_for, prom_query, sh

from newsrec.procs import free_port


@pytest.fixture(scope="module")
def packaged(trained_project, tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml-home")
    sh(trained_project, "newsrec", "package", "--no-build", BENTOML_HOME=str(home))
    tag = json.loads((trained_project / "reports" / "package.json").read_text())["bento_model"]
    return trained_project, home, tag


@pytest.fixture(scope="module")
def image(packaged, tmp_path_factory):
    """`newsrec image` run once: (its output, the BentoML home, the Bento's tag)."""
    proj, home, _ = packaged
    root = tmp_path_factory.mktemp("build")  # what the wheel and the Bento are built from, with the registry
    for d in ("src", "flows", "services", "monitoring", "feature_repo"):
        shutil.copytree(ROOT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "uv.lock", "README.md", "params.yaml"):
        shutil.copy(ROOT / f, root / f)
    shutil.copytree(proj / "mlruns", root / "mlruns")
    res = sh(root, "newsrec", "image", BENTOML_HOME=str(home), timeout=1800)
    return res, home, json.loads((root / "reports" / "package.json").read_text())["bento"]


def test_the_image_command_builds_a_bento_pinned_to_the_lock(image):
    """`newsrec image`: the Bento's requirements are uv.lock's versions, each pinned; without
    a Docker engine (the usual case here) it says why and where the Dockerfile is."""
    import tomllib

    res, home, tag = image
    name, version = tag.split(":")
    bento = home / "bentos" / name / version
    engine = (
        subprocess.run(["docker", "info"], capture_output=True).returncode == 0 if shutil.which("docker") else False
    )
    if engine:
        assert f"built the image {tag}" in res.stderr, res.stderr
    else:
        assert (
            "no image built: no Docker engine here" in res.stderr
            and str(bento / "env" / "docker" / "Dockerfile") in res.stderr
        )
    assert (bento / "env" / "docker" / "Dockerfile").is_file()
    req = bento / "env" / "python" / "requirements.txt"
    pins = dict(line.split(";")[0].strip().split("==") for line in req.read_text().splitlines() if "==" in line)
    lock = {p["name"]: p["version"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert {"scikit-learn", "bentoml", "feast", "mlflow", "skops", "pandas"} <= set(pins), sorted(pins)
    assert all(lock[n] == v for n, v in pins.items()), {
        n: (v, lock.get(n)) for n, v in pins.items() if lock.get(n) != v
    }
    unpinned = [ln for ln in req.read_text().splitlines() if ln and not ln.startswith(("#", " ")) and "==" not in ln]
    assert all(".whl" in ln for ln in unpinned), unpinned  # only the project's own wheel


def test_prometheus_scrapes_the_service_and_every_dashboard_query_has_a_series(packaged, tmp_path):
    """A real Prometheus (Debian's; installed once per machine where missing) scrapes a real
    `bentoml serve`; after some traffic, every service query of the Grafana dashboard returns
    a series (the monitoring ones: test_monitoring)."""
    import urllib.parse
    import urllib.request

    from newsrec.stages.up import ensure_prometheus, prometheus_config

    proj, home, tag = packaged
    dashboard = json.loads((ROOT / "monitoring" / "grafana" / "newsrec-service.json").read_text())
    queries = {p["title"]: t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    queries = {k: q for k, q in queries.items() if "(monitoring)" not in k}  # test_monitoring checks those
    with _served(proj, home, tag, tmp_path / "serve.log", NEWSREC_PREDICTIONS=str(tmp_path / "log")) as (_, url):
        port = free_port()
        config = prometheus_config(tmp_path / "prometheus.yml", url.removeprefix("http://"), interval_s=1)
        prom = subprocess.Popen(
            [
                ensure_prometheus(),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        try:
            body = json.dumps({"user_id": "someone-new", "k": 3}).encode()
            missing, deadline = dict(queries), time.monotonic() + 120
            while missing and time.monotonic() < deadline:
                for _ in range(10):  # traffic, so every rate has samples
                    req = urllib.request.Request(f"{url}/recommend", body, {"content-type": "application/json"})
                    urllib.request.urlopen(req, timeout=30).read()
                time.sleep(1)
                for title, expr in list(missing.items()):
                    result = prom_query(f"http://127.0.0.1:{port}", expr)
                    if result and all(v["value"][1] not in ("NaN",) for v in result):
                        del missing[title]
            assert not missing, missing
        finally:
            prom.terminate()
            prom.wait(timeout=30)


def _user_and_candidates(proj: Path) -> tuple[str, list[str], pd.Timestamp]:
    users = pd.read_parquet(proj / "data" / "features" / "users.parquet")
    last = users.sort_values("event_timestamp").groupby("user_id").tail(1)
    user = users["user_id"].value_counts().index[0]
    meta = pd.read_parquet(proj / "data" / "features" / "news_meta.parquet")
    fresh = meta.nlargest(20, "event_timestamp")["news_id"].tolist()
    t = max(users["event_timestamp"].max(), meta["event_timestamp"].max()) + pd.Timedelta(hours=1)
    assert last.set_index("user_id").loc[user, "event_timestamp"] < t
    return user, fresh, t


def _offline_scores(proj: Path, user: str, news: list[str], t: pd.Timestamp) -> dict[str, float]:
    from newsrec.bootstrap import context
    from newsrec.features.context import with_context
    from newsrec.features.request import fill_defaults
    from newsrec.model import predict

    ctx = context(root=proj)
    ent = pd.DataFrame({"user_id": user, "news_id": news, "event_timestamp": t, "request_time": t.timestamp()})
    frame = with_context(ctx.feature_store.historical(ent).assign(impression_id=0))  # one request's candidates
    import ibis

    assert ibis.options.default_backend is None  # the read's DuckDB connection closed, none left for the exit
    model, meta = ctx.registry.load_model(ctx.registry.champion())
    x, _ = fill_defaults(frame, meta["defaults"])
    return dict(zip(frame["news_id"], predict(model, x)))


def test_http_api_and_parity(packaged, monkeypatch, tmp_path):
    proj, home, tag = packaged
    for k, v in {"NEWSREC_ROOT": str(proj), "BENTOML_HOME": str(home), "NEWSREC_MODEL_TAG": tag}.items():
        monkeypatch.setenv(k, v)
    from starlette.testclient import TestClient

    svc = importlib.import_module("services.recommender")  # first import: env above is in force
    user, fresh, t = _user_and_candidates(proj)
    with TestClient(svc.Recommender.to_asgi()) as c:
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        r = c.post(
            "/recommend",
            json={"user_id": user, "candidates": fresh + ["N_unknown"], "k": 100, "request_time": t.isoformat()},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        # an id the store does not hold (a new article, say) is ranked too, with the defaults
        assert not body["fallback"] and body["unknown_candidates"] == ["N_unknown"] and len(body["items"]) == 21
        assert "N_unknown" in {i["news_id"] for i in body["items"]}
        assert pd.Timestamp(body["features_as_of"]) < t  # the store's last update, before the request
        scores = [i["score"] for i in body["items"]]
        assert scores == sorted(scores, reverse=True)
        offline = _offline_scores(proj, user, fresh, t)
        online = {i["news_id"]: i["engagement"] for i in body["items"]}
        assert np.allclose([online[n] for n in fresh], [offline[n] for n in fresh], rtol=0, atol=1e-6)
        cold = c.post("/recommend", json={"user_id": "someone-new", "k": 5}).json()
        assert cold["fallback"] and len(cold["items"]) == 5 and "unknown user" in cold["fallback_reason"]
        for bad, field in (
            ({"user_id": user, "k": 0}, "k"),
            ({"user_id": user, "k": 101}, "k"),
            ({"user_id": user, "candidates": ["N1"] * 501}, "candidates"),
            ({"user_id": user, "colour": "red"}, "colour"),
            ({"k": 3}, "user_id"),
        ):
            r = c.post("/recommend", json=bad)
            assert 400 <= r.status_code < 500 and field in r.text, (bad, r.text)
        r = c.post("/recommend", content=b"{not json", headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500
        for when in ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"):  # no log partition of year 1 or 9999
            r = c.post("/recommend", json={"user_id": user, "request_time": when})
            assert r.status_code == 400 and r.json()["error"].startswith("request_time"), r.text
        r = c.post("/recommend", files={"user_id": (None, user)})  # a form, not JSON
        assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
        r = c.post("/recommend", json={"user_id": user, "candidates": ["N" * 70_000]})
        assert r.status_code == 413
        r = c.post("/recommend", json={"user_id": user, "candidates": ["N" * 201]})  # an id over the limit
        assert r.status_code == 400 and "candidates" in r.json()["detail"]
        assert isinstance(c.post("/recommend", json={"k": 3}).json()["detail"], str)  # errors as documented
        assert c.post("/recommend", json={"user_id": user}).status_code == 200  # still serving
        _a_log_that_cannot_be_written_is_counted_not_ready_and_recovers(c, proj, user, t, tmp_path)
        _an_unreadable_online_store_gives_flagged_fallbacks_not_ready_and_recovers(c, proj, user, t)
        _a_locked_online_store_gives_flagged_fallbacks_not_ready_and_recovers(c, proj, user, t)
        _a_missing_online_store_gives_flagged_fallbacks_not_ready_and_recovers(c, proj, user, t)


def _an_unreadable_online_store_gives_flagged_fallbacks_not_ready_and_recovers(c, proj: Path, user: str, t) -> None:
    """The online store's SQLite file damaged under traffic (its header overwritten): every
    answer is the fallback ranking, flagged with why; /readyz says 503; the file back, both recover."""
    db = (proj / "data" / "feast" / "current" / "online.db").resolve()
    good = db.read_bytes()
    body = {"user_id": user, "k": 5, "request_time": t.isoformat()}
    try:
        with db.open("r+b") as f:
            f.write(b"not a database at all".ljust(100, b"!"))
        r = c.post("/recommend", json=body)
        assert r.status_code == 200 and r.json()["fallback"], r.text
        assert "online store cannot be read" in r.json()["fallback_reason"]
        assert c.get("/readyz").status_code == 503
    finally:
        db.write_bytes(good)
    assert c.get("/readyz").status_code == 200
    r = c.post("/recommend", json=body)
    assert r.status_code == 200 and not r.json()["fallback"], r.text


def _a_missing_online_store_gives_flagged_fallbacks_not_ready_and_recovers(c, proj: Path, user: str, t) -> None:
    """The store in service moved away under traffic (deleted, a volume gone): answers are
    flagged fallbacks, /readyz says 503, no empty store is made in its place, and both
    recover when it is back."""
    store = (proj / "data" / "feast" / "current").resolve()
    aside = store.with_name(store.name + ".aside")
    body = {"user_id": user, "k": 5, "request_time": t.isoformat()}
    store.rename(aside)
    try:
        r = c.post("/recommend", json=body)
        assert r.status_code == 200 and r.json()["fallback"], r.text
        assert "missing" in r.json()["fallback_reason"]
        assert c.get("/readyz").status_code == 503
        time.sleep(0.5)  # the follower polls every 50 ms: it must not build a store where the old one was
        assert not store.exists()
        assert any("online store in service is missing" in e for e in c.get("/status/").json()["errors"])
    finally:
        aside.rename(store)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and c.get("/readyz").status_code != 200:
        time.sleep(0.1)
    assert c.get("/readyz").status_code == 200
    r = c.post("/recommend", json=body)
    assert r.status_code == 200 and not r.json()["fallback"], r.text


def _a_locked_online_store_gives_flagged_fallbacks_not_ready_and_recovers(c, proj: Path, user: str, t) -> None:
    """Another process holds the online store's SQLite file under an exclusive lock: each
    read waits `serve.store_wait_ms`, then the answer is the flagged fallback and /readyz
    says 503; the lock released, both recover."""
    import subprocess
    import sys

    db = (proj / "data" / "feast" / "current" / "online.db").resolve()
    hold = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()"
    )
    locker = subprocess.Popen(
        [sys.executable, "-c", hold, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    body = {"user_id": user, "k": 5, "request_time": t.isoformat()}
    try:
        assert locker.stdout.readline().strip() == "locked"
        r = c.post("/recommend", json=body)
        assert r.status_code == 200 and r.json()["fallback"], r.text
        assert "online store cannot be read" in r.json()["fallback_reason"] and "locked" in r.json()["fallback_reason"]
        assert c.get("/readyz").status_code == 503
    finally:
        locker.communicate("", timeout=30)  # stdin closed: the holder exits, the lock goes with it
    assert c.get("/readyz").status_code == 200
    r = c.post("/recommend", json=body)
    assert r.status_code == 200 and not r.json()["fallback"], r.text


def _a_log_that_cannot_be_written_is_counted_not_ready_and_recovers(c, proj: Path, user: str, t, tmp_path) -> None:
    """A file where the day's log folder goes: answers keep coming, the rows are quarantined
    and counted in /metrics, /readyz turns 503; the folder back, /readyz turns 200 by itself."""
    day = proj / "data" / "predictions" / f"date={t:%Y-%m-%d}"
    aside = tmp_path / "aside"
    if day.exists():
        shutil.move(day, aside)
    day.write_text("not a folder")
    try:
        for _ in range(3):
            r = c.post("/recommend", json={"user_id": user, "k": 5, "request_time": t.isoformat()})
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and c.get("/readyz").status_code == 200:
            time.sleep(0.1)
        st = c.get("/status/").json()
        assert c.get("/readyz").status_code == 503, st
        assert st["log"]["failed"] >= 1 and not st["log"]["healthy"] and any("date=" in e for e in st["errors"])
        assert (proj / "data" / "predictions.quarantine" / day.name).is_dir()  # the rows kept aside
    finally:
        day.unlink()
        if aside.exists():
            shutil.move(aside, day)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and c.get("/readyz").status_code != 200:
        time.sleep(0.1)
    assert c.get("/readyz").status_code == 200 and c.get("/status/").json()["log"]["healthy"]


def _hostile_bodies(rng: np.random.Generator, n: int) -> list[tuple[bytes, str]]:
    """Bodies a careless or hostile client sends: broken JSON, wrong types, extreme values."""
    values = [
        None,
        True,
        -1,
        0,
        10**30,
        1e308,
        float("nan"),
        "",
        "x" * 100_000,
        "\u0000\ud800",
        [],
        {},
        [[[[]]]],
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00",
        "yesterday",
        ["N1"] * 501,
        [None, 3],
        "N1",
    ]
    keys = ["user_id", "candidates", "k", "request_time", "extra"]
    out = [
        (b"", "application/json"),
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b"null", "application/json"),
        (b'{"user_id": "u"}', "text/plain"),
        (json.dumps({"user_id": "u", "candidates": []}).encode(), "application/json"),
    ]
    while len(out) < n:
        body = {"user_id": "U1"}
        for _ in range(int(rng.integers(1, 4))):
            body[keys[rng.integers(len(keys))]] = values[rng.integers(len(values))]
        out.append((json.dumps(body).encode(), "application/json"))
    return out


def _no_request_crashes_the_worker(server_pid: int, port: int) -> None:
    import http.client

    import psutil

    procs = {q.pid for q in psutil.Process(server_pid).children(recursive=True)}
    statuses = []
    for body, ctype in _hostile_bodies(np.random.default_rng(0), 200):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/recommend", body, {"content-type": ctype})
        r = c.getresponse()
        r.read()
        statuses.append(r.status)
        c.close()
    assert all(s < 500 for s in statuses), sorted(set(statuses))
    assert statuses.count(200) >= 5 and any(400 <= s < 500 for s in statuses)  # both kinds were exercised
    assert {q.pid for q in psutil.Process(server_pid).children(recursive=True)} == procs  # no worker restarted
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/recommend", json.dumps({"user_id": "U1", "k": 2}), {"content-type": "application/json"})
    assert c.getresponse().status == 200


@contextlib.contextmanager
def _served(proj: Path, home: Path, tag: str, log: Path, **env: str):
    """A real `bentoml serve` of the project on a port of its own, ready; stopped after. Yields (process, url)."""
    import urllib.request

    out = log.open("wb")  # a file, not a pipe nobody drains: a full pipe blocks the server
    port = free_port()
    p = subprocess.Popen(
        [str(BIN / "bentoml"), "serve", "services.recommender:Recommender", "--host", "127.0.0.1", "--port", str(port)],
        cwd=proj,
        env=env_for(proj, BENTOML_HOME=str(home), NEWSREC_MODEL_TAG=tag, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{url}/readyz", timeout=5).status == 200:
                    break
            except OSError:
                time.sleep(1)
        else:
            raise AssertionError("the service did not become ready within 180 s")
        yield p, url
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        out.close()


def test_bentoml_serve_subprocess_and_prediction_log(packaged, tmp_path):
    import urllib.request

    proj, home, tag = packaged
    with _served(proj, home, tag, tmp_path / "serve.log") as (p, url):
        port = int(url.rsplit(":", 1)[1])
        for user in ("someone-new", "another-new"):
            req = urllib.request.Request(
                f"{url}/recommend",
                data=json.dumps({"user_id": user, "k": 3}).encode(),
                headers={"content-type": "application/json"},
            )
            assert len(json.loads(urllib.request.urlopen(req, timeout=30).read())["items"]) == 3
        metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
        assert "newsrec_fallback_total 2.0" in metrics and "bentoml_service_request_duration_seconds" in metrics
        _no_request_crashes_the_worker(p.pid, port)
        live = sh(proj, "newsrec", "traffic", "--days", "1", "--url", url)
        assert "live day 0" in live.stderr and "readers served by v" in live.stderr
        # the hourly advances reached the workers as updates (only the pushed articles read
        # again), which the parity check below holds to the offline features
        st = json.loads(urllib.request.urlopen(f"{url}/status/", timeout=10).read())
        assert st["features_updates"] >= 12 and st["features_load_ms"] > 0, st
    from newsrec.predlog import read_log

    log = read_log(proj / "data" / "predictions")
    mine = log[log["user_id"].isin(["someone-new", "another-new"])]  # flushed at shutdown
    assert set(mine["user_id"]) == {"someone-new", "another-new"} and mine["fallback"].all()
    # the live day, with its clicks, through the Evidently reports and the drift gate
    day = pd.read_parquet(proj / "data" / "outcomes").pipe(
        lambda o: pd.to_datetime(o["request_time"], utc=True).max().strftime("%Y-%m-%d")
    )
    sh(proj, "newsrec", "monitor", "--end", day)
    decision = json.loads((proj / "reports/monitor/decision.json").read_text())
    assert decision["status"] == "judged" and decision["window"] == [day] and decision["reasons"]
    summary = json.loads(Path(decision["summary"]).read_text())
    assert summary["performance"]["current"]["requests"] > 100 and summary["feature_drift"]
    assert (Path(decision["summary"]).parent / "drift.html").exists()
    _served_features_are_the_offline_ones_as_of_the_store_update(proj)
    for d in ("predictions", "outcomes"):  # the next tests start from the logged days alone
        shutil.rmtree(proj / "data" / d)
    sh(proj, "newsrec", "collect")


def _served_features_are_the_offline_ones_as_of_the_store_update(proj: Path) -> None:
    """Every response of the live day: its features come from the online store's last update
    before the request, at most features.advance_hours before it, and equal the offline
    point-in-time features (the `features` stage's tables over the collected traffic, joined
    as of that update) to 1e-6."""
    from newsrec.bootstrap import context
    from newsrec.features.build import build_features
    from newsrec.features.join import as_of
    from newsrec.features.spec import MODEL_FEATURES, VIEWS
    from newsrec.predlog import read_log
    from newsrec.stages.collect import tables
    from newsrec.stages.features import feature_categories

    sh(proj, "newsrec", "collect")
    ctx = context(root=proj)
    log = read_log(proj / "data" / "predictions")
    readers = set(read_log(proj / "data" / "outcomes")["request_id"])
    log = log[log["request_id"].isin(readers)]  # the live day's readers (other tests' requests aside)
    t = pd.to_datetime(log["request_time"], utc=True)
    gap = t - pd.to_datetime(log["features_as_of"], utc=True)
    assert len(log) > 1000 and (gap >= pd.Timedelta(0)).all()
    assert (gap <= pd.Timedelta(hours=ctx.params.features.advance_hours)).all(), gap.max()
    tb = tables(ctx.paths)
    logged_titles = pd.read_parquet(ctx.paths.table("news"))["title"]
    ft = build_features(
        tb["news"],
        tb["impressions"],
        tb["histories"],
        tb["feedback"],
        feature_categories(ctx.params),
        ctx.params.features,
        logged_titles,
    )
    ent = pd.DataFrame(
        {
            "user_id": log["user_id"].to_numpy(),
            "news_id": log["news_id"].to_numpy(),
            "event_timestamp": pd.to_datetime(log["features_as_of"], utc=True).to_numpy(),
            "request_time": (t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(),
            "request_id": log["request_id"].to_numpy(),  # each request's candidates: the impression context's
        }
    )
    offline = as_of(ent, {v.table: getattr(ft, v.table) for v in VIEWS})
    for c in MODEL_FEATURES:  # a new reader's user features are missing in both
        a = log[c].to_numpy(np.float64, na_value=np.nan)
        b = offline[c].to_numpy(np.float64, na_value=np.nan)
        assert np.allclose(a, b, rtol=0, atol=1e-6, equal_nan=True), (c, np.nanmax(np.abs(a - b)))


FUZZ_CASES = 1_000  # generated cases on POST /recommend, at least


def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_schema_violation(packaged, tmp_path):
    """schemathesis against a real `bentoml serve`: every operation of /docs.json, positive and
    negative cases, checked for 5xx and for responses (errors too) that break the document."""
    proj, home, tag = packaged
    report = tmp_path / "fuzz.json"
    log = tmp_path / "predictions"  # the fuzz's traffic stays out of the project's log
    with _served(proj, home, tag, tmp_path / "serve.log", NEWSREC_PREDICTIONS=str(log)) as (_, url):
        res = subprocess.run(
            [
                str(BIN / "st"),
                "run",
                f"{url}/docs.json",
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--mode",
                "all",
                "--max-examples",
                str(FUZZ_CASES),
                "--seed",
                "0",
                "--request-timeout",
                "30",
                "--continue-on-failure",
                "--suppress-health-check",
                "all",
                "--report",
                "ndjson",
                "--report-ndjson-path",
                str(report),
                "--no-color",
            ],
            cwd=tmp_path,
            env=env_for(proj),
            capture_output=True,
            text=True,
            timeout=900,
        )
        _log_faults_reach_metrics_and_readiness_of_every_worker(url, log)
    tail = "\n".join(res.stdout.splitlines()[-40:])
    assert res.returncode == 0, tail  # a server error or a schema violation fails the run
    cases = _fuzz_cases(report)
    print(f"fuzz cases by operation and mode: {cases}")  # shown with pytest -s
    post = cases.get(("POST /recommend", "positive"), 0) + cases.get(("POST /recommend", "negative"), 0)
    assert post >= FUZZ_CASES and min(cases[("POST /recommend", m)] for m in ("positive", "negative")) >= 100, cases
    others = {"GET /status/", "GET /readyz", "GET /healthz", "GET /livez", "GET /metrics"}
    assert others <= {op for op, _ in cases}, cases  # every other operation called at least once


def _fuzz_cases(report: Path) -> dict[tuple[str, str], int]:
    """Cases schemathesis generated, by (operation, positive or negative), from its NDJSON events."""
    from collections import Counter

    out: Counter = Counter()
    for line in report.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        for case in (event or {}).get("recorder", {}).get("cases", {}).values():
            mode = case["value"]["meta"]["generation"]["mode"]
            out[event["recorder"]["label"], mode] += 1
    return dict(out)


def _log_faults_reach_metrics_and_readiness_of_every_worker(url: str, log: Path) -> None:
    """On the real server (its workers share /metrics): a day's log folder made a file, the
    requests of that day are answered, counted as failed log rows, and /readyz says 503
    until the folder can be written again."""
    import http.client
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    day = log / "date=2026-11-06"
    if day.exists():
        shutil.rmtree(day)
    day.write_text("not a folder")
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"user_id": "U1", "k": 3, "request_time": "2026-11-06T12:00:00Z"})
    for _ in range(20):  # new connections: both workers get some
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.request("POST", "/recommend", body, {"content-type": "application/json"})
        assert c.getresponse().status == 200
        c.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(get("/readyz")[0] == 200 for _ in range(6)):
        time.sleep(0.2)
    assert all(get("/readyz")[0] == 503 for _ in range(6))  # every worker: not ready
    failed = [ln for ln in get("/metrics")[1].splitlines() if ln.startswith("newsrec_log_failed_total")]
    assert failed and float(failed[0].split()[-1]) >= 20, failed
    day.unlink()
    while time.monotonic() < deadline and any(get("/readyz")[0] != 200 for _ in range(6)):
        time.sleep(0.2)
    assert all(get("/readyz")[0] == 200 for _ in range(6))


def test_a_worker_killed_under_load_is_replaced_and_the_log_stays_readable(packaged, tmp_path):
    """kill -9 of one worker while readers keep calling: a new worker takes its place, the
    service answers again on every worker, and every log file written is whole."""
    import http.client
    import threading

    from newsrec.predlog import read_log

    proj, home, tag = packaged
    log = tmp_path / "predictions"
    with _served(proj, home, tag, tmp_path / "serve.log", NEWSREC_PREDICTIONS=str(log)) as (p, url):
        host, port = url.removeprefix("http://").split(":")
        workers = _worker_pids(p.pid)
        assert len(workers) == 2, workers
        stop, codes = threading.Event(), []
        body = json.dumps({"user_id": "U1", "k": 3, "request_time": "2026-11-06T12:00:00Z"})

        def reader() -> None:
            while not stop.is_set():
                try:
                    c = http.client.HTTPConnection(host, int(port), timeout=30)
                    c.request("POST", "/recommend", body, {"content-type": "application/json"})
                    codes.append(c.getresponse().status)
                    c.close()
                except (OSError, http.client.HTTPException):
                    codes.append(0)  # the killed worker's connections drop

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(2)
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 120
        now = workers
        while time.monotonic() < deadline:
            now = _worker_pids(p.pid)
            if len(now) == 2 and victim not in now:
                break
            time.sleep(0.5)
        time.sleep(5)  # the new worker loads the model and the store, then serves
        before = len(codes)
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join()
        assert len(now) == 2 and victim not in now, (workers, now)  # replaced
        assert codes[before:] and all(c == 200 for c in codes[before:]), sorted(set(codes[before:]))
    assert len(read_log(log)) > 0  # every file under its final name reads whole (read_log raises otherwise)


def _worker_pids(server: int) -> set[int]:
    """The live worker processes of a `bentoml serve` (a killed one not yet reaped is left out)."""
    import psutil

    out = set()
    for q in psutil.Process(server).children(recursive=True):
        try:
            if q.status() != psutil.STATUS_ZOMBIE and "worker" in " ".join(q.cmdline()):
                out.add(q.pid)
        except psutil.Error:  # gone, or a zombie, between the listing and the question
            pass
    return out


def test_the_bento_stands_alone_on_the_prod_profile_and_survives_redis_stopping(packaged, image, tmp_path):
    """The built Bento served from an empty folder, its endpoints from the environment only
    (prod profile): its features come from Feast's Redis online store, the store's
    declarations from Feast's SQL registry in PostgreSQL, nothing from a working tree. Redis
    stopped under traffic: the answers are flagged fallbacks and /readyz says 503; Redis back
    (from its snapshot): both recover by themselves. Its own Redis on a free port, its own
    database, dropped after."""
    import urllib.error
    import urllib.request

    from newsrec.profile import endpoints
    from newsrec.stages.up import listening, psql

    proj, home, _ = packaged
    _, _, bento = image
    port = free_port()
    env = {
        "NEWSREC_PROFILE": "prod",
        "NEWSREC_DB_PREFIX": f"newsrec_svc_{os.getpid()}",
        "NEWSREC_REDIS": f"127.0.0.1:{port}",
    }
    ep = endpoints(env)
    (tmp_path / "redis").mkdir()
    redis_cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path / "redis")]
    redis_cmd += ["--save", "", "--appendonly", "no"]

    def start_redis() -> subprocess.Popen:
        p = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not listening("127.0.0.1", port):
            assert time.monotonic() < deadline and p.poll() is None, "redis-server did not start"
            time.sleep(0.1)
        return p

    def post(url: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{url}/recommend", json.dumps(body).encode(), {"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def ready(url: str) -> int:
        try:
            return urllib.request.urlopen(f"{url}/readyz", timeout=10).status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0  # not listening yet

    redis = start_redis()
    db = ep.databases["feast"]
    psql(ep, f'create database "{db}"')
    work = tmp_path / "features"  # the feast stage's inputs only: a copy, so the shared project stays local
    for d in ("feature_repo", "data/features"):
        shutil.copytree(proj / d, work / d)
    shutil.copy(proj / "params.yaml", work / "params.yaml")
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    serve_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSREC_")}
    serve_env |= env | {"BENTOML_HOME": str(home), "NEWSREC_PREDICTIONS": str(tmp_path / "log")}
    server = None
    try:
        sh(work, "newsrec", "feast", **env)
        built = json.loads((work / "reports" / "feast.json").read_text())
        assert not (work / "data" / "feast").exists()  # nothing local: the store is Redis and PostgreSQL
        assert psql(ep, "select count(*) from projects", db) == "1"
        user, fresh, t = _user_and_candidates(proj)

        sport, log = free_port(), (tmp_path / "serve.log").open("wb")
        server = subprocess.Popen(
            [str(BIN / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port", str(sport)],
            cwd=alone,
            env=serve_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{sport}"
        deadline = time.monotonic() + 180
        while ready(url) != 200:
            alive = server.poll() is None and time.monotonic() < deadline
            assert alive, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        status = json.loads(urllib.request.urlopen(f"{url}/status/", timeout=10).read())
        assert status["features_store"] == built["store"] and status["features_as_of"].startswith(built["as_of"][:19])
        body = {"user_id": user, "k": 5, "candidates": fresh, "request_time": t.isoformat()}
        got = post(url, body)
        assert not got["fallback"] and len(got["items"]) == 5, got
        assert list(alone.iterdir()) == []  # the service wrote nothing where it was started

        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "save"], capture_output=True)  # a snapshot, then gone
        redis.wait(timeout=30)
        got = post(url, body)
        assert got["fallback"] and "online store cannot be read" in got["fallback_reason"], got
        assert ready(url) == 503

        redis = start_redis()  # back, from its snapshot
        deadline = time.monotonic() + 60
        while ready(url) != 200:
            assert time.monotonic() < deadline, "not ready again after Redis came back"
            time.sleep(0.2)
        assert not post(url, body)["fallback"]
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        redis.terminate()
        redis.wait(timeout=30)
        psql(ep, f'drop database if exists "{db}" with (force)')


def test_after_an_advance_a_workers_table_read_again_view_by_view_is_what_a_full_read_gives(trained_project, tmp_path):
    from newsrec.adapters.feast import META_VIEW, NEWS_VIEWS, STATS_VIEW, FeatureStore, OnlineFeatures, _articles
    from newsrec.bootstrap import context

    paths = context(root=trained_project).paths
    home = tmp_path / "feast"
    shutil.copytree(paths.online, home, symlinks=True)
    features = OnlineFeatures(paths.feature_repo, home, freshest_n=10, poll_seconds=0.01)
    store = FeatureStore(paths.feature_repo, home)
    state = store.state()
    as_of, news = pd.Timestamp(state["as_of"]), state["news"]
    held = store.online_rows(NEWS_VIEWS, META_VIEW.key, news)
    key, moved, new_id = META_VIEW.key, news[:5], "N-arrived-this-hour"
    # an hour: five articles' stats move on (one value goes missing), a new article arrives
    stats = held.loc[moved, list(STATS_VIEW.columns)].rename_axis(key).reset_index()
    stats["news_imps"] += 7
    stats.loc[1, "news_ctr_1h"] = None
    stats["event_timestamp"] = as_of + pd.Timedelta(minutes=30)
    arrived = stats.iloc[[0]].assign(**{key: new_id})
    meta = held.loc[[news[0]], list(META_VIEW.columns)].rename_axis(key).reset_index().assign(**{key: new_id})
    meta["event_timestamp"] = as_of + pd.Timedelta(minutes=40)
    store.push(META_VIEW, meta)
    store.push(STATS_VIEW, pd.concat([stats, arrived], ignore_index=True))
    until = as_of + pd.Timedelta(hours=1)
    store.set_state(until, [*news, new_id], as_of, {META_VIEW.name: [new_id], STATS_VIEW.name: [*moved, new_id]})
    deadline = time.monotonic() + 30
    while features.snapshot.as_of != until and time.monotonic() < deadline:
        time.sleep(0.02)
    assert features.snapshot.as_of == until and (features.updates, features.reloads) == (1, 1), features.error
    got = features.snapshot.table
    full = _articles(store.online_rows(NEWS_VIEWS, key, [*news, new_id]), until)
    pd.testing.assert_frame_equal(got, full.sort_index(), check_dtype=False)
    assert got.loc[moved[0], "news_imps"] == held.loc[moved[0], "news_imps"] + 7
    assert pd.isna(got.loc[moved[1], "news_ctr_1h"]) and got.loc[new_id, "news_imps"] == got.loc[moved[0], "news_imps"]
