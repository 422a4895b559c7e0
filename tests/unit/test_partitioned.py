"""The features build in day parts (what the Dask engine runs) is the whole build, row for
row, value for value and in the same order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from test_features import CATS, random_tables

from newsrec.config import Features
from newsrec.features.build import build_features
from newsrec.features.partitioned import build_partitioned, parts, windows


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Vectors as tuples, so frames compare value for value (the index is not written)."""
    return df.reset_index(drop=True).apply(
        lambda c: c.map(tuple) if c.dtype == object and len(c) and isinstance(c.iloc[0], np.ndarray) else c
    )


def _tables(seed: int, days: float, described: float, midnight: bool) -> dict[str, pd.DataFrame]:
    t = random_tables(seed, n_imps=160, days=days)
    if midnight:  # events exactly on a day's boundary, where one part ends and the next begins
        for name in ("impressions", "histories"):
            t[name].loc[t[name].index[::7], "time"] = t[name]["time"].iloc[::7].dt.floor("D")
        t["histories"] = t["histories"].sort_values("time", kind="stable")
        first = t["impressions"].groupby("news_id")["time"].min()
        t["news"]["first_seen"] = t["news"]["news_id"].map(first).astype(t["news"]["first_seen"].dtype)
    t["news"] = t["news"].iloc[: max(1, round(len(t["news"]) * described))]  # a metadata feed lagging the log
    return t


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    days=st.floats(0.5, 12.0),
    described=st.sampled_from([1.0, 0.4]),
    source=st.sampled_from(["ratings", "ctr", "auto"]),
    midnight=st.booleans(),
    hours=st.sampled_from([1, 5]),
)
def test_the_day_parts_make_the_whole_build(seed, days, described, source, midnight, hours):
    t = _tables(seed, days, described, midnight)
    p = Features(text_dims=4, quality_source=source, snapshot_hours=hours)
    args = (t["news"], t["impressions"], t["histories"], t["feedback"], CATS, p, t["news"]["title"])
    whole, split = build_features(*args), build_partitioned(*args)
    assert (split.quality_source, split.undescribed) == (whole.quality_source, whole.undescribed)
    for name in ("users", "news_meta", "news_stats"):
        pd.testing.assert_frame_equal(_plain(getattr(split, name)), _plain(getattr(whole, name)))


def test_a_part_holds_only_the_events_its_days_need():
    """Twelve days: a part has its own day, 1 day and a snapshot step of impressions before it
    (the rest summed in its carry) and 7 days of histories, not the whole log."""
    t = _tables(5, 12.0, 1.0, False)
    p = Features(text_dims=4)
    got = parts(t["news"], t["impressions"], t["histories"], t["feedback"], p, t["news"].iloc[0:0])
    wins = windows(t["news"], t["impressions"], t["histories"], t["feedback"], pd.Timedelta(hours=1))
    assert [x.window for x in got] == wins and len(wins) >= 12
    last = got[-1]
    assert last.impressions["time"].min() >= last.window[0] - pd.Timedelta(days=1, hours=1)
    assert last.histories["time"].min() >= last.window[0] - pd.Timedelta(days=7)
    assert len(last.impressions) < len(t["impressions"]) / 3
    before = t["impressions"][t["impressions"]["time"] < last.window[0] - pd.Timedelta(days=1, hours=1)]
    assert last.carry.total[0] == len(before) and last.carry.total[1] == before["clicked"].sum()


def _write(frames: dict[str, pd.DataFrame], folder, rows_per_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    for name, df in frames.items():
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), folder / f"{name}.parquet", rows_per_group)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    days=st.floats(1.0, 10.0),
    collected=st.booleans(),
    group=st.sampled_from([1, 7, 64]),
    midnight=st.booleans(),
)
def test_the_parts_read_from_the_files_make_the_whole_build(tmp_path_factory, seed, days, collected, group, midnight):
    """What the Dask engine's tasks do: read their own slices (row group by row group) of the
    ingested and collected files; the whole build of the two tables made one, row for row."""
    from newsrec.collect import union
    from newsrec.data.canonical import read_table
    from newsrec.data.slices import tables
    from newsrec.features.partitioned import build_from_tables

    t = _tables(seed, days, 0.6, midnight)
    root = tmp_path_factory.mktemp("files")
    cut = t["impressions"]["time"].quantile(0.7) if collected else t["impressions"]["time"].max() + pd.Timedelta(1, "D")
    imps = t["impressions"]
    t["impressions"] = imps[~(imps["news_id"].isin(["N1", "N2"]) & (imps["time"] < cut))]  # first shown later
    logged = {k: v[v["time"] < cut] if "time" in v else v for k, v in t.items()}
    # as `ingest` writes it: first_seen the first impression of the logged days (none: not seen yet)
    first = logged["impressions"].groupby("news_id")["time"].min()
    logged["news"] = logged["news"].assign(first_seen=logged["news"]["news_id"].map(first).astype(first.dtype))
    later = {k: v[v["time"] >= cut] if "time" in v else v.iloc[0:0] for k, v in t.items()}
    later["histories"] = later["histories"].assign(split="live")  # as `collect` writes them: no profile
    _write(logged, root / "canonical", group)
    if collected:
        _write(later, root / "collected", group)
    names = ("news", "impressions", "histories", "feedback")
    read = {k: read_table(root / "canonical" / f"{k}.parquet") for k in names}
    if collected:
        read = union(read, {k: read_table(root / "collected" / f"{k}.parquet") for k in names})
    p = Features(text_dims=4)
    titles = t["news"]["title"]
    whole = build_features(read["news"], read["impressions"], read["histories"], read["feedback"], CATS, p, titles)
    split = build_from_tables(tables(root / "canonical", root / "collected", names), CATS, p, titles)
    assert (split.quality_source, split.undescribed) == (whole.quality_source, whole.undescribed)
    for name in ("users", "news_meta", "news_stats"):
        pd.testing.assert_frame_equal(_plain(getattr(split, name)), _plain(getattr(whole, name)))
