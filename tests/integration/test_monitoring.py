"""Monitoring with the real Evidently: reports saved and added to the workspace, a shifted
window retrains and a like-for-like one does not, and an empty or corrupt log window says
so plainly and triggers nothing."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scratch import ROOT, sh

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
