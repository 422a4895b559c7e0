"""Generate MIND-format files (news.tsv, behaviors.tsv) plus a click-feedback file with
ratings from the simulated world, one day at a time so memory stays bounded."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from newsrec.config import World as WorldParams
from newsrec.data.io import atomic_dir
from newsrec.data.schema import LIVE_FEED
from newsrec.data.world import NewsWorld

MIND_TIME = "%m/%d/%Y %I:%M:%S %p"


@dataclass
class DayLog:
    """One day's logged impressions, before formatting."""

    impression_id: np.ndarray
    user: np.ndarray
    time: np.ndarray  # datetime64[us]
    offsets: np.ndarray  # candidate list offsets into the arrays below
    article: np.ndarray
    clicked: np.ndarray
    history: list[str]

    def blocks(self, size: int = 100_000) -> Iterator[DayLog]:
        """The day's impressions `size` at a time (bounded arrays when the day is large)."""
        for lo in range(0, len(self.user), size):
            hi = min(lo + size, len(self.user))
            a, b = self.offsets[lo], self.offsets[hi]
            yield DayLog(
                self.impression_id[lo:hi],
                self.user[lo:hi],
                self.time[lo:hi],
                self.offsets[lo : hi + 1] - a,
                self.article[a:b],
                self.clicked[a:b],
                self.history[lo:hi],
            )


@dataclass(frozen=True)
class SimSummary:
    impressions: int
    candidates: int
    clicks: int
    ratings: int


def _initial_histories(world: NewsWorld, rng: np.random.Generator) -> list[deque]:
    """Clicks before the log starts, drawn by interest and popularity from the backlog.

    A user's clicks are drawn without repeats with weight interest(category) x popularity:
    a category by the user's interest in it times its total weight, then an article within
    it by weight, with replacement, keeping first occurrences (the same distribution as
    drawing one by one without replacement), for a block of users at a time.
    """
    p, a, users = world.p, world.articles, world.users
    h = [deque(maxlen=p.history_max) for _ in range(len(users.user_id))]
    old = np.flatnonzero(a.published < world.start)
    if len(old) == 0 or p.history_max == 0:
        return h
    old = old[np.argsort(a.category[old], kind="stable")]  # grouped by category
    k = len(world.categories)
    cum = np.cumsum(np.exp(a.popularity[old]))
    ends = np.searchsorted(a.category[old], np.arange(k), side="right")
    before = np.concatenate([[0.0], cum])[np.concatenate([[0], ends[:-1]])]  # weight before each category
    total = cum[ends - 1] * (ends > 0) - before  # each category's weight (0 if it has no article)
    warm = (users.joins_day == 0) & (rng.random(len(h)) >= p.cold_user_fraction)
    n = np.minimum(rng.poisson(p.history_mean * np.minimum(users.activity, 3.0)), min(len(old), p.history_max))
    who = np.flatnonzero(warm & (n > 0))
    draws = 3 * int(n.max(initial=1))
    for lo in range(0, len(who), 20_000):
        u = who[lo : lo + 20_000]
        w = users.interest[u] * total
        cw = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
        cw[:, -1] = 1.0
        r = rng.random((len(u), draws))
        cat = np.minimum((r[:, :, None] >= cw[:, None, :]).sum(axis=2), k - 1)
        x = before[cat] + rng.random(cat.shape) * total[cat]
        pick = np.minimum(np.searchsorted(cum, x, side="right"), len(old) - 1)
        order = np.argsort(pick, axis=1, kind="stable")
        srt = np.take_along_axis(pick, order, axis=1)
        dup = np.zeros(pick.shape, dtype=bool)
        np.put_along_axis(dup, order[:, 1:], srt[:, 1:] == srt[:, :-1], axis=1)
        keep = ~dup & (np.cumsum(~dup, axis=1) <= n[u, None])
        for row, (uu, m) in enumerate(zip(u, keep)):
            h[uu].extend(a.news_id[np.sort(old[pick[row, m]])])
    return h


