"""Direct, hand-worked tests of the in-process point-in-time join (features.join) and the
spec's view lookup: which row of each feature table an entity row gets, and the entity rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from newsrec.features.join import as_of, as_of_partitioned, entity_rows
from newsrec.features.spec import CONTEXT, REQUEST_FEATURES, VIEWS, view

T0 = pd.Timestamp("1970-01-02", tz="UTC")  # day 1 after the epoch: 86400 s


def _t(hours: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def test_view_finds_each_table_by_name():
    assert [view(v.table) for v in VIEWS] == list(VIEWS)
    assert view("news_stats").key == "news_id" and view("users").key == "user_id"


def test_entity_rows_keep_labeled_candidates_with_their_time_in_seconds_and_features_as_of_the_hour():
    imps = pd.DataFrame(
        {
            "impression_id": [7, 7, 8],
            "user_id": ["U1", "U1", "U2"],
            "news_id": ["N1", "N2", "N3"],
            "time": pd.to_datetime([_t(0), _t(0), _t(1.5)], utc=True).astype("datetime64[us, UTC]"),
            "clicked": [1.0, np.nan, 0.0],  # an unlabeled candidate is not a training row
            "position": [0, 1, 0],
        }
    )
    rows = entity_rows(imps, advance_hours=1)
    assert list(rows.columns) == ["impression_id", "user_id", "news_id", "event_timestamp", "request_time", "clicked"]
    assert rows["news_id"].tolist() == ["N1", "N3"] and rows["impression_id"].tolist() == [7, 8]
    assert rows["user_id"].tolist() == ["U1", "U2"]
    np.testing.assert_array_equal(rows["request_time"], [86400.0, 86400.0 + 5400.0])
    assert rows["clicked"].tolist() == [1, 0] and rows["clicked"].dtype.kind == "i"
    # features as of the online store's last update: 01:30 -> 01:00; 00:00 is an update itself
    assert rows["event_timestamp"].tolist() == [_t(0), _t(1)]
    assert entity_rows(imps, advance_hours=2)["event_timestamp"].tolist() == [_t(0), _t(0)]


def _complete(tables: dict[str, pd.DataFrame], rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Every declared column a table lacks, filled at random (vectors of 2, one per category)."""
    for v in VIEWS:
        df = tables[v.table]
        for c, dtype in v.columns.items():
            if c not in df:
                n = len(df)
                df[c] = (
                    [rng.integers(0, 3, 2).astype(np.float32) for _ in range(n)]
                    if dtype == "float32[]"
                    else rng.integers(0, 50, n)
                    if dtype == "int64"
                    else rng.random(n)
                )
        tables[v.table] = df[[v.key, "event_timestamp", *v.columns]]
    return tables


def _tables() -> dict[str, pd.DataFrame]:
    vec = lambda *x: np.asarray(x, dtype=np.float32)  # noqa: E731
    users = pd.DataFrame(
        {
            "user_id": ["U1", "U1", "U1"],
            "event_timestamp": [_t(0), _t(12), _t(13)],
            "history_len": [1, 2, 3],
            "user_imps_1d": [0, 1, 2],
            "user_clicks_1d": [0, 0, 1],
            "user_imps_7d": [0, 1, 2],
            "user_clicks_7d": [0, 0, 1],
            "user_aff": [vec(1, 0), vec(0, 1), vec(0.5, 0.5)],
            "user_emb": [vec(1, 0), vec(0, 1), vec(1, 0)],
        }
    )
    meta = pd.DataFrame(
        {
            "news_id": ["N1"],
            "event_timestamp": [_t(-1)],
            "category_idx": [1],
            "first_seen_ts": [_t(-1).timestamp()],
            "news_emb": [vec(0, 1)],
        }
    )
    stats = pd.DataFrame(
        {
            "news_id": ["N1", "N1"],
            "event_timestamp": [_t(-1), _t(6)],
            "news_imps": [0, 10],
            "news_clicks": [0, 4],
            "news_imps_1d": [0, 10],
            "news_clicks_1d": [0, 4],
            "news_ctr": [0.05, 0.3],
            "news_quality": [0.5, 0.7],
        }
    )
    for df in (users, meta, stats):
        df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True)
    return _complete({"users": users, "news_meta": meta, "news_stats": stats}, np.random.default_rng(0))


