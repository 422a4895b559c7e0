"""`newsrec advance`: move the online store in service forward to a time. The feature rows
of (its last update, until] are built by the same `build_features` as the `features`
stage, from everything known up to then (the ingested tables, and the served traffic:
the prediction log joined with its outcomes, collected in memory the way `collect` does),
and pushed to Feast. A request at time t then sees the store's last update, never after t.

In one process, a move goes on from the last (newsrec.features.moving): it collects only
the hours whose log changed, and builds its window from the last day of events and the
sums before it, so its cost does not grow with the log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from newsrec import collect as core
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data import schema
from newsrec.data.canonical import read_table
from newsrec.data.mind import read_news
from newsrec.features.moving import Moving
from newsrec.features.spec import META_VIEW, VIEWS
from newsrec.predlog import log_files, read_log
from newsrec.stages.features import feature_categories

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore


@dataclass(frozen=True)
class Advanced:
    since: str  # the store's last update before
    until: str  # ... and now
    rows: dict[str, int]  # rows pushed per feature table
    seconds: dict[str, float] = field(default_factory=dict)  # collect, build, push


_LOG: dict = {}  # log files read by this process, by hour (a file never changes once written)
_TABLES: dict = {}  # canonical tables read by this process, by path and modification time
_DAYS: dict = {}  # the collected hours (newsrec.collect.union_in_parts's memo)
_MOVING = Moving()  # what a move keeps for the next (newsrec.features.moving)
_CHAIN: list = [None]  # the inputs of the last known_events: its collected hours' chain


def _table(path, read=read_table) -> pd.DataFrame:
    mtime = path.stat().st_mtime_ns
    if _TABLES.get(path, (None,))[0] != mtime:
        _TABLES[path] = (mtime, read(path))
    return _TABLES[path][1]


def known_events(p: Params, paths: Paths) -> dict[str, pd.DataFrame]:
    """The canonical tables of everything logged so far: ingested, and served (collected
    from the whole log, so the hours not collected yet count too). Collected an hour at a
    time: an hour whose log files did not change since the last call is not collected
    again, so moving the store forward collects only the traffic since its last move."""
    logged = {n: _table(paths.table(n)) for n in schema.TABLES}
    feed_file = paths.raw_source(p.ingest.source) / schema.LIVE_FEED
    feed = _table(feed_file, lambda f: read_news(f).to_pandas()) if feed_file.exists() else logged["news"].iloc[0:0]
    base = tuple(_TABLES[f][0] for f in (*map(paths.table, schema.TABLES), feed_file) if f in _TABLES)
    base += (p.collect.history_max,)
    log, out = _by_day(paths.predictions), _by_day(paths.outcomes)  # each folder listed once
    hours = [h for d in sorted(set(log) & set(out)) for h in _hours(d, (log[d], out[d]))]
    t = core.union_in_parts(logged, hours, feed, p.collect.history_max, _DAYS, base)
    _CHAIN[0] = _DAYS[hours[-1][0]][0] if hours else (base,)
    return t


def extends(before: tuple | None, now: tuple) -> bool:
    """Whether the tables of the chain `now` are those of `before` with rows appended: the
    same inputs, hour for hour, and maybe more hours (union_in_parts then went on from the
    tables it gave last)."""
    return before is not None and now[: len(before)] == before


def _by_day(root) -> dict[str, list]:
    """The log's files by day (YYYY-MM-DD), the days with files only."""
    days: dict[str, list] = {}
    for f in log_files(root):
        days.setdefault(f.parent.name.split("=", 1)[1], []).append(f)
    return days


_PIECES: dict = {}  # per day: its files and its hours (a day's files are only ever added to)


def _hours(day: str, files: tuple[list, list]) -> list[core.Part]:
    """The day's logged hours, each (hour, the files holding its requests, load), from its
    prediction log and outcome files; made again only when the day's files change."""
    key = tuple(tuple(fs) for fs in files)
    if (hit := _PIECES.get(day)) is not None and hit[0] == key:
        return hit[1]
    frames = {f: _hourly(f) for fs in files for f in fs}
    hours = sorted({h for f in frames for h in frames[f]})

    def piece(h: str) -> core.Part:
        holding = [[f for f in fs if h in frames[f]] for fs in files]
        load = lambda: tuple(  # noqa: E731
            pd.concat([frames[f][h] for f in fs], ignore_index=True) if fs else pd.DataFrame() for fs in holding
        )
        return h, tuple(tuple(f.name for f in fs) for fs in holding), load

    _PIECES[day] = (key, [piece(h) for h in hours])
    return _PIECES[day][1]


def _hourly(f) -> dict[str, pd.DataFrame]:
    """A log file's rows by the hour of their request (read once: a log file never changes)."""
    if f not in _LOG:
        df = read_log(f.parent.parent, files=[f])
        hour = core.utc(df["request_time"]).dt.floor("h")
        if len(hour) and hour.notna().all() and hour.min() == hour.max():
            _LOG[f] = {f"{hour.iloc[0]:%Y-%m-%dT%H}": df}  # one hour (most files): what the groupby gives
        else:
            _LOG[f] = {f"{h:%Y-%m-%dT%H}": part.reset_index(drop=True) for h, part in df.groupby(hour, sort=True)}
    return _LOG[f]


def advance(p: Params, paths: Paths, store: FeatureStore, until: pd.Timestamp, say: Say | None = None) -> Advanced:
    """Push the feature rows of (the store's last update, until] and record `until`."""
    say = say or progress("advance")
    state = store.state()
    since = pd.Timestamp(state["as_of"])
    until = pd.Timestamp(until).tz_convert("UTC") if pd.Timestamp(until).tzinfo else pd.Timestamp(until, tz="UTC")
    if until <= since:
        return Advanced(since.isoformat(), since.isoformat(), {})
    before, t0 = _CHAIN[0], time.monotonic()
    t = known_events(p, paths)
    t1 = time.monotonic()
    logged_titles = _table(paths.table("news"))["title"]
    ft = _MOVING.build(t, extends(before, _CHAIN[0]), feature_categories(p), p.features, logged_titles, (since, until))
    t2 = time.monotonic()
    rows, changed = {}, {}
    for v in VIEWS:
        new = getattr(ft, v.table)
        rows[v.table] = store.push(v, new)
        changed[v.name] = new[v.key].tolist()
        if v is META_VIEW:
            news = state["news"] + new[v.key].tolist()
    store.set_state(until, news, since, changed)
    seconds = {"collect": t1 - t0, "build": t2 - t1, "push": time.monotonic() - t2}
    say(f"online store {since} -> {until}: " + ", ".join(f"{k} {n:,}" for k, n in rows.items()))
    return Advanced(since.isoformat(), until.isoformat(), rows, seconds)
