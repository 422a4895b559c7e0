"""Moving the online store forward keeps sums from one move to the next
(newsrec.features.moving): each move's rows are those the whole tables give in its window,
however the events arrive."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from test_features import CATS
from test_partitioned import _plain, _tables

from newsrec.collect import SPLIT as COLLECTED
from newsrec.config import Features
from newsrec.features.build import build_features
from newsrec.features.moving import Moving


def _known(t: dict[str, pd.DataFrame], until: pd.Timestamp, ingested: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """What is known at `until`: the impressions before it (in the tables' order, so each
    move's tables are the last's with rows appended) and their ratings, whatever their time;
    the rows after `ingested` as served traffic collected, the news table's first_seen from
    the impressions known."""
    k = {
        n: t[n][t[n]["impression_id"].isin(t["histories"]["impression_id"][t["histories"]["time"] < until])]
        for n in ("impressions", "histories", "feedback")
    }
    for n in ("impressions", "histories"):
        k[n] = k[n].assign(split=np.where(k[n]["time"] > ingested, COLLECTED, k[n]["split"]))
    first = k["impressions"].groupby("news_id")["time"].min()
    k["news"] = t["news"].assign(first_seen=t["news"]["news_id"].map(first).astype(t["news"]["first_seen"].dtype))
    return k


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    days=st.floats(1.0, 4.0),
    described=st.sampled_from([1.0, 0.4]),
    source=st.sampled_from(["ratings", "ctr", "auto"]),
    hours=st.sampled_from([1, 5]),
    width=st.sampled_from([1, 5, 24]),
    lag=st.sampled_from([0, 30]),
)
def test_each_move_gives_the_whole_tables_rows_in_its_window(seed, days, described, source, hours, width, lag):
    """Moves of `width` hours over the days, each told its tables extend the last move's.
    `lag` hours: the events known at a move stop that long before its end, so events arrive
    already before the cut (more than a day and a snapshot late): they go to the sums at once."""
    t = _tables(seed, days, described, False)
    p = Features(text_dims=4, quality_source=source, snapshot_hours=hours)
    start = t["histories"]["time"].min().floor("D")
    ingested = start + pd.Timedelta(days=days / 2)
    moving = Moving()
    lo = start + pd.Timedelta(hours=width)
    while lo < start + pd.Timedelta(days=days + 1):
        hi = lo + pd.Timedelta(hours=width)
        k = _known(t, hi - pd.Timedelta(hours=lag), ingested)
        got = moving.build(k, True, CATS, p, t["news"]["title"], (lo, hi))
        args = (k["news"], k["impressions"], k["histories"], k["feedback"], CATS, p, t["news"]["title"])
        want = build_features(*args, window=(lo, hi))
        assert got.quality_source == want.quality_source
        for name in ("users", "news_meta", "news_stats"):
            pd.testing.assert_frame_equal(_plain(getattr(got, name)), _plain(getattr(want, name)), obj=f"{name} {lo}")
        lo = hi
    assert moving.restarts == 0


def test_tables_that_do_not_extend_the_last_or_a_cut_back_in_time_start_over():
    t = _tables(3, 4.0, 1.0, False)
    p = Features(text_dims=4)
    start = t["histories"]["time"].min().floor("D")
    at = [start + pd.Timedelta(hours=h) for h in (40, 41, 42, 30)]
    moving = Moving()
    for (lo, hi), extends, restarts in zip(zip(at, at[1:]), (True, False, True), (0, 1, 2)):
        k = _known(t, max(lo, hi), start + pd.Timedelta(days=2))
        k["impressions"] = k["impressions"].iloc[::-1] if not extends else k["impressions"]  # another order
        got = moving.build(k, extends, CATS, p, t["news"]["title"], (min(lo, hi), max(lo, hi)))
        want = build_features(
            *(k[n] for n in ("news", "impressions", "histories", "feedback")),
            CATS,
            p,
            t["news"]["title"],
            window=(min(lo, hi), max(lo, hi)),
        )
        assert moving.restarts == restarts
        pd.testing.assert_frame_equal(_plain(got.news_stats), _plain(want.news_stats))
