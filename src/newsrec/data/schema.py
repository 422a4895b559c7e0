"""The canonical tables every data source becomes (parquet, timestamps in UTC)."""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
PD_TS = "datetime64[us, UTC]"  # the same, as a pandas dtype
# beside a source's MIND files: the news published after the logged days (the live days'),
# where `collect` finds the articles that served traffic showed first
LIVE_FEED = "live/news.tsv"

NEWS = pa.schema(
    [
        ("news_id", pa.string()),
        ("category", pa.string()),
        ("subcategory", pa.string()),
        ("title", pa.string()),
        ("abstract", pa.string()),
        ("first_seen", TS),  # first time the article was shown as a candidate; null if never
    ]
)

# One row per (impression, candidate); `clicked` is null where the source has no labels.
IMPRESSIONS = pa.schema(
    [
        ("impression_id", pa.int64()),
        ("user_id", pa.string()),
        ("time", TS),
        ("news_id", pa.string()),
        ("position", pa.int16()),
        ("clicked", pa.int8()),
        ("split", pa.string()),
    ]
)

# One row per impression: the user's click history before it, and its candidate counts.
HISTORIES = pa.schema(
    [
        ("impression_id", pa.int64()),
        ("raw_impression_id", pa.int64()),
        ("user_id", pa.string()),
        ("time", TS),
        ("history", pa.list_(pa.string())),
        ("n_candidates", pa.int32()),
        ("n_clicks", pa.int32()),
        ("split", pa.string()),
    ]
)

# Explicit feedback on clicked articles: star ratings. Empty for MIND (it has none).
FEEDBACK = pa.schema(
    [
        ("impression_id", pa.int64()),
        ("user_id", pa.string()),
        ("news_id", pa.string()),
        ("time", TS),
        ("rating", pa.int32()),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "news": NEWS,
    "impressions": IMPRESSIONS,
    "histories": HISTORIES,
    "feedback": FEEDBACK,
}
