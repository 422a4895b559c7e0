"""The point-in-time join that Feast's get_historical_features does for the FeatureService,
done with pandas for in-process loops (the simulated days) that retrain many times. The
Feast path stays the pipeline's; a test holds the two to the same rows and values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsrec.data.slices import Table
from newsrec.features.context import impression_context
from newsrec.features.partitioned import serial
from newsrec.features.request import request_features
from newsrec.features.spec import VIEWS


def entity_rows(imps: pd.DataFrame, advance_hours: int) -> pd.DataFrame:
    """One entity row per labeled candidate of the impressions table: its keys, the time
    its features are joined as of, its request time (epoch seconds) and its label. The rows
    the training set and the simulated days join their features to.

    The features are those of the online store's last update before the request: the time
    floored to `advance_hours` (features.advance_hours), how often the store moves forward.
    Training then sees what serving sees, and no value from the request's own hour."""
    imps = imps[imps["clicked"].notna()]
    return pd.DataFrame(
        {
            "impression_id": imps["impression_id"].to_numpy(),
            "user_id": imps["user_id"].to_numpy(),
            "news_id": imps["news_id"].to_numpy(),
            "event_timestamp": imps["time"].dt.floor(f"{advance_hours}h").to_numpy(),
            "request_time": imps["time"].astype("int64").to_numpy() / 1e6,
            "clicked": imps["clicked"].astype(int).to_numpy(),
        }
    )


