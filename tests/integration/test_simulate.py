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
    rec = result["recovery"]
    before = rec["never"]["before"]
    assert rec["drift"]["after"] >= before - 0.025, rec  # back to where it was
    assert rec["never"]["after"] <= before - 0.04, rec  # the static model stays down
    assert (proj / "reports/evidently").exists()


def test_no_shift_triggers_no_retraining(project):
    from flows.simulate import simulate

    project(policies=["drift"], days=5)
    result = simulate("none")
    days = result["policies"]["drift"]
    assert result["shock_day"] is None and len(days) == 5
    assert not any(d["drift"] or d["retrained"] for d in days), [d["reasons"] for d in days if d["drift"]]
