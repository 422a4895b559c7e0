"""Deployment on paper, checked offline: the Kubernetes manifests against the Kubernetes
schemas (kubernetes-validate, strict: no unknown field), and prefect.yaml against the flows
and the served deployments it mirrors (flows/deployments.py)."""

from __future__ import annotations

import inspect

import kubernetes_validate
import pytest
import yaml
from scratch import ROOT


def _docs() -> list[dict]:
    return [d for f in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def test_the_kubernetes_manifests_are_valid_and_probe_the_service():
    docs = _docs()
    assert {d["kind"] for d in docs} == {"Deployment", "Service"}
    for d in docs:
        kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)  # raises on any error
    c = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" and c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    key = next(e for e in c["env"] if e["name"] == "NEWSREC_API_KEY")
    assert "secretKeyRef" in key["valueFrom"] and "value" not in key  # never in the repo


def test_a_broken_manifest_is_refused():
    d = next(d for d in _docs() if d["kind"] == "Deployment")
    d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"not": "a port"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)


def test_prefect_yaml_mirrors_the_served_deployments_and_names_real_flows(monkeypatch):
    import importlib

    from prefect import Flow

    monkeypatch.setenv("NEWSREC_ROOT", str(ROOT))
    from flows.deployments import DAILY, deployments
    from flows.monitor import DRIFT_EVENT

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    served = {(d.flow_name, d.name) for d in deployments()}
    mine = {}
    for d in spec["deployments"]:
        path, func = d["entrypoint"].split(":")
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), func)
        assert isinstance(flow, Flow), d["entrypoint"]
        assert d["work_pool"]["name"] == "newsrec"
        mine[(flow.name, d["name"])] = (flow, d)
    assert set(mine) == served
    _, daily = mine["monitor", "daily"]
    assert [s["cron"] for s in daily["schedules"]] == [DAILY]
    flow, on_drift = mine["retrain", "on-drift"]
    (trigger,) = on_drift["triggers"]
    assert trigger["expect"] == [DRIFT_EVENT] and trigger["match"]["prefect.resource.id"].startswith("newsrec.monitor.")
    assert set(trigger["parameters"]) == set(inspect.signature(flow.fn).parameters)
