"""Served traffic back into canonical tables (newsrec.collect), worked by hand: what was
shown at which rank and clicked in == canonical rows out; histories as the site knew
them; new articles from the feed; a day collected twice counts once."""

import numpy as np
import pandas as pd
from worlds import served_again

from newsrec.collect import collect, collect_days, union, union_in_parts
from newsrec.data import schema

D = pd.Timestamp("2026-11-01", tz="UTC")


def t(day: float, hours: float = 0) -> pd.Timestamp:
    return D + pd.Timedelta(days=day, hours=hours)


def logged() -> dict[str, pd.DataFrame]:
    """U1 first seen on day 1 with one old click (N0) in their history; clicks N1 (day 1), N2 (day 2)."""
    news = pd.DataFrame(
        {
            "news_id": ["N0", "N1", "N2", "N3"],
            "category": ["news"] * 4,
            "subcategory": ["x"] * 4,
            "title": ["a", "b", "c", "d"],
            "abstract": [""] * 4,
            "first_seen": [t(0), t(1), t(2), t(2)],
        }
    )
    imps = pd.DataFrame(
        {
            "impression_id": [10, 10, 11, 11],
            "user_id": ["U1"] * 4,
            "time": [t(1, 8), t(1, 8), t(2, 9), t(2, 9)],
            "news_id": ["N1", "N0", "N2", "N3"],
            "position": [0, 1, 0, 1],
            "clicked": [1, 0, 1, 0],
            "split": "train",
        }
    )
    hist = pd.DataFrame(
        {
            "impression_id": [10, 11],
            "raw_impression_id": [10, 11],
            "user_id": ["U1", "U1"],
            "time": [t(1, 8), t(2, 9)],
            "history": [["N0"], ["N0", "N1"]],
            "n_candidates": [2, 2],
            "n_clicks": [1, 1],
            "split": "train",
        }
    )
    fb = pd.DataFrame({c: pd.Series(dtype=object) for c in schema.FEEDBACK.names})
    return {"news": news, "impressions": imps, "histories": hist, "feedback": fb}


def served() -> tuple[pd.DataFrame, pd.DataFrame]:
    """r1: U1 on day 4 shown N3 then N5, clicks N5 and rates it 4; r2: U2 shown N3, no click;
    r3: U1 on day 5 shown N3 (rank 1), clicked; N4 scored but not shown."""
    log = pd.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r3", "r3"],
            "user_id": ["U1", "U1", "U2", "U1", "U1"],
            "news_id": ["N3", "N5", "N3", "N3", "N4"],
            "rank": [1, 2, 1, 1, 2],
            "shown": [True, True, True, True, False],
            "request_time": [t(4, 7), t(4, 7), t(4, 9), t(5, 6), t(5, 6)],
            "score": [0.9, 0.8, 0.7, 0.9, 0.1],
        }
    )
    out = pd.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r3"],
            "news_id": ["N3", "N5", "N3", "N3"],
            "clicked": [0, 1, 0, 1],
            "request_time": [t(4, 7), t(4, 7), t(4, 9), t(5, 6)],
            "rating": [np.nan, 4, np.nan, np.nan],
            "rating_time": [pd.NaT, t(4, 7.1), pd.NaT, pd.NaT],
        }
    )
    return log, out


FEED = pd.DataFrame(
    {"news_id": ["N5"], "category": ["sports"], "subcategory": ["y"], "title": ["e"], "abstract": ["f"]}
)


