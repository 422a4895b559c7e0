"""The live loop on the real stack, short: a small world, 3 live days with a shock on the
second. The loop's own project runs the pipeline, serves the champion, lets the readers
in; the monitor flow catches the shock and its event triggers the retraining deployment
on a Prefect server, which collects the served days, trains, gates and hot-swaps the new
champion in. Every report is written, and the data it trained on includes the served days."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from scratch import SMALL_SPLIT, SMALL_TRAIN, SMALL_WORLD, make_project


def test_three_live_days_a_shock_a_retrain_a_deploy(tmp_path, monkeypatch, prefect):
    from flows.loop import TOLERANCE, loop

    proj = make_project(
        tmp_path / "proj",
        world={**SMALL_WORLD, "live_days": 3},
        trainset=SMALL_SPLIT,
        train=SMALL_TRAIN,
        simulate={"days": 3, "shock_day": 1},
        # the tiny world's days are a few hundred requests: its no-shift day measures an
        # engagement score drift of about 0.15 and the AUC of a few hundred clicks moves by
        # 0.1 from day to day, so alarms are set above that noise, where the shock still
        # rings (an AUC drop of about 0.2-0.27): one retrain, not one a night
        monitor={"score_drift_threshold": 0.25, "max_auc_drop": 0.15, "max_ndcg_drop": 0.1},
    )
    monkeypatch.setenv("NEWSREC_ROOT", str(proj))
    result = loop(days=3, scenario="interest_shock", shock_day=1)
    days = result["policies"]["drift"]
    assert [d["day"] for d in days] == [0, 1, 2] and result["shock_day"] == 1
    assert not days[0]["deployed"]  # no new model before the shock
    assert days[1]["drift"] and days[1]["retrained"] and days[1]["deployed"], days[1]["reasons"]
    assert "it triggers drift detected" in days[1]["trigger"]
    assert days[2]["model_version"] == days[1]["serving_after"] != days[1]["model_version"]  # hot-swapped in
    assert all(d["oracle"]["ndcg@10"] > 0 and d["requests"] > 100 for d in days)
    report = json.loads((proj / "reports/loop.json").read_text())
    assert report["policies"]["drift"] == days
    # the same days simulated in process, on the loop's world: the curve within the stated tolerance
    same, agree = report["simulated"]["policies"]["drift"], report["simulated"]["agreement"]
    for a, b in zip(same, days, strict=True):  # the same readers
        assert a["oracle"] == pytest.approx(b["oracle"], rel=1e-9) and a["drift"] == b["drift"]
    assert same[1]["drift"] and same[1]["retrained"] and same[2]["model_version"] != same[1]["model_version"]
    assert agree["max_share_gap"] <= TOLERANCE == agree["tolerance"], agree
    assert (proj / "reports/loop.png").stat().st_size > 10_000
    # the live policy priced against the static model simulated on the same readers: the night's
    # real retraining and deploy time is its compute
    econ = report["economics"]
    assert econ["baseline"] == "never" and set(econ["policies"]) == {"drift", "never"}
    live = econ["policies"]["drift"]
    assert live["retrain_seconds"] == pytest.approx(sum(d["retrain_seconds"] for d in days))
    assert live["retrain_seconds"] >= days[1]["seconds"]["retrain"] > 0
    assert live["shown"] == econ["policies"]["never"]["shown"] == sum(d["shown"] for d in days)
    assert live["pays_off"] in ("always", "above", "below", "never") and "net_gain" in live
    lab = proj / "loop"
    collected = pd.read_parquet(lab / "data/collected/impressions.parquet")
    last = max(i for i, d in enumerate(days) if d["retrained"])  # the last night's retrain collected up to its day
    assert set(pd.to_datetime(collected["time"]).dt.strftime("%Y-%m-%d")) == {d["date"] for d in days[: last + 1]}
    episode = next(
        (i for i, d in enumerate(reversed(days[: last + 1])) if not d["drift"]), last + 1
    )  # since the drift began
    params = yaml.safe_load((lab / "params.yaml").read_text())
    assert params["trainset"]["window_days"] == min(episode, params["simulate"]["train_window_days"])
    decisions = (lab / "reports/monitor/decisions.jsonl").read_text().splitlines()
    assert len(decisions) == 3 and len(list((lab / "reports/monitor").glob("*/drift.html"))) == 3
    assert json.loads((lab / "reports/promote.json").read_text())["promoted"] == days[last]["deployed"]


@pytest.mark.parametrize(
    ("days", "scenario", "shock_day", "says"),
    [
        (2, "foo", 1, "SCENARIO=foo"),
        (2, "new_category", 1, "SCENARIO=new_category"),
        (9, "interest_shock", 1, "DAYS=9: the world has 8 live days"),
        (2, "interest_shock", 2, "SHOCK_DAY=2"),
    ],
)
def test_the_loop_refuses_what_it_cannot_live_before_anything_runs(days, scenario, shock_day, says):
    from flows.loop import check

    with pytest.raises(ValueError, match=says):
        check(days, scenario, shock_day, 8)
    check(days if days <= 8 else 8, "none", 5, 8)  # no shock: the shock day does not matter
