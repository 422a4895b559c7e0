"""The simulated readers of the live days: the world's impressions after its logged days,
each with its candidates, the clicks the readers will give (drawn from the true click
model, as the logged days' were) and their ratings, plus what the oracle needs: the true
click probability and the true quality of every candidate.

A reader asks the service to rank all their candidates and sees the whole list; the
clicks land on what they see, so served traffic is the world's own impressions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from newsrec.config import World
from newsrec.data.simulator import days, ratings
from newsrec.data.world import NewsWorld


def live_days(w: World, first: int = 0, n: int | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
    """(live day, its candidate rows) for live days first .. first + n - 1 (default: to the
    last of w.live_days). Every earlier day is simulated too, for the readers' histories."""
    world, n = NewsWorld(w), (w.live_days - first if n is None else n)
    if first < 0 or n < 0 or first + n > w.live_days:
        raise ValueError(f"live days {first}..{first + n - 1} are outside the world's {w.live_days} (world.live_days)")
    for d, log in enumerate(days(world)):
        if d >= w.days + first + n:
            return
        if d >= w.days + first:
            yield d - w.days, _frame(world, log, d)


def _frame(world: NewsWorld, log, day: int) -> pd.DataFrame:
    counts = np.diff(log.offsets)
    imp = np.repeat(np.arange(len(log.user)), counts)
    times = log.time[imp]
    rated, stars, rated_at = ratings(world, log, world.day_rng(10_000 + day))
    rating = np.full(len(log.article), np.nan)
    rating_time = np.full(len(log.article), np.datetime64("NaT"), "datetime64[us]")
    rating[rated], rating_time[rated] = stars, rated_at
    logit = world.click_logit(log.user[imp], log.article, times)
    return pd.DataFrame(
        {
            "impression_id": log.impression_id[imp],
            "user_id": world.users.user_id[log.user[imp]],
            "time": pd.to_datetime(times).tz_localize("UTC"),
            "news_id": world.articles.news_id[log.article],
            "position": np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.array([], int),
            "clicked": log.clicked.astype(np.int8),
            "rating": rating,
            "rating_time": pd.to_datetime(rating_time).tz_localize("UTC"),
            "p_true": 1.0 / (1.0 + np.exp(-logit)),
            "quality_true": world.articles.quality[log.article],
        }
    )


def requests(frame: pd.DataFrame) -> Iterator[tuple[dict, np.ndarray]]:
    """Each impression as the request its reader sends (all candidates ranked), with the
    positions of its rows in `frame`, impressions in the order they first appear (a
    position array, not a frame per request: splitting the day into frames and
    concatenating them back cost about a second a day)."""
    codes, ids = pd.factorize(frame["impression_id"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(ids) + 1))  # impression i: order[bounds[i]:bounds[i+1]]
    users, news = frame["user_id"].astype(str).to_numpy(), frame["news_id"].astype(str).to_numpy()
    times = frame["time"]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        pos = order[a:b]
        req = {
            "user_id": users[pos[0]],
            "candidates": news[pos].tolist(),
            "k": len(pos),
            "request_time": times.iat[pos[0]].isoformat(),
        }
        yield req, pos