def as_of(entities: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For every entity row (user_id, news_id, event_timestamp, request_time, ...), the
    latest row of each feature table at or before its timestamp and within the table's TTL
    (missing: NaN), then the on-demand request features and the impression context (by
    impression_id, or request_id for logged requests). Rows keep their input order."""
    out = entities.assign(
        _row=range(len(entities)), event_timestamp=entities["event_timestamp"].astype("datetime64[us, UTC]")
    )
    out = out.sort_values("event_timestamp", kind="stable")
    for v in VIEWS:  # stable: of two rows at one time, the later in the table wins, in a part too
        right = tables[v.table].astype({"event_timestamp": "datetime64[us, UTC]"})
        right = right.sort_values("event_timestamp", kind="stable")
        out = pd.merge_asof(
            out, right, on="event_timestamp", by=v.key, direction="backward", tolerance=pd.Timedelta(v.ttl)
        )
    out = out.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    out = pd.concat([out, request_features(out)], axis=1)
    by = next((c for c in ("impression_id", "request_id") if c in out), None)
    if by is None:
        raise ValueError("the impression context needs each entity row's impression: an impression_id column")
    return pd.concat([out, impression_context(out, by)], axis=1)


def as_of_partitioned(
    entities: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    run: Callable[[Callable, Iterable], list] | None = None,
) -> pd.DataFrame:
    """`as_of` a day of entity rows at a time: each day gets the feature rows of its views'
    TTL before it and its own day only, so `run(fn, days)` can build them anywhere (a Dask
    cluster: newsrec.adapters.dask). The same rows and values, in the input order."""
    t = entities["event_timestamp"].astype("datetime64[us, UTC]")
    day = t.dt.floor("D")
    starts = sorted(day.unique())
    feats = {v.table: tables[v.table].astype({"event_timestamp": "datetime64[us, UTC]"}) for v in VIEWS}
    parts = []
    for lo in starts:
        hi = lo + pd.Timedelta(days=1)
        mine = (day == lo).to_numpy()
        sliced = {}
        for v in VIEWS:
            ts = feats[v.table]["event_timestamp"]
            sliced[v.table] = feats[v.table][((ts >= lo - pd.Timedelta(v.ttl)) & (ts < hi)).to_numpy()]
        parts.append((entities[mine], sliced))
    one = lambda part: as_of(*part)  # noqa: E731
    done = (run or serial)(one, parts)
    if not done:
        return as_of(entities, tables)
    out = pd.concat(done, ignore_index=True)
    rows = pd.Series(range(len(entities)))
    order = pd.concat([rows[(day == lo).to_numpy()] for lo in starts], ignore_index=True)
    return out.iloc[order.argsort(kind="stable").to_numpy()].reset_index(drop=True)


def as_of_from_files(
    impressions: Table,
    features: Path,
    advance_hours: int,
    run: Callable[[Callable, Iterable], list] | None = None,
) -> pd.DataFrame:
    """`as_of(entity_rows(impressions), the feature tables in `features`)` with each day's
    task reading its own slices: the impressions joined as of a time in its day (up to one
    update after it, since the times are floored), the feature rows of its views' TTL
    before it. The rows in the order of the impressions table."""
    days, _ = labeled_days(impressions, advance_hours)
    one = lambda lo: _day_of_files(impressions, features, advance_hours, lo)  # noqa: E731
    done = (run or serial)(one, days)
    out = pd.concat(done)
    return out.sort_index(kind="stable").reset_index(drop=True)


def labeled_days(
    impressions: Table, advance_hours: int, hours: int = 24
) -> tuple[list[pd.Timestamp], tuple[pd.Timestamp, pd.Timestamp]]:
    """The windows of `hours` (24: days) the labeled impressions' features are joined as of,
    by their starts, and the first and last time of those impressions, from one pass over
    the table a row group at a time."""
    days: set[pd.Timestamp] = set()
    lo = hi = None
    for b in impressions.batches(["time", "clicked"]):
        t = b.loc[b["clicked"].notna(), "time"]
        if len(t):
            days |= set(t.dt.floor(f"{advance_hours}h").dt.floor(f"{hours}h").unique())
            lo, hi = min(t.min(), lo or t.min()), max(t.max(), hi or t.max())
    if not days:
        raise ValueError(f"{', '.join(map(str, impressions.files))}: no labeled impressions, so no training set")
    return sorted(days), (lo, hi)


def as_of_to_files(
    impressions: Table,
    features: Path,
    advance_hours: int,
    out: Path,
    finish: Callable[[pd.DataFrame], tuple[pd.DataFrame, dict]],
    days: list[pd.Timestamp],
    run: Callable[[Callable, Iterable], list] | None = None,
    hours: int = 24,
) -> list[dict]:
    """`as_of_from_files` with each window's rows (`days`: their starts, `hours` long) written
    where they are joined, so that no process ever holds the whole: `finish(rows)` gives the
    rows to write and a summary, the rows go to out/part-<start>.parquet (in time order by
    name), and the summaries come back in time order."""

    def one(lo: pd.Timestamp) -> dict:
        joined = _day_of_files(impressions, features, advance_hours, lo, hours)
        rows, summary = finish(joined.sort_index(kind="stable"))
        rows.to_parquet(out / f"part-{lo:%Y-%m-%dT%H}.parquet", index=False)
        return summary

    return (run or serial)(one, days)


def _day_of_files(
    impressions: Table, features: Path, advance_hours: int, lo: pd.Timestamp, hours: int = 24
) -> pd.DataFrame:
    """One window's entity rows (those whose features are joined as of a time in it; a day
    unless `hours` says less), joined, indexed by their row number in the impressions table."""
    hi = lo + pd.Timedelta(hours=hours)
    imps = impressions.slice(lo, hi + pd.Timedelta(hours=advance_hours))  # joined as of the update before: floored
    imps = imps[imps["clicked"].notna()]
    ent = entity_rows(imps, advance_hours)
    mine = ((ent["event_timestamp"] >= lo) & (ent["event_timestamp"] < hi)).to_numpy()
    ent = ent[mine]
    tables = {}
    for v in VIEWS:  # the rows of its entities only (a view's TTL holds most of the table's)
        since = (lo - pd.Timedelta(v.ttl)).to_pydatetime()
        keys = pa.array(ent[v.key].unique(), pa.string())
        when = (pc.field("event_timestamp") >= since) & (pc.field("event_timestamp") < hi.to_pydatetime())
        got = pq.read_table(features / f"{v.table}.parquet", filters=when & pc.field(v.key).isin(keys))
        tables[v.table] = got.to_pandas()
    out = as_of(ent.reset_index(drop=True), tables)
    return out.set_axis(imps.index.to_numpy()[mine])
