"""Stage `feast`: a new online store built aside (feast apply, then materialize every
feature table), then switched into service in one rename (reports/feast.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import pandas as pd

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.io import write_json
from newsrec.features.spec import META_VIEW, SERVICE, USER_VIEW, VIEWS

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore


@dataclass(frozen=True)
class Materialized:
    """reports/feast.json"""

    store: str  # the name of the store now in service
    start: str
    as_of: str  # the store holds every feature row up to this time, none after
    news: int  # articles it holds


def feast(p: Params, paths: Paths, store: FeatureStore, say: Say | None = None) -> Materialized:
    """Register the feature repo in `store` (a new one, built aside), load the feature rows'
    latest values online up to the end of the data (the last impression, rounded up to the
    next store update: later rows lack that hour's traffic), then put the store in service."""
    from newsrec.adapters.feast import switch

    say = say or progress("feast")
    store.apply()
    say(f"applied {paths.feature_repo} (FeatureService {SERVICE}) in {store.where}")
    ts = pd.concat(
        [pd.read_parquet(paths.features / f"{v.table}.parquet", columns=["event_timestamp"]) for v in VIEWS]
    )["event_timestamp"]
    last = pd.read_parquet(paths.features / f"{USER_VIEW.table}.parquet", columns=["event_timestamp"]).max().iloc[0]
    start, as_of = ts.min(), last.ceil(f"{p.features.advance_hours}h")
    store.materialize(start.to_pydatetime(), as_of.to_pydatetime())
    meta = pd.read_parquet(paths.features / f"{META_VIEW.table}.parquet", columns=[META_VIEW.key, "event_timestamp"])
    news = meta.loc[meta["event_timestamp"] <= as_of, META_VIEW.key]
    store.set_state(as_of, news.tolist())
    switch(paths.online, store.name)
    say(f"materialized {start} .. {as_of} ({news.nunique():,} articles); in service: {store.where}")
    out = Materialized(store.name, start.isoformat(), as_of.isoformat(), int(news.nunique()))
    write_json(paths.feast, asdict(out))
    return out
