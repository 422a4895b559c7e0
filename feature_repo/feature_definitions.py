"""Feast declarations: entities, sources, feature views, the on-demand view and the
FeatureService `ranker_v1`, the one contract between the model and its features."""
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, RequestSource
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Array, Float32, Float64, Int64

from newsrec.features import request
from newsrec.features.join import VIEWS

# the DuckDB store resolves relative paths against the working directory: use absolute ones
DATA = Path(__file__).resolve().parent.parent / "data" / "features"


def _source(name: str) -> FileSource:
    return FileSource(name=name, path=str(DATA / f"{name}.parquet"), timestamp_field="event_timestamp")


user = Entity(name="user", join_keys=["user_id"], description="a reader")
news = Entity(name="news", join_keys=["news_id"], description="an article")

user_features = FeatureView(
    name="user_features", entities=[user], ttl=VIEWS["users"][1], source=_source("users"),
    schema=[*(Field(name=f, dtype=Int64) for f in request.USER),
            Field(name="user_aff", dtype=Array(Float32)), Field(name="user_emb", dtype=Array(Float32))])

news_meta = FeatureView(
    name="news_meta", entities=[news], ttl=VIEWS["news_meta"][1], source=_source("news_meta"),
    schema=[Field(name="category_idx", dtype=Int64), Field(name="first_seen_ts", dtype=Float64),
            Field(name="news_emb", dtype=Array(Float32))])

news_stats = FeatureView(
    name="news_stats", entities=[news], ttl=VIEWS["news_stats"][1], source=_source("news_stats"),
    schema=[*(Field(name=f, dtype=Int64) for f in request.NEWS[:4]),
            *(Field(name=f, dtype=Float64) for f in request.NEWS[4:])])

request_source = RequestSource(name="request", schema=[Field(name="request_time", dtype=Float64)])


@on_demand_feature_view(sources=[user_features, news_meta, request_source], mode="pandas",
                        schema=[Field(name=f, dtype=Float64) for f in request.REQUEST])
def request_features(inputs: pd.DataFrame) -> pd.DataFrame:
    # Feast stores this function's source and runs it without this module: import inside
    from newsrec.features.request import request_features as compute

    return compute(inputs)


ranker_v1 = FeatureService(
    name="ranker_v1", features=[user_features, news_meta, news_stats, request_features],
    tags={"version": "1"}, description="inputs of the newsrec click model, training and serving")
