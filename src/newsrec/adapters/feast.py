"""Feast: apply the feature repo, materialize to the online store, build training sets,
and online reads for serving (the user row per request, article rows through a cache).

feast is imported inside the functions: it takes seconds to import.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from newsrec.features.spec import META_VIEW, SERVICE, STATS_VIEW, USER_VIEW

# code Feast runs that no import statement shows: the declarations it loads (the on-demand
# view's function runs again whenever Feast builds a training set or serves a request)
DEFINITIONS = "feature_definitions.py"


def _definitions(repo: Path) -> list:
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView, RequestSource
    from feast.data_source import DataSource

    spec = importlib.util.spec_from_file_location("newsrec_feature_definitions", repo / DEFINITIONS)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    kinds = (Entity, FeatureView, OnDemandFeatureView, FeatureService, DataSource, RequestSource)
    return [v for v in vars(mod).values() if isinstance(v, kinds)]


class FeatureStore:
    """The Feast feature store of a feature repo."""

    def __init__(self, repo: Path) -> None:
        from feast import FeatureStore as Feast

        self.repo = repo
        self.fs = Feast(repo_path=str(repo))

    def apply(self) -> None:
        """Register the declarations in the feature repo (what `feast apply` does)."""
        self.fs.apply(_definitions(self.repo))

    def materialize(self, start: datetime, end: datetime) -> None:
        """Load the latest feature values in [start, end] into the online store."""
        self.fs.materialize(start_date=start, end_date=end)

    def historical(self, entities: pd.DataFrame, service: str = SERVICE) -> pd.DataFrame:
        """Point-in-time join of the FeatureService onto the entity rows; every row comes back."""
        fs = self.fs
        out = fs.get_historical_features(entity_df=entities, features=fs.get_feature_service(service)).to_df()
        if len(out) != len(entities):
            raise RuntimeError(f"Feast returned {len(out):,} rows for {len(entities):,} entity rows")
        return out

    def service(self, service: str = SERVICE):
        """The registered FeatureService (what the model was trained on)."""
        return self.fs.get_feature_service(service)

    def service_version(self, service: str = SERVICE) -> str:
        return self.service(service).tags.get("version", "")

    def online_user(self, user_id: str) -> dict | None:
        """The user's latest materialized features; None for a user the store does not know."""
        cols = list(USER_VIEW.columns)
        got = self.fs.get_online_features(
            features=[f"{USER_VIEW.name}:{c}" for c in cols], entity_rows=[{USER_VIEW.key: user_id}]
        ).to_dict()
        row = {c: got[c][0] for c in cols}
        return None if all(v is None for v in row.values()) else row

    def online_news(self, news_ids: list[str]) -> pd.DataFrame:
        """Article features from the online store, indexed by news_id (rows of unknown ids dropped)."""
        feats = [f"{v.name}:{c}" for v in (META_VIEW, STATS_VIEW) for c in v.columns]
        got = self.fs.get_online_features(features=feats, entity_rows=[{META_VIEW.key: n} for n in news_ids]).to_dict()
        df = pd.DataFrame(got).set_index(META_VIEW.key)
        return df[df["first_seen_ts"].notna()]

    def article_ids(self) -> list[str]:
        """Every article the news_meta view's source knows."""
        path = self.fs.get_feature_view(META_VIEW.name).batch_source.path
        return pd.read_parquet(path, columns=[META_VIEW.key])[META_VIEW.key].unique().tolist()


class ArticleCache:
    """User rows read per request; article rows read in one call and kept for `ttl` seconds
    (articles change only at materialization)."""

    def __init__(self, store: FeatureStore, freshest_n: int, ttl: float) -> None:
        self.store = store
        self.freshest_n, self.ttl = freshest_n, ttl
        self._lock = threading.Lock()
        self._table: pd.DataFrame | None = None
        self._loaded = 0.0

    def table(self) -> pd.DataFrame:
        with self._lock:
            if self._table is None or time.monotonic() - self._loaded > self.ttl:
                self._table = self.store.online_news(self.store.article_ids())
                self._loaded = time.monotonic()
            return self._table

    def reachable(self) -> bool:
        try:
            return len(self.table()) > 0
        except Exception:  # readiness must answer, not raise
            return False

    def user(self, user_id: str) -> dict | None:
        return self.store.online_user(user_id)

    def lookup(self, candidates: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
        """The known candidates' rows and the unknown ids; no candidates: the freshest N."""
        t = self.table()
        if candidates is None:
            return t.nlargest(self.freshest_n, "first_seen_ts"), []
        known = [c for c in dict.fromkeys(candidates) if c in t.index]
        return t.loc[known], [c for c in candidates if c not in t.index]
