"""Monitoring with the real Evidently: reports saved and added to the workspace, a shifted
window retrains and a like-for-like one does not, and an empty or corrupt log window says
so plainly and triggers nothing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scratch import ROOT, prom_query, sh

from newsrec.config import Monitor
from newsrec.features.spec import MODEL_FEATURES

P = Monitor(reference_rows=3_000, current_rows=3_000, min_rows=500)


def frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    df = pd.DataFrame({c: rng.gamma(2.0, 1.0, n) for c in MODEL_FEATURES})
    df["news_ctr"] = rng.beta(2, 20, n) * (1 + shift)
    df["category_affinity"] = rng.beta(1, 8, n) + shift / 4
    df["content_similarity"] = rng.normal(0.2 + shift / 4, 0.1, n)
    df["news_imps_1d"] = rng.poisson(5 * (1 + shift), n).astype(float)
    df["engagement"] = 1 / (1 + np.exp(-(-2 + 8 * df["news_ctr"] + 3 * df["category_affinity"])))
    df["clicked"] = (rng.random(n) < df["engagement"]).astype(float)
    df["request_id"] = np.arange(n) // 20
    df["score"] = df["engagement"]
    df["rank"] = df.groupby("request_id")["score"].rank(ascending=False, method="first")
    df["model_version"] = "1"
    return df


def test_reports_saved_workspace_filled_and_gate_follows_the_shift(tmp_path):
    from evidently.ui.workspace import Workspace

    from newsrec.stages.monitor import assess

    rng = np.random.default_rng(0)
    ref = frame(rng, 6_000)
    s, d = assess(ref, frame(rng, 4_000), ["2026-11-09"], P, tmp_path / "calm", tmp_path / "ws", say=lambda m: None)
    assert not d.retrain, d.reasons
    assert s.rows == {"reference": 6_000, "current": 4_000, "reference_sampled": 3_000, "current_sampled": 3_000}
    assert max(s.feature_drift.values()) < P.drift_threshold and s.score_drift < P.score_drift_threshold
    s2, d2 = assess(
        ref, frame(rng, 4_000, shift=1.0), ["2026-11-10"], P, tmp_path / "shock", tmp_path / "ws", say=lambda m: None
    )
    assert d2.retrain and any("news_ctr" in r for r in d2.reasons) and s2.score_drift > P.score_drift_threshold
    for run in ("calm", "shock"):
        for f in ("drift.html", "drift.json", "performance.html", "performance.json", "summary.json"):
            assert (tmp_path / run / f).stat().st_size > 0, (run, f)
    summary = json.loads((tmp_path / "shock" / "summary.json").read_text())
    assert summary["decision"]["retrain"] and summary["rows"]["current_sampled"] == 3_000
    ws = Workspace(str(tmp_path / "ws"))
    (project,) = ws.search_project("newsrec")
    assert len(ws.list_runs(project.id)) == 4  # drift + performance, two windows


@pytest.fixture()
def bare(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def test_empty_window_says_so_and_triggers_nothing(bare):
    res = sh(bare, "newsrec", "monitor")
    assert "no logged traffic" in res.stderr and "nothing triggered" in res.stderr
    decision = json.loads((bare / "reports/monitor/decision.json").read_text())
    assert decision["status"] == "empty" and decision["retrain"] is False


def test_a_corrupt_file_is_quarantined_named_and_an_unreadable_window_triggers_nothing(bare):
    day = bare / "data/predictions/date=2026-11-09"
    day.mkdir(parents=True)
    (day / "part-1-1-000001.parquet").write_bytes(b"PAR1 this is not parquet")
    # and a row of that day the service's writer could not write anywhere: counted as lost
    from newsrec.predlog import PredictionLog

    log = PredictionLog(bare / "data/predictions", batch=1, idle_s=0.01)
    log.RETRIES = ()
    log.append({"request_time": pd.Timestamp("2026-11-09 10:00", tz="UTC"), "unwritable": object()})
    log.close()
    assert log.lost == 1
    res = sh(bare, "newsrec", "monitor", "--end", "2026-11-09", check=False)
    assert res.returncode == 1
    assert "part-1-1-000001.parquet: cannot be read" in res.stderr and "Nothing triggered" in res.stderr
    assert "the window misses rows the service could not log: 0 dropped (queue full), 1 failed" in res.stderr
    decision = json.loads((bare / "reports/monitor/decision.json").read_text())
    assert decision["status"] == "corrupt" and decision["retrain"] is False
    assert decision["log_losses"] == {"dropped": 0, "failed": 1, "quarantined": 0, "lost": 1}
    assert "part-1-1-000001.parquet" in decision["quarantined"][0]
    aside = bare / "data/predictions.quarantine/date=2026-11-09/part-1-1-000001.parquet"
    assert aside.read_bytes() == b"PAR1 this is not parquet" and not (day / "part-1-1-000001.parquet").exists()


def test_monitoring_numbers_reach_prometheus_through_the_pushgateway_for_every_dashboard_panel(tmp_path, monkeypatch):
    """A judged window's drift scores and nDCG@10, pushed by the monitor stage's `publish`
    to a real Pushgateway and scraped by a real Prometheus (Debian's, installed once per
    machine where missing; each on a port of its own): every monitoring query of the
    Grafana dashboard returns a series, with the window's numbers."""
    import subprocess
    import time

    from newsrec.procs import free_ports
    from newsrec.stages.monitor import assess, publish
    from newsrec.stages.up import ensure_prometheus, listening, prometheus_config

    rng = np.random.default_rng(0)
    s, d = assess(frame(rng, 6_000), frame(rng, 4_000, shift=1.0), ["2026-11-10"], P, tmp_path / "w", tmp_path / "ws")
    prom_bin = ensure_prometheus()
    gw, prom = free_ports(2)
    config = prometheus_config(tmp_path / "prometheus.yml", "127.0.0.1:1", interval_s=1, pushgateway=f"127.0.0.1:{gw}")
    procs = [
        subprocess.Popen(
            ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gw}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                prom_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    said: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not listening("127.0.0.1", gw):
            assert time.monotonic() < deadline, "the Pushgateway did not start"
            time.sleep(0.2)
        monkeypatch.setenv("NEWSREC_PUSHGATEWAY", f"http://127.0.0.1:{gw}")
        publish(s, d.retrain, said.append)
        assert said and said[0].startswith("metrics pushed to"), said
        dashboard = json.loads((ROOT / "monitoring" / "grafana" / "newsrec-service.json").read_text())
        queries = {
            p["title"]: t["expr"] for p in dashboard["panels"] for t in p["targets"] if "(monitoring)" in p["title"]
        }
        assert len(queries) == 3
        got, deadline = {}, time.monotonic() + 90
        while len(got) < len(queries) and time.monotonic() < deadline:
            time.sleep(1)
            for title, expr in queries.items():
                if result := prom_query(f"http://127.0.0.1:{prom}", expr):
                    got[title] = result
        assert set(got) == set(queries), set(queries) - set(got)
        by = {title.split(",")[0]: r for title, r in got.items()}
        drift = {r["metric"]["feature"]: float(r["value"][1]) for r in by["Feature drift score"]}
        assert drift == pytest.approx(s.feature_drift)
        assert float(by["Engagement score drift"][0]["value"][1]) == pytest.approx(s.score_drift)
        ndcg = {r["metric"]["data"]: float(r["value"][1]) for r in by["nDCG@10 of the served order"]}
        assert ndcg == pytest.approx({k: v["ndcg@10"] for k, v in s.performance.items()})
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def test_an_unreachable_pushgateway_is_said_and_the_decision_stands(monkeypatch):
    from newsrec.drift import DriftSummary
    from newsrec.procs import free_port
    from newsrec.stages.monitor import publish

    monkeypatch.setenv("NEWSREC_PUSHGATEWAY", f"http://127.0.0.1:{free_port()}")
    said: list[str] = []
    publish(DriftSummary(window=["2026-11-10"], model_version="1", rows={"current": 0}), False, said.append)
    assert len(said) == 1 and said[0].startswith("metrics not pushed: the Pushgateway at http://127.0.0.1:")
