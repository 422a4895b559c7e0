"""Stage `trainset`: the labeled impressions joined point-in-time to the FeatureService
(Feast get_historical_features), split by day (data/trainset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data import schema, slices
from newsrec.data.io import atomic_dir
from newsrec.features.context import with_context
from newsrec.features.join import as_of_to_files, entity_rows, labeled_days
from newsrec.features.spec import MODEL_FEATURES, SERVICE
from newsrec.model import UNUSED, Span, check_counts, check_split, split_counts, split_rows
from newsrec.stages.collect import tables

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore

# Feast's DuckDB join in one process, measured by bench/scale.py: 3.4 GB at 1M rows
FEAST_GB_PER_M, FEAST_ROWS = 3.5, 2_000_000

# event_timestamp: the time features are joined as of (the online store's last update);
# request_time: the request itself (epoch seconds)
KEEP = ["impression_id", "user_id", "news_id", "event_timestamp", "request_time", "clicked", "split"]


def trainset(p: Params, paths: Paths, store: FeatureStore, say: Say | None = None) -> dict[str, int]:
    """Write data/trainset/trainset.parquet; return the rows per split."""
    say = say or progress("trainset")
    if p.engine.kind == "dask":  # the same point-in-time join, a day per task, each reading its slices and
        return _trainset_on_dask(p, paths, say)  # writing its rows: nothing is gathered here
    entities = entity_rows(tables(paths, ["impressions"])["impressions"], p.features.advance_hours)
    # the split first, on the entity rows: rows outside its windows (older than a retrain's
    # window_days, or past the day split's days) are not joined at all (a retrain on the days
    # since a drift joins those days, not the whole history). `span`: all the rows' first and
    # last time, so the rows kept are split as among all of them
    times = pd.to_datetime(entities["request_time"], unit="s", utc=True)
    span = (times.min(), times.max())
    split = split_rows(times, entities["impression_id"], p.trainset, span)
    check_split(split, entities["clicked"], p.trainset)  # an empty split or one class: said before the join
    used = (split != UNUSED).to_numpy()
    say(
        f"{len(entities):,} labeled candidate rows, {used.sum():,} of them in the split's days -> "
        f"Feast get_historical_features({SERVICE})"
    )
    entities = entities[used]
    if len(entities) > FEAST_ROWS:
        say(
            f"warning: Feast's join in one process took about {FEAST_GB_PER_M} GB per million rows here, so about "
            f"{len(entities) / 1e6 * FEAST_GB_PER_M:.0f} GB for these; `engine.kind: dask` joins a day per task "
            f"(docs/scale.md)"
        )
    frame = with_context(store.historical(entities))  # Feast's rows, then each candidate among its impression's
    times = pd.to_datetime(frame["request_time"], unit="s", utc=True)
    frame["split"] = split_rows(times, frame["impression_id"], p.trainset, span)  # checked above: the same rows
    frame = frame[KEEP + MODEL_FEATURES].sort_values(["request_time", "impression_id", "news_id"])
    with atomic_dir(paths.trainset.parent) as tmp:
        frame.to_parquet(tmp / paths.trainset.name, index=False)
    counts = {str(k): int(v) for k, v in frame["split"].value_counts().items()}
    _said(say, len(frame), counts, frame[MODEL_FEATURES].isna().sum().to_dict())
    return counts


def _said(say: Say, rows: int, counts: dict[str, int], missing: dict[str, int]) -> None:
    say(f"{rows:,} rows {counts}; missing values per feature: { {c: int(n) for c, n in missing.items() if n} }")


def _finisher(p: Params, span: Span):
    """A day's joined rows as the training set holds them, and what the stage reports of them."""

    def finish(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        times = pd.to_datetime(frame["request_time"], unit="s", utc=True)
        frame["split"] = split_rows(times, frame["impression_id"], p.trainset, span)
        frame = frame[(frame["split"] != UNUSED).to_numpy()]  # as the in-process join: outside the split, not kept
        frame = frame[KEEP + MODEL_FEATURES].sort_values(["request_time", "impression_id", "news_id"])
        missing = frame[MODEL_FEATURES].isna().sum().to_dict()
        return frame, {"counts": split_counts(frame["split"], frame["clicked"]), "missing": missing}

    return finish


def _trainset_on_dask(p: Params, paths: Paths, say: Say) -> dict[str, int]:
    """The training set as a folder of day parts (data/trainset/trainset.parquet/day-*.parquet;
    readers take it as one table), each joined and written by a task on the cluster."""
    from newsrec.adapters.dask import client, runner

    imps = slices.tables(paths.canonical, paths.collected, tuple(schema.TABLES))["impressions"]
    days, span = labeled_days(imps, p.features.advance_hours, p.engine.join_hours)
    say(
        f"{imps.rows():,} candidate rows -> the point-in-time join of {SERVICE}, {len(days)} tasks of "
        f"{p.engine.join_hours} hours"
    )
    with atomic_dir(paths.trainset.parent) as tmp, client(p.engine, say) as c:
        (tmp / paths.trainset.name).mkdir()
        run = runner(c, say, "parts of entity rows joined and written")
        done = as_of_to_files(
            imps,
            paths.features,
            p.features.advance_hours,
            tmp / paths.trainset.name,
            _finisher(p, span),
            days,
            run,
            p.engine.join_hours,
        )
        both: dict[str, tuple[int, int]] = {}
        for d in done:
            for k, (n, clicks) in d["counts"].items():
                both[k] = (both.get(k, (0, 0))[0] + n, both.get(k, (0, 0))[1] + clicks)
        check_counts(both, p.trainset)
    counts = {k: n for k, (n, _) in both.items()}
    missing = {c: sum(d["missing"][c] for d in done) for c in MODEL_FEATURES}
    _said(say, sum(counts.values()), counts, missing)
    return counts