def test_shown_items_and_clicks_in_are_canonical_rows_out():
    log, out = served()
    got = collect(log, out, logged(), FEED, history_max=50)
    imps = got["impressions"]
    # r2 had no click: like MIND, not logged; N4 was not shown: no outcome, not a row
    assert imps["impression_id"].tolist() == [12, 12, 13] and imps["news_id"].tolist() == ["N3", "N5", "N3"]
    assert imps["position"].tolist() == [0, 1, 0] and imps["clicked"].tolist() == [0, 1, 1]
    assert imps["time"].tolist() == [t(4, 7), t(4, 7), t(5, 6)] and set(imps["split"]) == {"live"}
    h = got["histories"]
    # before day 4 the site knew U1's first history (N0), then the clicks of days 1 and 2
    assert [list(x) for x in h["history"]] == [["N0", "N1", "N2"], ["N0", "N1", "N2", "N5"]]
    assert h["n_candidates"].tolist() == [2, 1] and h["n_clicks"].tolist() == [1, 1]
    assert got["news"]["news_id"].tolist() == ["N5"] and got["news"]["category"].tolist() == ["sports"]
    assert got["news"]["first_seen"].tolist() == [t(4, 7)]
    fb = got["feedback"]
    assert fb[["impression_id", "news_id", "rating"]].values.tolist() == [[12, "N5", 4]]
    assert fb["time"].tolist() == [t(4, 7.1)]
    assert list(h.columns) == schema.HISTORIES.names
    for name, col in (("impressions", "time"), ("histories", "time"), ("feedback", "time"), ("news", "first_seen")):
        assert str(got[name][col].dtype) == schema.PD_TS, (name, got[name][col].dtype)  # UTC, not objects


def test_a_day_collected_twice_counts_once_and_history_keeps_the_last_clicks():
    log, out = served()
    once = collect(log, out, logged(), FEED, history_max=2)
    twice = collect(pd.concat([log, log]), pd.concat([out, out]), logged(), FEED, history_max=2)
    for name in once:
        pd.testing.assert_frame_equal(once[name].reset_index(drop=True), twice[name].reset_index(drop=True))
    assert [list(x) for x in once["histories"]["history"]] == [["N1", "N2"], ["N2", "N5"]]


def test_union_appends_rows_and_keeps_each_article_once_with_its_first_impression():
    log, out = served()
    both = union(logged(), collect(log, out, logged(), FEED, history_max=50))
    assert len(both["impressions"]) == 4 + 3 and both["histories"]["impression_id"].is_unique
    news = both["news"].set_index("news_id")
    assert news.index.tolist() == ["N0", "N1", "N2", "N3", "N5"]
    assert news.loc["N3", "first_seen"] == t(2, 9) and news.loc["N5", "first_seen"] == t(4, 7)
    assert news.loc["N0", "first_seen"] == t(1, 8)  # first shown on day 1, whatever the logged table said
    assert union(logged(), None) is not None and len(union(logged(), None)["impressions"]) == 4


def _by_day(log: pd.DataFrame, out: pd.DataFrame, loads: list | None = None) -> list:
    """(day, key, load) of each logged day; `loads` records the days loaded."""
    days = []
    for d in sorted(pd.to_datetime(log["request_time"]).dt.strftime("%Y-%m-%d").unique()):

        def load(d=d):
            if loads is not None:
                loads.append(d)
            on = lambda f: pd.to_datetime(f["request_time"]).dt.strftime("%Y-%m-%d") == d  # noqa: E731
            return log[on(log)], out[on(out)]

        days.append((d, len(log[pd.to_datetime(log["request_time"]).dt.strftime("%Y-%m-%d") == d]), load))
    return days


def _new_reader_too() -> tuple[pd.DataFrame, pd.DataFrame]:
    """served(), and U3 (never logged before) clicks N3 on day 4 and N5 on day 5."""
    log, out = served()
    log3 = pd.DataFrame(
        {
            "request_id": ["r4", "r5"],
            "user_id": ["U3", "U3"],
            "news_id": ["N3", "N5"],
            "rank": [1, 1],
            "shown": [True, True],
            "request_time": [t(4, 10), t(5, 11)],
            "score": [0.5, 0.5],
        }
    )
    out3 = log3[["request_id", "news_id", "request_time"]].assign(clicked=1, rating=np.nan, rating_time=pd.NaT)
    return pd.concat([log, log3], ignore_index=True), pd.concat([out, out3], ignore_index=True)