def _simulate_day(world: NewsWorld, day: int, next_id: int, hist: list[deque]) -> DayLog:
    p, a, rng = world.p, world.articles, world.day_rng(day)
    active = np.flatnonzero(world.users.joins_day <= day)
    w = world.users.activity[active]
    n = rng.poisson(p.impressions_per_day)
    users = active[rng.choice(len(active), size=n, p=w / w.sum())]
    # a daily rhythm: more reading in the morning and evening
    hours = np.sort(np.mod(rng.normal(rng.choice([8.0, 19.0], n), 3.0), 24.0))
    times = world.day_start(day) + (hours * 3600e6).astype("timedelta64[us]")
    k_want = rng.integers(p.candidates_min, p.candidates_max + 1, n)
    cand = _sample_candidates(world, times, k_want, rng)
    valid = cand >= 0
    order = np.argsort(np.where(valid, rng.random(cand.shape), 2.0), axis=1)  # shuffle each list
    cand = np.take_along_axis(cand, order, axis=1)
    valid = cand >= 0
    safe = np.where(valid, cand, 0)
    prob = 1 / (1 + np.exp(-world.click_logit(users[:, None], safe, times[:, None])))
    clicked = (rng.random(cand.shape) < prob) & valid
    keep = clicked.any(axis=1)  # like MIND, only impressions with a click are logged
    users, times, cand, valid, clicked = users[keep], times[keep], cand[keep], valid[keep], clicked[keep]
    counts = valid.sum(axis=1)
    history = [" ".join(hist[u]) for u in users]
    for u, row, c in zip(users, cand, clicked):  # today's clicks join tomorrow's history
        hist[u].extend(a.news_id[row[c]])
    return DayLog(
        np.arange(next_id, next_id + len(users)),
        users,
        times,
        np.concatenate([[0], np.cumsum(counts)]),
        cand[valid],
        clicked[valid].astype(np.int8),
        history,
    )


