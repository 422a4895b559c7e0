"""Feast declarations: entities, sources, feature views, the on-demand view and the
FeatureService `ranker_v1`, the one contract between the model and its features. Names,
columns, types and TTLs come from newsrec.features.spec; this file only maps them to Feast."""

from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Array, Float32, Float64, Int64

from newsrec.features import spec

# the DuckDB store resolves relative paths against the working directory: use absolute ones
DATA = Path(__file__).resolve().parent.parent / "data" / "features"
TYPES = {"int64": Int64, "float64": Float64, "float32[]": Array(Float32)}


def _fields(columns: dict[str, str]) -> list[Field]:
    return [Field(name=c, dtype=TYPES[t]) for c, t in columns.items()]


# typed join keys: Feast deprecates untyped entities, and `feast apply` then needs no data to infer them
user = Entity(name="user", join_keys=[spec.USER_VIEW.key], value_type=ValueType.STRING, description="a reader")
news = Entity(name="news", join_keys=[spec.META_VIEW.key], value_type=ValueType.STRING, description="an article")
ENTITY = {spec.USER_VIEW.key: user, spec.META_VIEW.key: news}


def _view(v: spec.View) -> FeatureView:
    source = FileSource(name=v.table, path=str(DATA / f"{v.table}.parquet"), timestamp_field="event_timestamp")
    return FeatureView(name=v.name, entities=[ENTITY[v.key]], ttl=v.ttl, source=source, schema=_fields(v.columns))


user_features, news_meta, news_stats = (_view(v) for v in spec.VIEWS)
request_source = RequestSource(name="request", schema=_fields(spec.REQUEST_INPUT))


@on_demand_feature_view(
    sources=[user_features, news_meta, request_source], mode="pandas", schema=_fields(spec.REQUEST_FEATURES)
)
def request_features(inputs: pd.DataFrame) -> pd.DataFrame:
    # Feast stores this function's source and runs it without this module: import inside
    from newsrec.features.request import request_features as compute

    return compute(inputs)


ranker_v1 = FeatureService(
    name=spec.SERVICE,
    features=[user_features, news_meta, news_stats, request_features],
    tags={"version": spec.SERVICE_VERSION},
    description="inputs of the newsrec click model, training and serving",
)
