"""Served traffic back into data: the prediction log joined with the outcomes (what each
response showed, at which rank, what the reader clicked and rated) becomes canonical
tables (data/schema.py), so the same contracts, features and training read it.

A collected impression is one response, as MIND logs one: the items shown, in the order
they were shown, with their clicks; like MIND, only impressions with a click are kept.
Its history is what the site knew of the reader before that day: the history of the
reader's first logged impression, then every click of the earlier days (logged or
collected), the last `history_max` kept. Collecting is a function of the whole log, so a
day collected twice is not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

import numpy as np
import pandas as pd

from newsrec.data import schema

SPLIT = "live"  # the `split` of collected rows


def utc(times: pd.Series) -> pd.Series:
    """`times` as UTC times; not parsed again when they are (pandas' to_datetime would look
    for repeated values first, a few ms on an hour's log)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype) and str(times.dt.tz) == "UTC":
        return times
    return pd.to_datetime(times, utc=True)


def shown_rows(log: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Every shown item with its outcome (clicked, and a rating where the reader gave one);
    one row per (request, item) however often either was written."""
    keep = ["request_id", "user_id", "news_id", "rank", "request_time"]
    shown = log.loc[log["shown"].astype(bool), keep].drop_duplicates(["request_id", "news_id"], keep="last")
    cols = ["request_id", "news_id", "clicked"] + [c for c in ("rating", "rating_time") if c in outcomes]
    out = outcomes[cols].drop_duplicates(["request_id", "news_id"], keep="last")
    rows = shown.merge(out, on=["request_id", "news_id"], how="inner")
    rows["request_time"] = utc(rows["request_time"]).astype(schema.PD_TS)
    clicks = rows.groupby("request_id")["clicked"].transform("sum")
    return rows[clicks > 0].sort_values(["request_time", "request_id", "rank"], kind="stable")


def readers(log: pd.DataFrame, outcomes: pd.DataFrame) -> np.ndarray:
    """The users whose impressions `collect` keeps: whose logged rows it reads."""
    return shown_rows(log, outcomes)["user_id"].astype(str).unique()


def _day(times: pd.Series) -> np.ndarray:
    """Whole UTC days since the epoch."""
    t = utc(times)
    return t.dt.tz_convert(None).to_numpy("datetime64[D]").astype(np.int64)


def histories_before(
    requests: pd.DataFrame, logged_hist: pd.DataFrame, clicks: pd.DataFrame, history_max: int
) -> list[list[str]]:
    """For each request (user_id, request_time): the reader's first logged history, then
    their clicks of the days from that one to the day before the request's, the last
    `history_max`."""
    first = logged_hist.sort_values("time").drop_duplicates("user_id")
    start = dict(zip(first["user_id"], first["history"]))
    since = dict(zip(first["user_id"], _day(first["time"])))
    clicks = clicks.assign(day=_day(clicks["time"])).sort_values(["user_id", "time", "order"], kind="stable")
    users, days, ids = clicks["user_id"].to_numpy(), clicks["day"].to_numpy(), clicks["news_id"].to_numpy()
    names, lo = np.unique(users, return_index=True)  # users sorted: each one's clicks are a slice
    bounds = dict(zip(names, zip(lo, np.append(lo[1:], len(users)))))
    out = []
    for user, day in zip(requests["user_id"], _day(requests["request_time"])):
        h = list(start.get(user, []))
        if user in bounds:
            a, b = bounds[user]
            d = days[a:b]
            h += ids[a:b][(d < day) & (d >= since.get(user, d.min(initial=0)))].tolist()
        out.append(h[-history_max:] if history_max else [])
    return out


def collect(
    log: pd.DataFrame,
    outcomes: pd.DataFrame,
    logged: dict[str, pd.DataFrame],
    feed: pd.DataFrame,
    history_max: int,
    next_id: int | None = None,
) -> dict[str, pd.DataFrame]:
    """The collected canonical tables (news, impressions, histories, feedback) of every
    logged day with outcomes. `logged` holds the ingested tables (ids continue after
    theirs; histories start from theirs); `feed` is the news published after the log
    (news_id, category, subcategory, title, abstract), for articles the log has not seen.

    Of the logged impressions and histories only the readers' rows are used (`readers`), so
    `logged` may hold only those (and the clicks of the impressions) when `next_id` gives the
    id after the last logged impression."""
    rows = shown_rows(log, outcomes)
    req = rows.drop_duplicates("request_id")[["request_id", "user_id", "request_time"]].reset_index(drop=True)
    first_id = _next_id(logged) if next_id is None else next_id
    req["impression_id"] = np.arange(first_id, first_id + len(req), dtype=np.int64)
    rows = rows.merge(req[["request_id", "impression_id"]], on="request_id")
    imps = pd.DataFrame(
        {
            "impression_id": rows["impression_id"].to_numpy(np.int64),
            "user_id": rows["user_id"].astype(str).to_numpy(),
            "time": rows["request_time"].array,  # .array keeps the time zone; to_numpy() would not
            "news_id": rows["news_id"].astype(str).to_numpy(),
            "position": (rows["rank"].to_numpy() - 1).astype(np.int16),
            "clicked": rows["clicked"].astype(np.int8).to_numpy(),
            "split": SPLIT,
        }
    )
    readers = req["user_id"].unique()  # a history needs only its own reader's clicks
    li = logged["impressions"]
    li = li[li["clicked"].fillna(0).astype(bool).to_numpy()]
    li = li[li["user_id"].isin(readers).to_numpy()]
    now = imps[imps["clicked"].astype(bool).to_numpy()]
    clicks = pd.concat(
        [
            pd.DataFrame({"user_id": x["user_id"], "time": x["time"], "order": x["position"], "news_id": x["news_id"]})
            for x in (li, now)
        ],
        ignore_index=True,
    )
    lh = logged["histories"]
    counts = imps.groupby("impression_id").agg(n_candidates=("news_id", "size"), n_clicks=("clicked", "sum"))
    hist = req.assign(
        raw_impression_id=req["impression_id"],
        history=histories_before(req, lh[lh["user_id"].isin(readers).to_numpy()], clicks, history_max),
        n_candidates=counts.loc[req["impression_id"], "n_candidates"].to_numpy(np.int32),
        n_clicks=counts.loc[req["impression_id"], "n_clicks"].to_numpy(np.int32),
        split=SPLIT,
    ).rename(columns={"request_time": "time"})
    return {
        "news": _new_news(imps, logged["news"], feed),
        "impressions": imps,
        "histories": hist[list(schema.HISTORIES.names)],
        "feedback": _feedback(rows),
    }


def _next_id(logged: dict[str, pd.DataFrame]) -> int:
    """The id after the last logged impression."""
    return int(logged["histories"]["impression_id"].max()) + 1 if len(logged["histories"]) else 0


def collect_days(
    log: pd.DataFrame,
    outcomes: pd.DataFrame,
    logged: dict[str, pd.DataFrame],
    feed: pd.DataFrame,
    history_max: int,
    next_id: int | None = None,
    run: Callable[[Callable, Iterable], list] | None = None,
) -> dict[str, pd.DataFrame]:
    """`collect`, a day of requests per part, so that `run(fn, days)` can collect the days
    anywhere (a Dask cluster: newsrec.adapters.dask; Prefect tasks: flows.parts), each day
    named YYYY-MM-DD. A day's part collects the log up to its end and keeps its own day's
    rows: its histories need the clicks of the days before, and its ids follow theirs. The
    same tables as `collect` of the whole log."""
    next_id = _next_id(logged) if next_id is None else next_id
    days = np.unique(_day(shown_rows(log, outcomes)["request_time"]))
    log_day, out_day = _day(log["request_time"]), _day(outcomes["request_time"])

    def one(day: str) -> dict[str, pd.DataFrame]:
        d = np.datetime64(day, "D").astype(np.int64)
        got = collect(log[log_day <= d], outcomes[out_day <= d], logged, feed, history_max, next_id)
        imps = got["impressions"][_day(got["impressions"]["time"]) == d]
        ids = imps["impression_id"].unique()
        return {
            "impressions": imps,
            "histories": got["histories"][got["histories"]["impression_id"].isin(ids).to_numpy()],
            "feedback": got["feedback"][got["feedback"]["impression_id"].isin(ids).to_numpy()],
        }

    if not len(days):
        return collect(log, outcomes, logged, feed, history_max, next_id)
    names = [str(d) for d in days.astype("datetime64[D]")]
    parts = run(one, names) if run else [one(d) for d in names]
    out = {n: pd.concat([p[n] for p in parts], ignore_index=True) for n in ("impressions", "histories", "feedback")}
    return {"news": _new_news(out["impressions"], logged["news"], feed)} | out


def _new_news(imps: pd.DataFrame, logged_news: pd.DataFrame, feed: pd.DataFrame) -> pd.DataFrame:
    """Articles first seen in collected traffic that the logged news table does not hold,
    with their metadata from the feed; first_seen is their first collected impression."""
    seen = imps.groupby("news_id")["time"].min()
    new = seen[~seen.index.isin(logged_news["news_id"])]
    meta = feed.drop_duplicates("news_id").set_index("news_id").reindex(new.index)
    out = meta.reset_index()[["news_id", "category", "subcategory", "title", "abstract"]]
    return out.assign(first_seen=new.array)


def _feedback(rows: pd.DataFrame) -> pd.DataFrame:
    if "rating" not in rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in schema.FEEDBACK.names})
    r = rows[rows["rating"].notna()]
    return pd.DataFrame(
        {
            "impression_id": r["impression_id"].to_numpy(np.int64),
            "user_id": r["user_id"].astype(str).to_numpy(),
            "news_id": r["news_id"].astype(str).to_numpy(),
            "time": utc(r["rating_time"]).astype(schema.PD_TS).array,
            "rating": r["rating"].astype(np.int32).to_numpy(),
        }
    )


def union(logged: dict[str, pd.DataFrame], collected: dict[str, pd.DataFrame] | None) -> dict[str, pd.DataFrame]:
    """The canonical tables of both sources as one: rows appended, each article once (its
    logged row first), first_seen the earliest impression of either."""
    return _union(logged, collected)[0]


def _union(
    logged: dict[str, pd.DataFrame], collected: dict[str, pd.DataFrame] | None, first: pd.Series | None = None
) -> tuple[dict[str, pd.DataFrame], pd.Series | None]:
    """`union`, and each article's first impression in it (by news_id). With `first`, that
    of `logged`'s impressions, only the collected impressions are grouped."""
    if not collected or not len(collected["impressions"]):
        return logged, first
    out = {
        k: pd.concat([f for f in (logged[k], collected[k]) if len(f)] or [logged[k]], ignore_index=True)
        for k in ("impressions", "histories", "feedback")
    }
    news = pd.concat([logged["news"], collected["news"]], ignore_index=True).drop_duplicates("news_id")
    if first is None:
        first = out["impressions"].groupby("news_id")["time"].min()
    else:
        first = pd.concat([first, collected["impressions"].groupby("news_id")["time"].min()]).groupby(level=0).min()
    news["first_seen"] = news["news_id"].map(first).astype(schema.PD_TS)
    out["news"] = news.reset_index(drop=True)
    return out, first


Part = tuple[str, Hashable, Callable[[], tuple[pd.DataFrame, pd.DataFrame]]]


def union_in_parts(
    logged: dict[str, pd.DataFrame],
    parts: Iterable[Part],
    feed: pd.DataFrame,
    history_max: int,
    memo: dict | None = None,
    base: Hashable = None,
) -> dict[str, pd.DataFrame]:
    """`union(logged, collect(the whole log, ...))`, built a part at a time (a day, an
    hour: consecutive spans of request time): each part is collected onto the tables of
    everything before it. A history needs only the clicks of earlier days, and ids continue
    after the earlier parts', so the rows are the same; only the order of the new articles
    differs (by part, then id).

    parts: (name, key, load) oldest first, where key names the part's inputs (its files)
    and load() gives its log and outcomes. With `memo` (a dict the caller keeps), the
    tables up to the last part whose key, every earlier part's key and `base` (the logged
    tables') are unchanged come from it: moving the online store forward every hour
    collects only the traffic since the last move."""
    parts_ = list(parts)
    chains, chain = [], (base,)
    for name, key, _ in parts_:
        chain = (*chain, name, key)
        chains.append(chain)
    memo = {} if memo is None else memo
    start, so_far, first = 0, logged, None  # first: each article's first impression in so_far, once known
    for i in range(len(parts_) - 1, -1, -1):
        if memo.get(parts_[i][0], (None,))[0] == chains[i]:
            start, so_far, first = i + 1, *memo[parts_[i][0]][1:]
            break
    kept = {n: memo[n] for n, *_ in parts_[:start][-2:] if n in memo}  # the next call changes at most the last
    memo.clear()
    memo.update(kept)
    # the parts not in the memo but the last are collected together (the first call, or
    # after a change in the past), then the last alone: the next call starts from there
    for group in ([*range(start, len(parts_) - 1)], [len(parts_) - 1]) if start < len(parts_) else ():
        if not group:
            continue
        loaded = [parts_[i][2]() for i in group]
        log = pd.concat([x[0] for x in loaded if len(x[0])] or [pd.DataFrame()], ignore_index=True)
        outcomes = pd.concat([x[1] for x in loaded if len(x[1])] or [pd.DataFrame()], ignore_index=True)
        if len(log) and len(outcomes):
            so_far, first = _union(so_far, collect(log, outcomes, so_far, feed, history_max), first)
        memo[parts_[group[-1]][0]] = (chains[group[-1]], so_far, first)
    return so_far
