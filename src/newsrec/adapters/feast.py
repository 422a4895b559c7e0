"""Feast: apply the feature repo, build and switch online stores, push feature rows, build
training sets, and the service's online reads.

A local online store is a folder data/feast/stores/<id>/ (registry.db, online.db, and
state.json: the time the store is up to date with, and the articles it holds);
data/feast/current links to the one in service. The `feast` stage builds a new store aside
and then switches the link in one rename, so a running service never reads a store that is
being rebuilt or deleted; it follows the link by itself (OnlineFeatures).

feast is imported inside the functions: it takes seconds to import.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from newsrec.features.spec import META_VIEW, SERVICE, STATS_VIEW, USER_VIEW, View

# code Feast runs that no import statement shows: the declarations it loads (the on-demand
# view's function runs again whenever Feast builds a training set or serves a request)
DEFINITIONS = "feature_definitions.py"
CURRENT, STATE = "current", "state.json"


def _definitions(repo: Path) -> list:
    from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView, RequestSource
    from feast.data_source import DataSource

    spec = importlib.util.spec_from_file_location("newsrec_feature_definitions", repo / DEFINITIONS)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    kinds = (Entity, FeatureView, OnDemandFeatureView, FeatureService, DataSource, RequestSource)
    return [v for v in vars(mod).values() if isinstance(v, kinds)]


def _config(repo: Path, store: Path):
    """feature_store.yaml with a local registry and SQLite online store placed in `store`."""
    import yaml
    from feast.repo_config import RepoConfig

    raw = yaml.safe_load(os.path.expandvars((repo / "feature_store.yaml").read_text()))
    if isinstance(raw.get("registry"), str):  # a file registry
        raw["registry"] = str(store / "registry.db")
    if raw.get("online_store", {}).get("type") == "sqlite":
        raw["online_store"] = {**raw["online_store"], "path": str(store / "online.db")}
    config = RepoConfig(**raw)
    config.repo_path = repo
    return config


def current(home: Path) -> Path | None:
    """The store in service (the target of home/current), or None before the first one."""
    link = home / CURRENT
    return link.resolve() if link.exists() else None


def switch(home: Path, store: Path, keep: tuple[str, ...] = ()) -> None:
    """Point home/current at `store` in one rename. Every other store goes, but the one that
    was in service (a service may still be reading it) and those named in `keep`."""
    before = current(home)
    tmp = home / f".{CURRENT}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(store, home.resolve()))
    os.replace(tmp, home / CURRENT)
    for old in (home / "stores").iterdir():
        if old.resolve() not in {store.resolve(), before} and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def fork(home: Path, name: str) -> Path:
    """A copy of store `name` beside it, to advance while `name` stays as it was built."""
    src = home / "stores" / name
    dst = home / "stores" / f"{name}.live-{time.time_ns() % 10**12:012d}"
    shutil.copytree(src, dst)
    return dst


@contextmanager
def _known_warnings() -> Iterator[None]:
    """Two warnings Feast's stack gives on every run, filtered while a call runs: the on-demand
    view is "experimental" and "does not scale well for offline retrieval" (it is the one
    definition of the request features, shared by training and serving, and the training set's
    cost is measured by bench/trainset.py); and ibis, under Feast's DuckDB offline store, calls
    DuckDB's deprecated fetch_arrow_table(), which is theirs to change."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "On demand feature view is an experimental feature", RuntimeWarning)
        warnings.filterwarnings("ignore", r"fetch_arrow_table\(\) is deprecated", DeprecationWarning)
        yield


