"""The closed loop, through the Prefect flow: after a shock the drift policy recovers and the
static one does not; with no shift nothing triggers a retrain (no false alarm)."""

from __future__ import annotations

import json

import pytest
import yaml
from scratch import make_project


@pytest.fixture()
def project(tmp_path, monkeypatch, prefect):
    def make(**simulate):
        proj = make_project(tmp_path / "proj")
        params = yaml.safe_load((proj / "params.yaml").read_text())
        params["simulate"].update(simulate)
        (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        monkeypatch.setenv("NEWSREC_ROOT", str(proj))
        return proj

    return make


def test_drift_policy_recovers_after_the_shock_and_static_does_not(project):
    from flows.simulate import simulate

    proj = project(policies=["never", "drift"])  # the default world and scenario: an election on day 3
    result = simulate()
    assert json.loads((proj / "reports/simulate.json").read_text())["policies"].keys() == {"never", "drift"}
    assert (proj / "reports/simulate.png").stat().st_size > 10_000
    never, drift = result["policies"]["never"], result["policies"]["drift"]
    shock = result["shock_day"]
    assert not any(d["retrained"] for d in never)
    assert not any(d["drift"] for d in drift[:shock])  # quiet before the shock
    assert drift[shock]["drift"] and drift[shock]["retrained"]  # caught on the day it starts
    # the share of the oracle over the 2 days after the first retrained model serves, over that
    # share before the shock: the drift policy gets back to 90% or more, the static one does not
    rec = result["recovery"]
    assert len(rec["days"]) == 2 and rec["policies"]["drift"]["mean"] >= 0.90, rec
    assert rec["policies"]["never"]["mean"] <= 0.90, rec
    assert all("oracle" in d and d["oracle"]["ndcg@10"] >= d["ndcg@10"] - 0.05 for d in drift)
    assert (proj / "reports/evidently").exists()


def test_no_shift_raises_no_alarm_however_often_a_policy_retrains(project):
    from flows.simulate import simulate

    project(policies=["schedule", "drift"], days=5, retrain_every=1)  # schedule: a new model every day
    result = simulate("none")
    assert result["shock_day"] is None and all(len(days) == 5 for days in result["policies"].values())
    assert sum(d["retrained"] for d in result["policies"]["schedule"]) == 5
    for name, days in result["policies"].items():
        assert not any(d["drift"] for d in days), (name, [d["reasons"] for d in days if d["drift"]])
    assert not any(d["retrained"] for d in result["policies"]["drift"])
