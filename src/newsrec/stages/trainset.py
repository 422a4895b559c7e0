"""Stage `trainset`: the labeled impressions joined point-in-time to the FeatureService
(Feast get_historical_features), split by day (data/trainset)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.canonical import read_table
from newsrec.data.io import atomic_dir
from newsrec.features.spec import MODEL_FEATURES, SERVICE
from newsrec.model import check_split, split_by_day

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore

KEEP = ["impression_id", "user_id", "news_id", "event_timestamp", "clicked", "split"]


def entity_rows(imps: pd.DataFrame) -> pd.DataFrame:
    """One entity row per labeled candidate: its keys, its time and its label."""
    imps = imps[imps["clicked"].notna()]
    return pd.DataFrame(
        {
            "impression_id": imps["impression_id"].to_numpy(),
            "user_id": imps["user_id"].to_numpy(),
            "news_id": imps["news_id"].to_numpy(),
            "event_timestamp": imps["time"].to_numpy(),
            "request_time": imps["time"].astype("int64").to_numpy() / 1e6,
            "clicked": imps["clicked"].astype(int).to_numpy(),
        }
    )


def trainset(p: Params, paths: Paths, store: FeatureStore, say: Say | None = None) -> dict[str, int]:
    """Write data/trainset/trainset.parquet; return the rows per split."""
    say = say or progress("trainset")
    entities = entity_rows(read_table(paths.table("impressions")))
    say(f"{len(entities):,} labeled candidate rows -> Feast get_historical_features({SERVICE})")
    frame = store.historical(entities)
    frame["split"] = split_by_day(frame["event_timestamp"], p.trainset)
    check_split(frame["split"], frame["clicked"], p.trainset)
    frame = frame[KEEP + MODEL_FEATURES].sort_values(["event_timestamp", "impression_id", "news_id"])
    with atomic_dir(paths.trainset.parent) as tmp:
        frame.to_parquet(tmp / paths.trainset.name, index=False)
    counts = {str(k): int(v) for k, v in frame["split"].value_counts().items()}
    say(
        f"{len(frame):,} rows {counts}; missing values per feature: "
        f"{ {c: int(n) for c, n in frame[MODEL_FEATURES].isna().sum().items() if n} }"
    )
    return counts