def test_collecting_day_by_day_gives_the_rows_of_collecting_the_whole_log():
    log, out = _new_reader_too()
    whole = union(logged(), collect(log, out, logged(), FEED, history_max=3))
    memo, loads = {}, []
    by_day = union_in_parts(logged(), _by_day(log, out, loads), FEED, 3, memo)
    for name in whole:
        a, b = (f.sort_values(list(f.columns[:2])).reset_index(drop=True) for f in (whole[name], by_day[name]))
        pd.testing.assert_frame_equal(a, b)
    per_request = [  # the finest parts: every request alone
        (r, r, lambda r=r: (log[log["request_id"] == r], out[out["request_id"] == r]))
        for r in log.sort_values("request_time")["request_id"].unique()
    ]
    alone = union_in_parts(logged(), per_request, FEED, 3)
    for name in whole:
        a, b = (f.sort_values(list(f.columns[:2])).reset_index(drop=True) for f in (whole[name], alone[name]))
        pd.testing.assert_frame_equal(a, b)
    h = by_day["histories"].set_index("impression_id")["history"].map(list)
    assert h.loc[13] == [] and h.loc[15] == ["N3"]  # U3: nothing known on day 4, day 4's click on day 5
    assert loads == ["2026-11-05", "2026-11-06"]
    # the next call with day 5 grown: day 4 comes from the memo, only day 5 is collected again
    log2 = pd.concat([log, log.iloc[[3]].assign(request_id="r6", request_time=t(5, 20))], ignore_index=True)
    out2 = pd.concat([out, out.iloc[[3]].assign(request_id="r6", request_time=t(5, 20))], ignore_index=True)
    loads.clear()
    again = union_in_parts(logged(), _by_day(log2, out2, loads), FEED, 3, memo)
    assert loads == ["2026-11-06"] and len(again["histories"]) == len(by_day["histories"]) + 1
    loads.clear()
    union_in_parts(logged(), _by_day(log2, out2, loads), FEED, 3, memo, base="another table")
    assert loads == ["2026-11-05", "2026-11-06"]  # other logged tables: every day again


def test_the_readers_rows_read_from_the_files_collect_as_the_whole_tables(sim_canonical):
    """The stage reads only the readers' clicks and histories (newsrec.stages.collect.readers_rows):
    the collected tables are those of collecting against the whole ingested tables."""
    from newsrec.data.canonical import read_table
    from newsrec.stages.collect import readers_rows

    whole = {n: read_table(sim_canonical / f"{n}.parquet") for n in schema.TABLES}
    imps = whole["impressions"]
    users = imps["user_id"].drop_duplicates().iloc[:40]
    log, out = served_again(imps[imps["user_id"].isin(users)], every=3, days=10)  # after the log, over its days
    expected = collect(log, out, whole, FEED, history_max=50)
    part, next_id = readers_rows(sim_canonical, pd.unique(log["user_id"]))
    assert len(part["impressions"]) < (imps["clicked"] == 1).sum() and (part["impressions"]["clicked"] == 1).all()
    got = collect(log, out, part, FEED, history_max=50, next_id=next_id)
    assert len(got["impressions"]) > 50 and got["histories"]["history"].map(len).sum() > 0
    by_day = collect_days(log, out, part, FEED, history_max=50, next_id=next_id)
    assert pd.to_datetime(got["impressions"]["time"]).dt.floor("D").nunique() >= 2
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name])
        pd.testing.assert_frame_equal(by_day[name], expected[name])


def test_collecting_a_day_per_part_gives_the_tables_of_the_whole_log():
    """collect_days (a day per part, what the Dask engine runs): the tables of `collect`."""
    log, out = served()
    whole = collect(log, out, logged(), FEED, history_max=2)
    seen = []

    def run(fn, days):
        seen.extend(days)
        return [fn(d) for d in reversed(days)][::-1]  # any order of running: the parts come back in order

    parts = collect_days(log, out, logged(), FEED, history_max=2, run=run)
    assert len(seen) == 2  # days 4 and 5
    for name in whole:
        pd.testing.assert_frame_equal(parts[name], whole[name])
