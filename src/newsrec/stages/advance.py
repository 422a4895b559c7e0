"""`newsrec advance`: move the online store in service forward to a time. The feature rows
of (its last update, until] are built by the same `build_features` as the `features`
stage, from everything known up to then (the ingested tables, and the served traffic:
the prediction log joined with its outcomes, collected in memory the way `collect` does),
and pushed to Feast. A request at time t then sees the store's last update, never after t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from newsrec import collect as core
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data import schema
from newsrec.data.canonical import read_table
from newsrec.data.mind import read_news
from newsrec.features.build import build_features
from newsrec.features.spec import META_VIEW, VIEWS
from newsrec.predlog import read_log
from newsrec.stages.features import feature_categories

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore


@dataclass(frozen=True)
class Advanced:
    since: str  # the store's last update before
    until: str  # ... and now
    rows: dict[str, int]  # rows pushed per feature table


_LOG: dict = {}  # log files read by this process (they never change once written)
_TABLES: dict = {}  # canonical tables read by this process, by path and modification time


def _table(path) -> pd.DataFrame:
    mtime = path.stat().st_mtime_ns
    if _TABLES.get(path, (None,))[0] != mtime:
        _TABLES[path] = (mtime, read_table(path))
    return _TABLES[path][1]


def known_events(p: Params, paths: Paths) -> dict[str, pd.DataFrame]:
    """The canonical tables of everything logged so far: ingested, and served (collected
    from the whole log, so the days not collected yet count too)."""
    logged = {n: _table(paths.table(n)) for n in schema.TABLES}
    log, outcomes = read_log(paths.predictions, cache=_LOG), read_log(paths.outcomes, cache=_LOG)
    if log.empty or outcomes.empty:
        return logged
    feed_file = paths.raw_source(p.ingest.source) / schema.LIVE_FEED
    feed = read_news(feed_file).to_pandas() if feed_file.exists() else logged["news"].iloc[0:0]
    return core.union(logged, core.collect(log, outcomes, logged, feed, p.collect.history_max))


def advance(p: Params, paths: Paths, store: FeatureStore, until: pd.Timestamp, say: Say | None = None) -> Advanced:
    """Push the feature rows of (the store's last update, until] and record `until`."""
    say = say or progress("advance")
    state = store.state()
    since = pd.Timestamp(state["as_of"])
    until = pd.Timestamp(until).tz_convert("UTC") if pd.Timestamp(until).tzinfo else pd.Timestamp(until, tz="UTC")
    if until <= since:
        return Advanced(since.isoformat(), since.isoformat(), {})
    t = known_events(p, paths)
    logged_titles = _table(paths.table("news"))["title"]
    ft = build_features(
        t["news"],
        t["impressions"],
        t["histories"],
        t["feedback"],
        feature_categories(p),
        p.features,
        logged_titles,
        window=(since, until),
    )
    rows = {}
    for v in VIEWS:
        new = getattr(ft, v.table)
        rows[v.table] = store.push(v, new)
        if v is META_VIEW:
            news = state["news"] + new[v.key].tolist()
    store.set_state(until, news)
    say(f"online store {since} -> {until}: " + ", ".join(f"{k} {n:,}" for k, n in rows.items()))
    return Advanced(since.isoformat(), until.isoformat(), rows)