def test_as_of_takes_the_latest_row_at_or_before_within_each_ttl_in_input_order():
    times = [_t(12), _t(3), _t(13 + 7 * 24 + 1), _t(12)]
    ent = pd.DataFrame(
        {
            "impression_id": [1, 2, 3, 4],
            "user_id": ["U1", "U1", "U1", "U9"],
            "news_id": ["N1", "N1", "N1", "N1"],
            "event_timestamp": pd.to_datetime(times, utc=True),
            "request_time": [t.timestamp() for t in times],
        }
    )
    out = as_of(ent, _tables())
    assert out["impression_id"].tolist() == [1, 2, 3, 4]  # input order, not time order
    # the entity columns, then each view's columns, then the on-demand ones and the impression
    # context: nothing else (no old index)
    views = [c for v in VIEWS for c in v.columns]
    assert list(out.columns) == [*ent.columns, *views, *REQUEST_FEATURES, *CONTEXT] and out.index.tolist() == [
        0,
        1,
        2,
        3,
    ]
    # the user row at exactly 12:00 counts (at or before); 13:00 is the future; 7 days and 1 h after 13:00 it expired
    np.testing.assert_array_equal(out["history_len"], [2, 1, np.nan, np.nan])
    # news stats: the 06:00 snapshot, the first row before it, and nothing after the 2-day TTL
    np.testing.assert_array_equal(out["news_imps"], [10, 0, np.nan, 10])
    np.testing.assert_array_equal(out["news_quality"], [0.7, 0.5, np.nan, 0.7])
    # news meta lives 30 days: every row has it
    np.testing.assert_array_equal(out["category_idx"], [1, 1, 1, 1])
    # then the on-demand features from the joined rows and the request time
    np.testing.assert_array_equal(out["freshness_hours"], [13.0, 4.0, 14.0 + 7 * 24 + 1, 13.0])
    np.testing.assert_array_equal(out["category_affinity"][:2], [1.0, 0.0])
    np.testing.assert_array_equal(out["content_similarity"][:2], [1.0, 0.0])
    assert out[["category_affinity", "content_similarity"]].iloc[2:].isna().all().all()


def _random_tables(rng: np.random.Generator, days: int) -> dict[str, pd.DataFrame]:
    """Feature rows on whole hours over `days` (ties: one key, one time, several rows)."""
    hours = lambda n: pd.to_datetime([_t(h) for h in rng.integers(-48, days * 24, n)], utc=True)  # noqa: E731
    vec = lambda n: [rng.random(2).astype(np.float32) for _ in range(n)]  # noqa: E731
    n_u, n_s, n_m = 300, 300, 12
    users = pd.DataFrame({"user_id": rng.choice(["U1", "U2", "U3"], n_u), "event_timestamp": hours(n_u)})
    for c in ("history_len", "user_imps_1d", "user_clicks_1d", "user_imps_7d", "user_clicks_7d"):
        users[c] = rng.integers(0, 50, n_u)
    users["user_aff"], users["user_emb"] = vec(n_u), vec(n_u)
    meta = pd.DataFrame({"news_id": [f"N{i}" for i in range(n_m)], "event_timestamp": hours(n_m)})
    meta["category_idx"], meta["first_seen_ts"] = rng.integers(0, 2, n_m), rng.random(n_m) * 1e5
    meta["news_emb"] = vec(n_m)
    stats = pd.DataFrame({"news_id": rng.choice(meta["news_id"], n_s), "event_timestamp": hours(n_s)})
    for c in ("news_imps", "news_clicks", "news_imps_1d", "news_clicks_1d"):
        stats[c] = rng.integers(0, 100, n_s)
    stats["news_ctr"], stats["news_quality"] = rng.random(n_s), rng.random(n_s)
    return _complete({"users": users, "news_meta": meta, "news_stats": stats}, rng)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), days=st.integers(1, 12))
