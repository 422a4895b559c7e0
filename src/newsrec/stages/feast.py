"""Stage `feast`: feast apply, then materialize the feature tables into the online store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from newsrec.config import Paths
from newsrec.console import Say, progress
from newsrec.features.spec import SERVICE, VIEWS

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore


@dataclass(frozen=True)
class Materialized:
    start: datetime
    end: datetime


def feast(paths: Paths, store: FeatureStore, say: Say | None = None) -> Materialized:
    """Register the feature repo, then load every feature row's latest values online."""
    say = say or progress("feast")
    store.apply()
    say(f"applied {paths.feature_repo} (FeatureService {SERVICE})")
    ts = pd.concat(
        [pd.read_parquet(paths.features / f"{v.table}.parquet", columns=["event_timestamp"]) for v in VIEWS]
    )["event_timestamp"]
    start, end = ts.min().to_pydatetime(), (ts.max() + pd.Timedelta(seconds=1)).to_pydatetime()
    store.materialize(start, end)
    say(f"materialized {ts.min()} .. {ts.max()} into the online store")
    return Materialized(start, end)
