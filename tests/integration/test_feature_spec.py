"""One declaration of the model's features: the Feast definitions in feature_repo/ are
derived from newsrec.features.spec, and the FeatureService, serving and monitoring read the
same columns. These fail as soon as one of them lists a feature the others do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsrec.features import spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def feast_objects() -> dict:
    from newsrec.adapters.feast import _definitions

    return {o.name: o for o in _definitions(ROOT / "feature_repo")}


def _dtype(feast_type) -> str:
    from feast.types import Array, Float32, Float64, Int64

    return {Int64: "int64", Float64: "float64", Array(Float32): "float32[]"}[feast_type]


def test_feature_views_are_the_declared_ones(feast_objects):
    for v in spec.VIEWS:
        fv = feast_objects[v.name]
        fields = {f.name: _dtype(f.dtype) for f in fv.features}
        assert fields == v.columns, v.name
        assert list(fields) == list(v.columns), v.name  # the order too
        assert fv.ttl == v.ttl and [feast_objects[e].join_key for e in fv.entities] == [v.key], v.name
        assert fv.batch_source.path.endswith(f"{v.table}.parquet"), v.name


def test_on_demand_view_and_service_are_the_declared_ones(feast_objects):
    odfv = feast_objects[spec.ON_DEMAND]
    assert {f.name: _dtype(f.dtype) for f in odfv.features} == spec.REQUEST_FEATURES
    service = feast_objects[spec.SERVICE]
    assert service.tags["version"] == spec.SERVICE_VERSION
    served = {(p.name, f.name) for p in service.feature_view_projections for f in p.features}
    declared = {(v.name, c) for v in spec.VIEWS for c in v.columns} | {
        (spec.ON_DEMAND, c) for c in spec.REQUEST_FEATURES
    }
    assert served == declared
    model_inputs = {c for _, c in served}
    # everything the model reads is served, but the impression context: computed over a request's candidates
    assert set(spec.MODEL_FEATURES) - set(spec.CONTEXT) <= model_inputs and not set(spec.CONTEXT) & model_inputs


def test_serving_and_monitoring_read_the_declared_columns():
    from monitoring import reports
    from newsrec import recommend
    from newsrec.features import request

    assert recommend.USER_COLUMNS == list(spec.USER_VIEW.columns)
    assert recommend.NEWS_COLUMNS == list(spec.META_VIEW.columns) + list(spec.STATS_VIEW.columns)
    assert reports.MODEL_FEATURES is spec.MODEL_FEATURES
    assert list(request.DEFAULTS) == spec.MODEL_FEATURES  # a fill value for every model input
