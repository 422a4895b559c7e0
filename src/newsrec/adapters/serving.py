"""Serving I/O: the model from a BentoML-stored MLflow model folder, and Feast online
features with a per-process article cache (articles change only at materialization)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd

from newsrec.adapters import feast as fa
from newsrec.config import Ranking
from newsrec.serving import Ranker


def load_ranker(model_dir: Path, version: str, ranking: Ranking) -> Ranker:
    """The scikit-learn model (skops) and the defaults logged with it."""
    import mlflow.sklearn
    from mlflow.models import Model

    meta = Model.load(str(model_dir / "MLmodel")).metadata or {}
    return Ranker(mlflow.sklearn.load_model(str(model_dir)), version, meta["defaults"],
                  ranking.engagement_weight, ranking.quality_weight)


class ArticleCache:
    """User rows read per request; article rows read in one call and kept for `ttl` seconds."""

    def __init__(self, repo: Path, freshest_n: int, ttl: float) -> None:
        self.fs = fa.store(repo)
        self.freshest_n, self.ttl = freshest_n, ttl
        self._lock = threading.Lock()
        self._table: pd.DataFrame | None = None
        self._loaded = 0.0

    def table(self) -> pd.DataFrame:
        with self._lock:
            if self._table is None or time.monotonic() - self._loaded > self.ttl:
                ids = pd.read_parquet(self.fs.get_feature_view("news_meta").batch_source.path,
                                      columns=["news_id"])["news_id"].unique().tolist()
                self._table = fa.online_news(self.fs, ids)
                self._loaded = time.monotonic()
            return self._table

    def reachable(self) -> bool:
        try:
            return len(self.table()) > 0
        except Exception:  # readiness must answer, not raise
            return False

    def user(self, user_id: str) -> dict | None:
        return fa.online_user(self.fs, user_id)

    def lookup(self, candidates: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
        """The known candidates' rows and the unknown ids; no candidates: the freshest N."""
        t = self.table()
        if candidates is None:
            return t.nlargest(self.freshest_n, "first_seen_ts"), []
        known = [c for c in dict.fromkeys(candidates) if c in t.index]
        return t.loc[known], [c for c in candidates if c not in t.index]
