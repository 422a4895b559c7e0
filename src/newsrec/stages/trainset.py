"""Stage `trainset`: the labeled impressions joined point-in-time to the FeatureService
(Feast get_historical_features), split by day (data/trainset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data import schema, slices
from newsrec.data.io import atomic_dir
from newsrec.features.join import as_of_from_files, entity_rows
from newsrec.features.spec import MODEL_FEATURES, SERVICE
from newsrec.model import check_split, split_rows
from newsrec.stages.collect import tables

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore

# event_timestamp: the time features are joined as of (the online store's last update);
# request_time: the request itself (epoch seconds)
KEEP = ["impression_id", "user_id", "news_id", "event_timestamp", "request_time", "clicked", "split"]


def trainset(p: Params, paths: Paths, store: FeatureStore, say: Say | None = None) -> dict[str, int]:
    """Write data/trainset/trainset.parquet; return the rows per split."""
    say = say or progress("trainset")
    if p.engine.kind == "dask":  # the same point-in-time join, a day per task, each reading its own slices
        from newsrec.adapters.dask import client, runner

        imps = slices.tables(paths.canonical, paths.collected, tuple(schema.TABLES))["impressions"]
        say(f"{imps.rows():,} candidate rows -> the point-in-time join of {SERVICE}, a day per task")
        with client(p.engine, say) as c:
            run = runner(c, say, "days of entity rows joined")
            frame = as_of_from_files(imps, paths.features, p.features.advance_hours, run)
    else:
        entities = entity_rows(tables(paths, ["impressions"])["impressions"], p.features.advance_hours)
        say(f"{len(entities):,} labeled candidate rows -> Feast get_historical_features({SERVICE})")
        frame = store.historical(entities)
    times = pd.to_datetime(frame["request_time"], unit="s", utc=True)
    frame["split"] = split_rows(times, frame["impression_id"], p.trainset)
    check_split(frame["split"], frame["clicked"], p.trainset)
    frame = frame[KEEP + MODEL_FEATURES].sort_values(["request_time", "impression_id", "news_id"])
    with atomic_dir(paths.trainset.parent) as tmp:
        frame.to_parquet(tmp / paths.trainset.name, index=False)
    counts = {str(k): int(v) for k, v in frame["split"].value_counts().items()}
    say(
        f"{len(frame):,} rows {counts}; missing values per feature: "
        f"{ {c: int(n) for c, n in frame[MODEL_FEATURES].isna().sum().items() if n} }"
    )
    return counts
