"""Small simulated worlds for tests."""

from __future__ import annotations

from newsrec.config import World


def tiny_world(**kw) -> World:
    base = dict(n_users=300, n_articles=300, impressions_per_day=200, days=3, backlog_days=1)
    return World(**{**base, **kw})


def served_again(imps, every: int, days: int):
    """A prediction log and its outcomes: every `every`-th logged impression (candidates in
    their order, clicks as logged) served again `days` days later."""
    import pandas as pd

    ids = imps["impression_id"].unique()
    shown = imps[imps["impression_id"].isin(ids[::every])].drop_duplicates(["impression_id", "news_id"])
    log = pd.DataFrame(
        {
            "request_id": "r" + shown["impression_id"].astype(str),
            "user_id": shown["user_id"],
            "news_id": shown["news_id"],
            "rank": shown["position"].astype(int) + 1,
            "shown": True,
            "request_time": shown["time"] + pd.Timedelta(days=days),
            "score": 0.5,
        }
    )
    out = log[["request_id", "news_id", "request_time"]].assign(clicked=shown["clicked"].astype(int).to_numpy())
    return log, out
