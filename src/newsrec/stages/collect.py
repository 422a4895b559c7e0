"""Stage `collect`: the prediction log joined with the outcomes -> canonical tables in
data/collected (newsrec.collect). DVC runs it every time (`always_changed`): the log is a
stream, and only a changed output makes the stages after it run again.

`tables` is how the other stages read the data: ingested and collected rows alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsrec import collect as core
from newsrec.config import Params, Paths
from newsrec.console import Run, Say, progress
from newsrec.data import schema
from newsrec.data.canonical import read_table, to_pandas
from newsrec.data.io import atomic_dir
from newsrec.data.mind import read_news
from newsrec.predlog import read_log


@dataclass(frozen=True)
class Collected:
    days: list[str]
    impressions: int
    rows: int
    clicks: int
    new_news: int


def tables(paths: Paths, names=tuple(schema.TABLES)) -> dict[str, pd.DataFrame]:
    """The canonical tables: the ingested ones and, where there are any, the collected ones."""
    logged = {n: read_table(paths.table(n)) for n in schema.TABLES}
    got = {n: read_table(paths.collected / f"{n}.parquet") for n in schema.TABLES} if paths.collected.exists() else None
    both = core.union(logged, got)
    return {n: both[n] for n in names}


def readers_rows(canonical: Path, readers) -> tuple[dict[str, pd.DataFrame], int]:
    """What `collect` needs of the ingested tables, read a row group at a time so that the
    size of the log, not of the data, bounds it: the news, the readers' clicks and
    histories; and the id after the last logged impression."""
    users = pc.field("user_id").isin(pa.array(list(readers), pa.string()))
    imps = pq.read_table(canonical / "impressions.parquet", filters=users & (pc.field("clicked") == 1))
    hist = pq.read_table(canonical / "histories.parquet", filters=users)
    last = pc.max(pq.read_table(canonical / "histories.parquet", columns=["impression_id"])["impression_id"]).as_py()
    logged = {
        "news": read_table(canonical / "news.parquet"),
        "impressions": to_pandas(imps),
        "histories": to_pandas(hist),
    }
    return logged, (last + 1 if last is not None else 0)


def collect(p: Params, paths: Paths, say: Say | None = None, run: Run | None = None) -> Collected:
    """Write data/collected from every logged day that has outcomes, atomically. A day per
    part with `run` (flows.parts: Prefect tasks) or on `engine.kind: dask` (the cluster)."""
    say = say or progress("collect")
    log, outcomes = read_log(paths.predictions), read_log(paths.outcomes)
    if log.empty or outcomes.empty:
        got = {n: schema.TABLES[n].empty_table().to_pandas() for n in schema.TABLES}
    else:
        logged, next_id = readers_rows(paths.canonical, core.readers(log, outcomes))
        feed_file = paths.raw_source(p.ingest.source) / schema.LIVE_FEED
        feed = read_news(feed_file).to_pandas() if feed_file.exists() else logged["news"].iloc[0:0]
        if run is not None:
            got = core.collect_days(log, outcomes, logged, feed, p.collect.history_max, next_id, run)
        elif p.engine.kind == "dask":  # a day of requests per task
            from newsrec.adapters.dask import client, runner

            with client(p.engine, say) as c:
                run = runner(c, say, "served days collected")
                got = core.collect_days(log, outcomes, logged, feed, p.collect.history_max, next_id, run)
        else:
            got = core.collect(log, outcomes, logged, feed, p.collect.history_max, next_id)
    with atomic_dir(paths.collected) as tmp:
        for name, df in got.items():
            pq.write_table(
                pa.Table.from_pandas(df, schema=schema.TABLES[name], preserve_index=False), tmp / f"{name}.parquet"
            )
    imps = got["impressions"]
    days = sorted(pd.to_datetime(imps["time"], utc=True).dt.strftime("%Y-%m-%d").unique().tolist())
    out = Collected(days, int(imps["impression_id"].nunique()), len(imps), int(imps["clicked"].sum()), len(got["news"]))
    span = f" ({days[0]}..{days[-1]})" if days else ""
    say(
        f"{out.impressions:,} impressions ({out.rows:,} shown items, {out.clicks:,} clicks) of {len(days)} "
        f"served day(s){span}; {out.new_news:,} new articles -> {paths.collected}"
    )
    return out
