"""A canonical table read a slice at a time, so that no process holds a whole table: the
rows whose `time` falls in a range, from the ingested file and then the collected one (the
order `newsrec.collect.union` puts them in), a row group at a time, skipping the row
groups whose statistics rule them out. Each row keeps its number in the whole table as the
frame's index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from newsrec.data.canonical import read_table, to_pandas


@dataclass(frozen=True)
class Table:
    """One canonical table as its files: the ingested one, then the collected one if any."""

    files: tuple[Path, ...]

    @classmethod
    def of(cls, canonical: Path, collected: Path, name: str) -> Table:
        extra = collected / f"{name}.parquet"
        return cls((canonical / f"{name}.parquet", *((extra,) if extra.exists() else ())))

    def groups(self) -> Iterator[tuple[pq.ParquetFile, int, int]]:
        """(file, row group, the number of its first row in the whole table)."""
        start = 0
        for path in self.files:
            f = pq.ParquetFile(path)
            for g in range(f.metadata.num_row_groups):
                yield f, g, start
                start += f.metadata.row_group(g).num_rows

    def batches(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The whole table, a row group at a time."""
        for f, g, start in self.groups():
            df = to_pandas(f.read_row_group(g, columns=columns))
            yield df.set_axis(pd.RangeIndex(start, start + len(df)))

    def slice(
        self, lo: pd.Timestamp, hi: pd.Timestamp, hi_closed: bool = False, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """The rows with lo <= time < hi (time <= hi with `hi_closed`), in table order."""
        out = []
        for f, g, start in self.groups():
            stats = _time_stats(f, g)
            if stats is not None and (stats[1] < lo or stats[0] > hi or (stats[0] == hi and not hi_closed)):
                continue
            df = to_pandas(f.read_row_group(g, columns=columns))
            df = df.set_axis(pd.RangeIndex(start, start + len(df)))
            t = df["time"]
            out.append(df[(t >= lo) & ((t <= hi) if hi_closed else (t < hi))])
        if not out:
            return to_pandas(pq.read_schema(self.files[0]).empty_table()).loc[:, columns or slice(None)]
        return pd.concat(out) if len(out) > 1 else out[0]

    def rows(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.files)

    def read(self) -> pd.DataFrame:
        """The whole table (small ones: news)."""
        return pd.concat([read_table(p) for p in self.files], ignore_index=True)


def _time_stats(f: pq.ParquetFile, g: int) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    col = f.schema_arrow.get_field_index("time")
    stats = f.metadata.row_group(g).column(col).statistics
    if stats is None or not stats.has_min_max:
        return None
    return pd.Timestamp(stats.min), pd.Timestamp(stats.max)


def tables(canonical: Path, collected: Path, names: tuple[str, ...]) -> dict[str, Table]:
    """The canonical tables as files, as `newsrec.stages.collect.tables` reads them whole: the
    collected ones count only when they hold impressions (newsrec.collect.union)."""
    t = {n: Table.of(canonical, collected, n) for n in names}
    if any(len(x.files) < 2 for x in t.values()) or not pq.ParquetFile(t["impressions"].files[1]).metadata.num_rows:
        t = {n: Table(x.files[:1]) for n, x in t.items()}
    return t
