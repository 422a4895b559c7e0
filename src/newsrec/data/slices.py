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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsrec.data import schema
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
        self,
        lo: pd.Timestamp,
        hi: pd.Timestamp,
        hi_closed: bool = False,
        columns: list[str] | None = None,
        categories: dict[str, pd.Index] | None = None,
    ) -> pd.DataFrame:
        """The rows with lo <= time < hi (time <= hi with `hi_closed`), in table order. The
        columns named in `categories` come as pandas Categoricals over the given values
        (one not among them: NaN), coded from the file's strings without a Python object per
        row: on a large log, most of what reading a slice costs."""
        out, codes = [], {c: [] for c in categories or {}}
        values = {c: pa.array(v, pa.string()) for c, v in (categories or {}).items()}
        for f, g, start in self.groups():
            stats = _time_stats(f, g)
            if stats is not None and (stats[1] < lo or stats[0] > hi or (stats[0] == hi and not hi_closed)):
                continue
            tb = f.read_row_group(g, columns=columns)
            df = to_pandas(tb.drop_columns(list(values))).set_axis(pd.RangeIndex(start, start + tb.num_rows))
            t = df["time"]
            keep = ((t >= lo) & ((t <= hi) if hi_closed else (t < hi))).to_numpy()
            out.append(df[keep])
            for c, v in values.items():
                codes[c].append(pc.index_in(tb[c], value_set=v).fill_null(-1).to_numpy()[keep])
        if not out:
            return to_pandas(pq.read_schema(self.files[0]).empty_table()).loc[:, columns or slice(None)]
        df = pd.concat(out) if len(out) > 1 else out[0]
        for c, index in (categories or {}).items():  # coded per row group, made categorical once
            df[c] = pd.Categorical.from_codes(np.concatenate(codes[c]), categories=index)
        return df[tb.column_names]

    def earliest(self, key: str) -> tuple[pd.Series, list[pd.Timestamp]]:
        """Each `key`'s earliest time (by key), and each row group's latest time, aggregated
        in Arrow a row group at a time: no Python object per row."""
        firsts, lasts = [], []
        for f, g, _ in self.groups():
            tb = f.read_row_group(g, columns=[key, "time"])
            firsts.append(tb.group_by(key, use_threads=False).aggregate([("time", "min")]))
            lasts.append(pd.Timestamp(pc.max(tb["time"]).as_py()))
        if not firsts:
            return pd.Series(dtype=schema.PD_TS, name="time"), lasts
        both = pa.concat_tables(firsts).group_by(key, use_threads=False).aggregate([("time_min", "min")])
        return to_pandas(both).set_index(key)["time_min_min"].rename("time"), lasts

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