def test_the_join_a_day_at_a_time_is_the_whole_join(seed, days):
    """What the Dask engine runs (a day of entity rows per task, each with its views' TTL of
    feature rows before it): the same rows and values as one join, in the input order."""
    rng = np.random.default_rng(seed)
    tables = _random_tables(rng, days)
    n = 400
    times = pd.to_datetime([_t(h) for h in rng.integers(0, days * 24, n)], utc=True)  # on the hour: TTL edges
    ent = pd.DataFrame(
        {
            "impression_id": np.arange(n),
            "user_id": rng.choice(["U1", "U2", "U3", "U9"], n),
            "news_id": rng.choice([f"N{i}" for i in range(14)], n),
            "event_timestamp": times,
            "request_time": [t.timestamp() for t in times],
        }
    )
    whole, parts = as_of(ent, tables), as_of_partitioned(ent, tables)
    vectors = lambda x: tuple(x) if isinstance(x, np.ndarray) else x  # noqa: E731
    plain = lambda df: df.apply(lambda c: c.map(vectors) if c.dtype == object else c)  # noqa: E731
    pd.testing.assert_frame_equal(plain(parts), plain(whole))
    assert whole["history_len"].notna().mean() > 0.3  # the comparison is of joined rows, not of missing ones


def test_the_join_a_day_at_a_time_keeps_a_row_exactly_one_ttl_old():
    """An entity row at midnight whose only feature rows are exactly their TTL older (7 days
    for a user, 2 for an article's stats): joined, in the whole join and a day at a time."""
    tables = _tables()
    midnight = _t(8 * 24)  # a day boundary: the first entity row of its part
    tables["users"] = tables["users"].iloc[[0]].assign(event_timestamp=midnight - pd.Timedelta(days=7))
    tables["news_stats"] = tables["news_stats"].iloc[[1]].assign(event_timestamp=midnight - pd.Timedelta(days=2))
    ent = pd.DataFrame(
        {
            "impression_id": [1, 2],
            "user_id": ["U1", "U1"],
            "news_id": ["N1", "N1"],
            "event_timestamp": pd.to_datetime([midnight, midnight + pd.Timedelta(hours=1)], utc=True),
            "request_time": [midnight.timestamp(), midnight.timestamp() + 3600],
        }
    )
    for out in (as_of(ent, tables), as_of_partitioned(ent, tables)):
        np.testing.assert_array_equal(out["history_len"], [1, np.nan])  # one hour later it expired
        np.testing.assert_array_equal(out["news_imps"], [10, np.nan])


def test_the_join_from_files_a_day_per_task_is_the_whole_join(tmp_path):
    """What the Dask engine's `trainset` tasks do: read their day of impressions (ingested,
    then collected) and their views' TTL of feature rows from the files; the whole join of
    the entity rows, in the impressions' order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from newsrec.data.slices import Table
    from newsrec.features.join import as_of_from_files

    rng = np.random.default_rng(11)
    days = 6
    tables = _random_tables(rng, days)
    feats = tmp_path / "features"
    feats.mkdir()
    for name, df in tables.items():
        pq.write_table(
            pa.Table.from_pandas(df.sort_values("event_timestamp"), preserve_index=False), feats / f"{name}.parquet", 50
        )
    n = 500
    minutes = np.sort(rng.integers(0, days * 24 * 60, n))
    imps = pd.DataFrame(
        {
            "impression_id": np.arange(n),
            "user_id": rng.choice(["U1", "U2", "U3", "U9"], n),
            "time": pd.to_datetime([_t(m / 60) for m in minutes], utc=True).astype("datetime64[us, UTC]"),
            "news_id": rng.choice([f"N{i}" for i in range(14)], n),
            "clicked": pd.array(rng.choice([0, 1, None], n, p=[0.6, 0.3, 0.1]), dtype="Int8"),
        }
    )
    files = []
    for i, part in enumerate((imps.iloc[:350], imps.iloc[350:])):  # ingested, then collected
        files.append(tmp_path / f"impressions-{i}.parquet")
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), files[-1], 40)
    for hours in (1, 5):
        whole = as_of(entity_rows(imps, hours), {k: pd.read_parquet(feats / f"{k}.parquet") for k in tables})
        parts = as_of_from_files(Table(tuple(files)), feats, hours)
        vectors = lambda x: tuple(x) if isinstance(x, np.ndarray) else x  # noqa: E731
        plain = lambda df: df.apply(lambda c: c.map(vectors) if c.dtype == object else c)  # noqa: E731
        pd.testing.assert_frame_equal(plain(parts), plain(whole))
        assert len(whole) == imps["clicked"].notna().sum()