class FeatureStore:
    """The Feast feature store of a feature repo, on one online store folder (default: the
    one in service; `aside=True`: a new, empty one that `switch` can put in service)."""

    def __init__(self, repo: Path, home: Path, aside: bool = False) -> None:
        from feast import FeatureStore as Feast

        self.repo, self.home = repo, home
        now = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        self.store = (home / "stores" / f"{now}-{time.time_ns() % 10**9:09d}") if aside else home / CURRENT
        if aside:
            self.store.mkdir(parents=True)
        self.store = self.store.resolve()
        self.fs = Feast(repo_path=str(repo), config=_config(repo, self.store))

    def apply(self) -> None:
        """Register the declarations in the feature repo (what `feast apply` does)."""
        with _known_warnings():
            self.fs.apply(_definitions(self.repo))

    def materialize(self, start: datetime, end: datetime) -> None:
        """Load the latest feature values in [start, end] into the online store."""
        with _known_warnings():
            self.fs.materialize(start_date=start, end_date=end)

    def push(self, view: View, rows: pd.DataFrame) -> int:
        """Write each entity's latest row of `rows` (a feature table's columns) online."""
        latest = rows.sort_values("event_timestamp").drop_duplicates(view.key, keep="last")
        if len(latest):
            self.fs.write_to_online_store(view.name, latest[[view.key, "event_timestamp", *view.columns]])
        return len(latest)

    def bound_wait(self, ms: int) -> FeatureStore:
        """Reads wait at most `ms` for a SQLite online store another process holds locked
        (Python's default is 5 s), then fail; other online stores are left as they are."""
        online = self.fs._get_provider().online_store  # Feast keeps one connection per store
        if type(online).__name__ == "SqliteOnlineStore":
            online._get_conn(self.fs.config).execute(f"PRAGMA busy_timeout = {int(ms)}")
        return self

    def state(self) -> dict:
        """{"as_of": ISO time the store is complete up to, "news": [article ids it holds],
        and after an advance "since": the update before, "changed": {view: [keys pushed]}}."""
        f = self.store / STATE
        return json.loads(f.read_text()) if f.exists() else {"as_of": None, "news": []}

    def set_state(
        self, as_of: pd.Timestamp, news: list[str], since: pd.Timestamp | None = None, changed: dict | None = None
    ) -> None:
        from newsrec.data.io import write_json

        state = {"as_of": as_of.isoformat(), "news": sorted(set(news))}
        if since is not None:  # the keys of this update, so a reader of `since` reads only them again
            state |= {"since": since.isoformat(), "changed": {k: sorted(set(v)) for k, v in (changed or {}).items()}}
        write_json(self.store / STATE, state)

    def historical(self, entities: pd.DataFrame, service: str = SERVICE) -> pd.DataFrame:
        """Point-in-time join of the FeatureService onto the entity rows; every row comes back."""
        fs = self.fs
        with _known_warnings():
            out = fs.get_historical_features(entity_df=entities, features=fs.get_feature_service(service)).to_df()
        if len(out) != len(entities):
            raise RuntimeError(f"Feast returned {len(out):,} rows for {len(entities):,} entity rows")
        return out

    def service(self, service: str = SERVICE):
        """The registered FeatureService (what the model was trained on)."""
        return self.fs.get_feature_service(service)

    def service_version(self, service: str = SERVICE) -> str:
        return self.service(service).tags.get("version", "")

    def online_rows(self, views: tuple[View, ...], key: str, ids: list[str]) -> pd.DataFrame:
        """The views' latest online rows for `ids`, as stored: their values, and per view the
        time of the entity's row (`<view>__ts`, epoch seconds; see `fresh`)."""
        feats = [f"{v.name}:{c}" for v in views for c in v.columns]
        got = self.fs.get_online_features(features=feats, entity_rows=[{key: i} for i in ids])
        df = pd.DataFrame(got.to_dict(include_event_timestamps=True)).set_index(key)
        ts = {f"{v.name}{TS}": df[[f"{c}__ts" for c in v.columns]].max(axis=1) for v in views}
        return pd.concat([df[[c for v in views for c in v.columns]], pd.DataFrame(ts)], axis=1)

    def online_user(self, user_id: str, as_of: pd.Timestamp | None = None) -> dict | None:
        """The user's latest features; None for a user the store does not know, or whose row
        is older than the view's TTL at `as_of` (one row: plain dicts, no frame, on the
        request path)."""
        cols = list(USER_VIEW.columns)
        got = self.fs.get_online_features(
            features=[f"{USER_VIEW.name}:{c}" for c in cols], entity_rows=[{USER_VIEW.key: user_id}]
        ).to_dict(include_event_timestamps=True)
        row = {c: got[c][0] for c in cols}
        if all(v is None or v != v for v in map(_scalar, row.values())):
            return None
        if (
            as_of is not None
            and as_of.timestamp() - max(got[f"{c}__ts"][0] for c in cols) > USER_VIEW.ttl.total_seconds()
        ):
            return None
        return row

    def online_news(self, news_ids: list[str], as_of: pd.Timestamp | None = None) -> pd.DataFrame:
        """Article features, indexed by news_id (rows of unknown ids dropped)."""
        return _articles(self.online_rows(NEWS_VIEWS, META_VIEW.key, news_ids), as_of)


NEWS_VIEWS = (META_VIEW, STATS_VIEW)
TS = "__ts"


def fresh(rows: pd.DataFrame, views: tuple[View, ...], as_of: pd.Timestamp | None) -> pd.DataFrame:
    """`online_rows` as a request at `as_of` sees them: a view's values older than its TTL
    are missing, as in the offline point-in-time join."""
    out = rows[[c for v in views for c in v.columns]].copy()
    for v in views if as_of is not None else ():
        stale = (as_of.timestamp() - rows[f"{v.name}{TS}"]) > v.ttl.total_seconds()
        out.loc[stale.to_numpy(), list(v.columns)] = None
    return out


