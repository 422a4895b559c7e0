"""The closed loop, through the Prefect flow: after a shock the drift policy recovers and the
static one does not; with no shift nothing triggers a retrain (no false alarm)."""

from __future__ import annotations

import json

import pytest
import yaml
from scratch import SMALL_SPLIT, SMALL_TRAIN, SMALL_WORLD, make_project


@pytest.fixture()
def project(tmp_path, monkeypatch, prefect):
    def make(small: bool = False, **simulate):
        """A scratch project of the default world (its drift thresholds are set for that
        world's volume), or of the small one where a test needs no such judgement."""
        sections = dict(world=SMALL_WORLD, trainset=SMALL_SPLIT, train=SMALL_TRAIN) if small else {}
        proj = make_project(tmp_path / "proj", **sections)
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
    # share before the shock: the drift policy gets back to 90% or more, and clearly more than the
    # static one (whose readers' clicks of the day still tell it some of their new tastes)
    rec = result["recovery"]
    assert len(rec["days"]) == 2 and rec["policies"]["drift"]["mean"] >= 0.90, rec
    assert rec["policies"]["never"]["mean"] <= rec["policies"]["drift"]["mean"] - 0.03, rec
    assert all("oracle" in d and d["oracle"]["ndcg@10"] >= d["ndcg@10"] - 0.05 for d in drift)
    assert (proj / "reports/evidently").exists()
    # the economics: the same readers, so the same items shown; the drift policy's clicks priced
    # against the static model's, its retraining time counted
    e = result["economics"]
    assert e["baseline"] == "never" and e["policies"]["never"]["retrain_seconds"] == 0
    d = e["policies"]["drift"]
    assert d["shown"] == e["policies"]["never"]["shown"] == sum(x["shown"] for x in drift)
    assert d["clicks"] == sum(x["clicks"] for x in drift) and d["clicks_gained"] > 0
    assert d["retrain_seconds"] == pytest.approx(sum(x["retrain_seconds"] for x in drift))
    assert d["retrain_seconds"] > 0
    assert d["break_even_value_per_click"] is not None and d["pays_off"] in ("always", "above")
    # beyond accuracy, served and oracle alike
    assert all(0 < x[k] and 0 < x["oracle"][k] for x in drift for k in ("diversity@10", "novelty@10", "coverage@10"))


def test_no_shift_raises_no_alarm_however_often_a_policy_retrains(project):
    from flows.simulate import simulate

    project(policies=["schedule", "drift"], days=5, retrain_every=1)  # schedule: a new model every day
    result = simulate("none")
    assert result["shock_day"] is None and all(len(days) == 5 for days in result["policies"].values())
    assert sum(d["retrained"] for d in result["policies"]["schedule"]) == 5
    for name, days in result["policies"].items():
        assert not any(d["drift"] for d in days), (name, [d["reasons"] for d in days if d["drift"]])
    assert not any(d["retrained"] for d in result["policies"]["drift"])


def test_the_policies_side_by_side_on_dask_give_the_same_days(project):
    """With engine.kind dask the flow gets Prefect's DaskTaskRunner (flows.on_engine): the
    policies run as tasks on a LocalCluster, day for day the results of one process (on the
    small world: parity needs no particular volume)."""
    from flows import on_engine
    from flows.simulate import simulate

    proj = project(small=True, policies=["never", "schedule"], days=3, retrain_every=1)
    alone = simulate("none")
    params = yaml.safe_load((proj / "params.yaml").read_text())
    params["engine"].update(kind="dask", workers=2)
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    on_dask = on_engine(simulate)
    assert type(on_dask.task_runner).__name__ == "DaskTaskRunner"
    parts = on_dask("none")

    def timeless(r: dict) -> dict:  # the seconds a retrain took are the machine's, not the result's
        return {n: [{k: v for k, v in d.items() if k != "retrain_seconds"} for d in ds] for n, ds in r.items()}

    assert timeless(parts["policies"]) == timeless(alone["policies"])  # every day's version, metrics, drift, reasons
    assert [d["model_version"] for d in parts["policies"]["schedule"]] == [1, 2, 3]  # a new model each day
