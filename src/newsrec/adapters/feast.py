"""Feast: apply the feature repo, materialize to the online store, build training sets.

feast is imported inside the functions: it takes seconds to import.
"""
from __future__ import annotations

import importlib.util
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

SERVICE = "ranker_v1"


def store(repo: Path):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo))


def _definitions(repo: Path) -> list:
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView, RequestSource
    from feast.data_source import DataSource

    spec = importlib.util.spec_from_file_location("newsrec_feature_definitions", repo / "feature_definitions.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    kinds = (Entity, FeatureView, OnDemandFeatureView, FeatureService, DataSource, RequestSource)
    return [v for v in vars(mod).values() if isinstance(v, kinds)]


def apply(repo: Path):
    """Register the declarations in feature_repo/ (what `feast apply` does); return the store."""
    fs = store(repo)
    fs.apply(_definitions(repo))
    return fs


def materialize(fs, start: datetime, end: datetime) -> None:
    """Load the latest feature values in [start, end] into the online store."""
    fs.materialize(start_date=start, end_date=end)


def historical(fs, entities: pd.DataFrame, service: str = SERVICE) -> pd.DataFrame:
    """Point-in-time join of the FeatureService onto the entity rows; every row comes back."""
    out = fs.get_historical_features(entity_df=entities, features=fs.get_feature_service(service)).to_df()
    if len(out) != len(entities):
        raise RuntimeError(f"Feast returned {len(out):,} rows for {len(entities):,} entity rows")
    return out


def service_version(fs, service: str = SERVICE) -> str:
    return fs.get_feature_service(service).tags.get("version", "")


USER_FEATURES = ["history_len", "user_imps_1d", "user_clicks_1d", "user_imps_7d", "user_clicks_7d",
                 "user_aff", "user_emb"]
NEWS_FEATURES = {"news_meta": ["category_idx", "first_seen_ts", "news_emb"],
                 "news_stats": ["news_imps", "news_clicks", "news_imps_1d", "news_clicks_1d", "news_ctr",
                                "news_quality"]}


def online_user(fs, user_id: str) -> dict | None:
    """The user's latest materialized features; None for a user the store does not know."""
    got = fs.get_online_features(features=[f"user_features:{c}" for c in USER_FEATURES],
                                 entity_rows=[{"user_id": user_id}]).to_dict()
    row = {c: got[c][0] for c in USER_FEATURES}
    return None if all(v is None for v in row.values()) else row


def online_news(fs, news_ids: list[str]) -> pd.DataFrame:
    """Article features from the online store, indexed by news_id (rows of unknown ids dropped)."""
    feats = [f"{view}:{c}" for view, cols in NEWS_FEATURES.items() for c in cols]
    got = fs.get_online_features(features=feats, entity_rows=[{"news_id": n} for n in news_ids]).to_dict()
    df = pd.DataFrame(got).set_index("news_id")
    return df[df["first_seen_ts"].notna()]