def _articles(rows: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """The articles' rows a request at `as_of` sees; ids the store does not hold dropped."""
    out = fresh(rows, NEWS_VIEWS, as_of)
    return out[out["first_seen_ts"].notna()]


def _scalar(v):
    return 0.0 if hasattr(v, "__len__") else v  # a vector counts as a value


@dataclass(frozen=True)
class Snapshot:
    """One online store as a request sees it: user rows read per request, article rows from
    a table loaded once per store update, and the time the store is up to date with."""

    version: tuple
    store: FeatureStore
    as_of: pd.Timestamp | None
    table: pd.DataFrame | None  # the articles as a request at as_of sees them (TTLs applied)
    freshest_n: int
    rows: pd.DataFrame | None = None  # the articles as stored (`online_rows`), to update in place

    def user(self, user_id: str) -> dict | None:
        return self.store.online_user(user_id, self.as_of)

    @functools.cached_property  # once per snapshot, not per request
    def oldest(self) -> pd.Timestamp | None:
        """The oldest event the store holds (its first article's first impression)."""
        if self.table is None or not len(self.table):
            return None
        return pd.Timestamp(float(self.table["first_seen_ts"].min()), unit="s", tz="UTC")

    def lookup(self, candidates: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
        """The candidates' rows and the ids the store does not hold (new articles, or not
        articles: ranked with the defaults either way); no candidates: the freshest N."""
        t = self.table
        if candidates is None:
            return t.nlargest(self.freshest_n, "first_seen_ts"), []
        ids = list(dict.fromkeys(candidates))
        return t.reindex(ids), [c for c in ids if c not in t.index]


class OnlineFeatures:
    """The service's online store. A background thread follows data/feast/current and the
    store's state: when either changes it loads the new store and its article table aside,
    then swaps the snapshot in, so no request waits for a reload or sees half of one.

    After an advance of the store in hand (the state names the update before it and the
    keys it pushed), only the pushed articles are read again; the TTLs are applied to the
    whole table at the new time. Anything else (a new store, a missed update) reads every
    article."""

    def __init__(
        self, repo: Path, home: Path, freshest_n: int, wait_ms: int = 1000, poll_seconds: float = 0.05
    ) -> None:
        self.repo, self.home, self.freshest_n, self.poll = repo, home, freshest_n, poll_seconds
        self.wait_ms = wait_ms
        self.reloads, self.updates, self.error = 0, 0, None
        self.read_error: str | None = None  # the last failed user read, until a read succeeds
        self.snapshot = self._load(self._version())
        threading.Thread(target=self._follow, name="online-features", daemon=True).start()

    def _version(self) -> tuple:
        store = current(self.home)
        st = (store / STATE).stat() if store and (store / STATE).exists() else None
        return (str(store), st.st_mtime_ns if st else 0)

    def _load(self, version: tuple, before: Snapshot | None = None) -> Snapshot:
        same = before is not None and before.version[0] == version[0] and before.rows is not None
        store = before.store if same else FeatureStore(self.repo, self.home).bound_wait(self.wait_ms)
        state = store.state()
        as_of = pd.Timestamp(state["as_of"]) if state["as_of"] else None
        if not state["news"]:
            return Snapshot(version, store, as_of, None, self.freshest_n)
        if same and "since" in state and before.as_of == pd.Timestamp(state["since"]):
            changed = sorted({k for v in NEWS_VIEWS for k in state["changed"].get(v.name, [])})
            new = store.online_rows(NEWS_VIEWS, META_VIEW.key, changed) if changed else before.rows.iloc[0:0]
            rows = pd.concat([before.rows[~before.rows.index.isin(new.index)], new]).sort_index()
            self.updates += 1
        else:
            rows = store.online_rows(NEWS_VIEWS, META_VIEW.key, state["news"])
            self.reloads += 1
        return Snapshot(version, store, as_of, _articles(rows, as_of), self.freshest_n, rows)

    def _follow(self) -> None:
        while True:
            time.sleep(self.poll)
            try:
                v = self._version()
                if self.snapshot.table is not None and v[1] == 0:  # never swap a store in for a missing one
                    raise FileNotFoundError(f"the online store in service is missing ({self.home / CURRENT})")
                if v != self.snapshot.version:
                    self.snapshot = self._load(v, self.snapshot)
                self.error = None
            except Exception as e:  # keep serving the last good store; /status reports it
                self.error = f"{type(e).__name__}: {e}"

    def reachable(self) -> bool:
        return self.snapshot.table is not None and len(self.snapshot.table) > 0

    def user(self, snap: Snapshot, user_id: str) -> tuple[dict | None, str | None]:
        """The user's row from `snap`, and None; or, when the store cannot be read, no row
        and why (the request is answered with the fallback ranking, flagged)."""
        try:
            if not snap.store.store.is_dir():  # deleted under the service (an open file would still read)
                raise FileNotFoundError(f"{snap.store.store} is missing")
            row = snap.user(user_id)
        except Exception as e:  # sqlite raises several types for a locked, missing or damaged file
            self.read_error = f"the online store cannot be read ({type(e).__name__}: {e})"
            return None, f"{self.read_error}: ranked by quality and popularity"
        self.read_error = None
        return row, None

    def readable(self) -> bool:
        """The article table is loaded and the store answers a user read now (/readyz asks)."""
        return self.reachable() and self.user(self.snapshot, "__readyz__")[1] is None
