"""Connecting to the model registry, here or in a worker that receives it, leaves the
environment as it was: MLflow's setters export the store's address, which every later
process would take for the user's $MLFLOW_TRACKING_URI."""

from __future__ import annotations

import os
import pickle

from newsrec.adapters.mlflow import MLFLOW_ENV, Registry


def test_connect_and_unpickle_point_mlflow_at_the_store_and_leave_the_environment(tmp_path, monkeypatch):
    import mlflow

    for k in MLFLOW_ENV:
        monkeypatch.delenv(k, raising=False)
    reg = Registry.connect(tmp_path / "mlruns", "exp", "model")
    assert reg.uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert mlflow.get_tracking_uri() == reg.uri and mlflow.get_registry_uri() == reg.uri
    assert not any(k in os.environ for k in MLFLOW_ENV)
    mlflow.set_tracking_uri("sqlite:///elsewhere.db")  # as a fresh worker would be
    again = pickle.loads(pickle.dumps(reg))
    assert (again.uri, again.experiment_id) == (reg.uri, reg.experiment_id)
    assert mlflow.get_tracking_uri() == reg.uri and mlflow.get_registry_uri() == reg.uri
    assert os.environ.get("MLFLOW_TRACKING_URI") == "sqlite:///elsewhere.db"  # the test's own setter, left as it was
    monkeypatch.setenv("MLFLOW_TRACKING_URI", reg.uri)  # the user's choice stays
    Registry.connect(tmp_path / "other", "exp", "model")
    assert os.environ["MLFLOW_TRACKING_URI"] == reg.uri
