"""Any MIND-format directory -> the canonical parquet tables (see schema.py).

A directory is either one split (it holds behaviors.tsv and news.tsv) or a parent of
split folders (MINDsmall_train, MINDsmall_dev, MINDsmall_test, or train/dev/test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsrec.data import schema
from newsrec.data.io import atomic_dir
from newsrec.data.mind import Behaviors, MalformedInputError, per_list_sum, read_behaviors, read_feedback, read_news

if TYPE_CHECKING:
    from newsrec.config import Paths

SPLIT_ORDER = ("train", "dev", "test")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class IngestSummary:
    splits: dict[str, int]  # impressions per split
    news: int
    candidates: int
    clicks: int
    feedback: int


def find_splits(root: Path) -> list[tuple[str, Path]]:
    """The (split name, folder) pairs of a MIND directory, train before dev before test."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    dirs = (
        [root]
        if (root / "behaviors.tsv").exists()
        else sorted(d for d in root.iterdir() if d.is_dir() and (d / "behaviors.tsv").exists())
    )
    if not dirs:
        raise FileNotFoundError(f"{root}: no behaviors.tsv here or in a sub-folder")
    out = []
    for d in dirs:
        if not (d / "news.tsv").exists():
            raise FileNotFoundError(f"{d}: behaviors.tsv without news.tsv")
        name = next((s for s in SPLIT_ORDER if s in d.name.lower()), "train" if d == root else d.name)
        out.append((name, d))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{root}: two folders map to the same split: {names}")
    return sorted(out, key=lambda x: SPLIT_ORDER.index(x[0]) if x[0] in SPLIT_ORDER else 9)


def _tables(b: Behaviors, ids: pa.Array, split: str, path: Path) -> tuple[pa.Table, pa.Table]:
    n_cand = pc.list_value_length(b.candidates)
    rows = pc.list_parent_indices(b.candidates)
    pos = (np.arange(len(rows)) - b.candidates.offsets.to_numpy()[:-1][rows.to_numpy()]).astype(np.int16)
    if b.clicked is not None:
        clicked = pc.list_flatten(b.clicked)
        n_clicks = pa.array(per_list_sum(b.clicked, clicked.to_numpy()), pa.int32())
    else:
        clicked = pa.nulls(len(rows), pa.int8())
        n_clicks = pa.nulls(len(ids), pa.int32())
    imps = pa.table(
        {
            "impression_id": pc.take(ids, rows),
            "user_id": pc.take(b.user_id, rows),
            "time": pc.take(b.time, rows),
            "news_id": pc.list_flatten(b.candidates),
            "position": pa.array(pos, pa.int16()),
            "clicked": clicked,
            "split": pa.array(np.full(len(rows), split), pa.string()),
        },
        schema=schema.IMPRESSIONS,
    )
    hist = pa.table(
        {
            "impression_id": ids,
            "raw_impression_id": b.impression_id,
            "user_id": b.user_id,
            "time": b.time,
            "history": b.history,
            "n_candidates": pc.cast(n_cand, pa.int32()),
            "n_clicks": n_clicks,
            "split": pa.array(np.full(len(ids), split), pa.string()),
        },
        schema=schema.HISTORIES,
    )
    return imps, hist


def _first_seen(acc: dict, imps: pa.Table) -> None:
    g = imps.group_by("news_id").aggregate([("time", "min")])
    for nid, t in zip(g["news_id"].to_pylist(), g["time_min"].to_pylist()):
        if nid not in acc or t < acc[nid]:
            acc[nid] = t


