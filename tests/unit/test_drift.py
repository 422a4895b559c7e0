"""The drift gate is a pure decision with reasons; performance of a scored window."""

import numpy as np
import pandas as pd
import pytest

from newsrec.config import Monitor
from newsrec.drift import DriftSummary, last_days, performance, sample
from newsrec.gates import drift_decision

P = Monitor(
    features=["news_ctr", "category_affinity", "freshness_hours", "content_similarity"],
    min_rows=100,
    drift_threshold=0.1,
    score_drift_threshold=0.1,
    max_auc_drop=0.03,
    max_ndcg_drop=0.03,
)
CALM = {
    "news_ctr": 0.02,
    "category_affinity": 0.01,
    "freshness_hours": 0.03,
    "content_similarity": 0.02,
    "user_imps_7d": 0.9,
}  # not gated: its drift is reported, not acted on
PERF = {"auc": 0.80, "ndcg@10": 0.55, "ctr@10": 0.12}


def summary(features=CALM, score=0.02, current=5_000, perf=None) -> DriftSummary:
    return DriftSummary(
        window=["2026-11-09"],
        model_version="3",
        rows={"current": current, "reference": 50_000},
        feature_drift=dict(features),
        score_drift=score,
        performance={"reference": PERF, "current": perf},
    )


def test_calm_window_is_kept_and_says_why():
    d = drift_decision(summary(perf=dict(PERF)), P)
    assert not d.retrain
    assert any("0/4 gated features drift" in r for r in d.reasons) and any("auc 0.8000" in r for r in d.reasons)


def test_feature_drift_over_the_share_retrains_and_names_the_features():
    drifted = {**CALM, "news_ctr": 0.4, "category_affinity": 0.3}
    d = drift_decision(summary(drifted), P)
    assert d.retrain and "2/4 gated features drift" in d.reasons[0] and "news_ctr 0.400" in d.reasons[0]
    assert not drift_decision(summary({**CALM, "news_ctr": 0.4}), P).retrain  # 1/4 < 50%


def test_score_drift_or_performance_drop_retrains():
    assert drift_decision(summary(score=0.5), P).retrain
    d = drift_decision(summary(perf={**PERF, "ndcg@10": 0.50}), P)
    assert d.retrain and "ndcg@10 0.5000 vs reference 0.5500" in d.reasons[0]
    assert not drift_decision(summary(perf={**PERF, "ndcg@10": 0.53}), P).retrain  # within the allowed drop


def test_empty_or_tiny_window_triggers_nothing():
    d = drift_decision(summary(current=0, score=9.0), P)
    assert not d.retrain and "no traffic" in d.reasons[0]
    d = drift_decision(summary(current=50, score=9.0), P)
    assert not d.retrain and "too few to judge" in d.reasons[0]


def test_performance_of_a_scored_window():
    # two requests; the first ranks its click first, the second ranks it last
    g = [1, 1, 1, 2, 2, 2]
    y = [1, 0, 0, 0, 0, 1]
    s = [0.9, 0.5, 0.1, 0.9, 0.5, 0.1]
    p = performance(g, y, s, s)
    assert p["auc"] == pytest.approx(0.5) and p["requests"] == 2 and p["clicks"] == 2
    assert p["ndcg@10"] == pytest.approx((1 + 1 / np.log2(4)) / 2)
    assert performance(g, [np.nan] * 6, s, s) is None  # clicks not known yet


def test_window_and_sample():
    assert last_days(["2026-11-03", "2026-11-01", "2026-11-03", "2026-11-02"], 2) == ["2026-11-02", "2026-11-03"]
    df = pd.DataFrame({"a": range(1000)})
    s = sample(df, 100, seed=0)
    assert len(s) == 100 and s.equals(sample(df, 100, seed=0)) and len(sample(df, 5000, 0)) == 1000


def test_performance_counts_only_what_readers_saw():
    # one request of 12: the two clicks at ranks 11 and 12 were never shown
    g, s = [1] * 12, np.linspace(1, 0, 12)
    y = [0] * 10 + [1, 1]
    p = performance(g, y, s, s)
    assert p["ctr@10"] == 0.0 and p["clicks"] == 0 and np.isnan(p["ndcg@10"])


def test_drift_since_is_the_first_day_of_the_unbroken_run_of_drifting_windows(tmp_path):
    import json

    from newsrec.config import Paths
    from newsrec.stages.monitor import drift_since

    paths = Paths(tmp_path)
    paths.monitor.mkdir(parents=True)
    days = {"2026-11-09": False, "2026-11-10": True, "2026-11-11": True, "2026-11-13": True}
    paths.decisions.write_text(
        "".join(json.dumps({"window": [d], "retrain": r, "status": "judged"}) + "\n" for d, r in days.items())
    )
    assert drift_since(paths, ["2026-11-12"]) == "2026-11-10"  # 10 and 11 drifted, then today
    assert drift_since(paths, ["2026-11-14"]) == "2026-11-13"  # 12 was not judged drifting: a new run
    assert drift_since(paths, ["2026-11-10"]) == "2026-11-10"  # 9 was kept


def test_two_monitor_runs_in_one_second_get_a_folder_each(tmp_path):
    from newsrec.stages.monitor import _new_folder

    base = tmp_path / "monitor" / "20261206-140000"
    got = [_new_folder(base) for _ in range(3)]
    assert [f.name for f in got] == ["20261206-140000", "20261206-140000-2", "20261206-140000-3"]
    assert all(f.is_dir() for f in got)