def _sample_candidates(world: NewsWorld, times: np.ndarray, k_want: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Candidate lists weighted by popularity, without repeats, from the articles published
    before the impression's hour and at most the candidate window old; -1 pads short lists.

    Draws with replacement and keeps first occurrences: the same distribution as drawing
    one by one without replacement, at O(k log pool) per impression.
    """
    a, kmax = world.articles, world.p.candidates_max
    window = np.timedelta64(int(world.p.candidate_window_hours * 3600e6), "us")
    weight = np.exp(0.8 * a.popularity)
    out = np.full((len(times), kmax), -1, dtype=np.int64)
    hours = times.astype("datetime64[h]").astype("datetime64[us]")
    for h in np.unique(hours):
        rows = np.flatnonzero(hours == h)
        # published before the hour began, and at most `window` old anywhere in the hour
        lo = np.searchsorted(a.published, h + np.timedelta64(1, "h") - window)
        pool = np.arange(lo, np.searchsorted(a.published, h, side="right"))
        if len(pool) == 0:
            continue
        cw = np.cumsum(weight[pool])
        draws = np.searchsorted(cw, rng.random((len(rows), 3 * kmax)) * cw[-1], side="right")
        order = np.argsort(draws, axis=1, kind="stable")
        srt = np.take_along_axis(draws, order, axis=1)
        dup = np.zeros(draws.shape, dtype=bool)
        np.put_along_axis(dup, order[:, 1:], srt[:, 1:] == srt[:, :-1], axis=1)
        rank = np.cumsum(~dup, axis=1)
        r, c = np.nonzero(~dup & (rank <= k_want[rows, None]))
        out[rows[r], rank[r, c] - 1] = pool[np.minimum(draws[r, c], len(pool) - 1)]
    return out


def _fmt_time(t: np.ndarray) -> pa.Array:
    return pc.strftime(pa.array(t.astype("datetime64[s]"), pa.timestamp("s")), format=MIND_TIME)


def _behaviors_lines(world: NewsWorld, log: DayLog) -> pa.Array:
    tokens = pc.binary_join_element_wise(
        pa.array(world.articles.news_id[log.article]), pc.cast(pa.array(log.clicked), pa.string()), "-"
    )
    lists = pa.ListArray.from_arrays(pa.array(log.offsets, pa.int32()), tokens)
    return pc.binary_join_element_wise(
        pc.cast(pa.array(log.impression_id), pa.string()),
        pa.array(world.users.user_id[log.user]),
        _fmt_time(log.time),
        pa.array(log.history, pa.string()),
        pc.binary_join(lists, " "),
        "\t",
    )


def ratings(world: NewsWorld, log: DayLog, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Star ratings of a share of the day's clicks, a few minutes after the click: the rows of
    `log.article` rated, their ratings and their times."""
    imp_of = np.repeat(np.arange(len(log.user)), np.diff(log.offsets))
    rows = np.flatnonzero(log.clicked.astype(bool) & (rng.random(len(log.clicked)) < world.p.rating_rate))
    dwell = (rng.exponential(4.0, len(rows)) * 60e6 + 30e6).astype("timedelta64[us]")
    return rows, world.rating(log.article[rows], rng), log.time[imp_of[rows]] + dwell


def _feedback_lines(
    world: NewsWorld, log: DayLog, rng: np.random.Generator, until: np.datetime64
) -> tuple[pa.Array, int]:
    """The day's ratings as feedback.tsv lines; those after `until` (the end of the logged
    days) are not in the log."""
    rows, stars, times = ratings(world, log, rng)
    imps = np.repeat(np.arange(len(log.user)), np.diff(log.offsets))[rows]
    keep = times < until
    lines = pc.binary_join_element_wise(
        pc.cast(pa.array(log.impression_id[imps][keep]), pa.string()),
        pa.array(world.users.user_id[log.user[imps]][keep], pa.string()),
        pa.array(world.articles.news_id[log.article[rows]][keep], pa.string()),
        _fmt_time(times[keep]),
        pc.cast(pa.array(stars[keep]), pa.string()),
        "\t",
    )
    return lines, int(keep.sum())


def _write(f, lines: pa.Array) -> None:
    if len(lines):
        f.write("\n".join(lines.to_pylist()) + "\n")


def days(world: NewsWorld) -> Iterator[DayLog]:
    """The world's days in order, from its first logged day on, without end."""
    hist = _initial_histories(world, world.day_rng(-1 % 2**31))
    day, next_id = 0, 1
    while True:
        log = _simulate_day(world, day, next_id, hist)
        next_id += len(log.user)
        yield log
        day += 1


def simulate(p: WorldParams, out: Path, progress: Callable[[int, int], None] | None = None) -> SimSummary:
    """Write news.tsv, behaviors.tsv and feedback.tsv for the world into `out`, atomically."""
    world = NewsWorld(p)
    totals = np.zeros(4, dtype=np.int64)
    with atomic_dir(out) as tmp:
        with open(tmp / "behaviors.tsv", "w") as fb, open(tmp / "feedback.tsv", "w") as ff:
            ff.write("impression_id\tuser_id\tnews_id\ttime\trating\n")
            for day, log in zip(range(p.days), days(world)):
                for block in log.blocks():
                    _write(fb, _behaviors_lines(world, block))
                lines, nr = _feedback_lines(world, log, world.day_rng(10_000 + day), world.day_start(p.days))
                _write(ff, lines)
                totals += [len(log.user), len(log.article), int(log.clicked.sum()), nr]
                if progress:
                    progress(day + 1, p.days)
        _write_news(world, tmp / "news.tsv")
        _write_news(world, tmp / LIVE_FEED, live=True)
        arts, users = world.truth()
        arts.to_parquet(tmp / "truth_articles.parquet", index=False)
        users.to_parquet(tmp / "truth_users.parquet", index=False)
    return SimSummary(*map(int, totals))


def _write_news(world: NewsWorld, path: Path, live: bool = False) -> None:
    """The articles published by the end of the logged days, or (`live`) those the newsroom
    publishes in the live days after them: the feed `collect` takes new articles from."""
    a = world.articles
    n = int(np.searchsorted(a.published, world.day_start(world.p.days)))
    rows = slice(n, None) if live else slice(0, n)
    cats = np.array(world.categories)[a.category[rows]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for row in zip(a.news_id[rows], cats, a.subcategory[rows], a.title[rows], a.abstract[rows]):
            f.write("\t".join(row) + "\t\t[]\t[]\n")