def ingest_dir(root: Path, out: Path, chunk_lines: int = 200_000, progress: Progress | None = None) -> IngestSummary:
    """Convert a MIND-format directory into canonical tables in `out`, atomically."""
    say = progress or (lambda _msg: None)
    splits = find_splits(root)
    news_parts, feedback_parts, first_seen = [], [], {}
    counts, id_map, totals = {}, {}, np.zeros(2, dtype=np.int64)
    next_id = 0
    with atomic_dir(out) as tmp:
        wi = pq.ParquetWriter(tmp / "impressions.parquet", schema.IMPRESSIONS)
        wh = pq.ParquetWriter(tmp / "histories.parquet", schema.HISTORIES)
        try:
            for split, d in splits:
                say(f"{split}: reading {d / 'news.tsv'}")
                news_parts.append(read_news(d / "news.tsv"))
                path, labeled, n, offset = d / "behaviors.tsv", None, 0, next_id
                for b in read_behaviors(path, chunk_lines):
                    this = b.clicked is not None
                    if labeled is not None and this != labeled and len(b.candidates):
                        raise MalformedInputError(path, b.first_line, "labels appear in part of the file only")
                    labeled = this if labeled is None else labeled
                    raw = b.impression_id.to_numpy()
                    ids = pa.array(raw + offset, pa.int64())
                    next_id = max(next_id, int(raw.max()) + offset) if len(raw) else next_id
                    imps, hist = _tables(b, ids, split, path)
                    wi.write_table(imps)
                    wh.write_table(hist)
                    _first_seen(first_seen, imps)
                    n += len(ids)
                    totals += [len(imps), int(pc.sum(imps["clicked"]).as_py() or 0)]
                    say(f"{split}: {n:,} impressions, {totals[0]:,} candidate rows")
                counts[split] = n
                id_map[split] = offset
                if (d / "feedback.tsv").exists():
                    fb = read_feedback(d / "feedback.tsv", chunk_lines)
                    ids = pc.add(fb["impression_id"], pa.scalar(offset, pa.int64()))
                    feedback_parts.append(fb.set_column(0, "impression_id", ids))
        finally:
            wi.close()
            wh.close()
        news = _news_table(news_parts, first_seen)
        pq.write_table(news, tmp / "news.parquet")
        fb = pa.concat_tables(feedback_parts).cast(schema.FEEDBACK) if feedback_parts else schema.FEEDBACK.empty_table()
        pq.write_table(fb, tmp / "feedback.parquet")
    return IngestSummary(counts, len(news), int(totals[0]), int(totals[1]), len(fb))


def _news_table(parts: list[pa.Table], first_seen: dict) -> pa.Table:
    news = pa.concat_tables(parts) if parts else schema.NEWS.empty_table().drop(["first_seen"])
    # the same article appears in several splits' news.tsv: keep its first row
    _, first = np.unique(news["news_id"].to_numpy(zero_copy_only=False), return_index=True)
    news = news.take(pa.array(np.sort(first)))
    seen = pa.array([first_seen.get(x) for x in news["news_id"].to_pylist()], schema.TS)
    return news.append_column("first_seen", seen).cast(schema.NEWS)


_NULLABLE = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def read_table(path: Path) -> pd.DataFrame:
    """A canonical table as pandas, integer columns as nullable Int* (no float NaN casts)."""
    return to_pandas(pq.read_table(path))


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas as `read_table` does (a row group, a slice)."""
    return table.to_pandas(types_mapper=_NULLABLE.get)


def article_categories(paths: Paths, source: str) -> pd.Series:
    """Each known article's category, by news_id: the ingested and the collected news tables,
    and the simulated world's live feed (the articles published during the live days)."""
    cols = ["news_id", "category"]
    tables = (paths.table("news"), paths.collected / "news.parquet")
    frames = [pd.read_parquet(f, columns=cols) for f in tables if f.exists()]
    feed = paths.raw_source(source) / schema.LIVE_FEED
    if feed.exists():
        frames.append(read_news(feed).to_pandas()[cols])
    news = pd.concat([f for f in frames if len(f)] or [pd.DataFrame(columns=cols)], ignore_index=True)
    return news.drop_duplicates("news_id").set_index("news_id")["category"]
