"""The `features` build in parts, one per day of feature rows, so that the parts can run
anywhere (on a Dask cluster: newsrec.adapters.dask) and, put together, give the whole build
row for row and in its order.

Each part is `build_features` over a window of whole days (lo, hi], given only the events
its rows need:
- impressions and ratings from `cut` = lo - 1 day - the snapshot step up to hi: the 1-day
  windows and the snapshot rows of its articles. Everything before `cut` comes summed, per
  article and over all articles (a `Carry`), from one pass over the events;
- histories from lo - 7 days up to hi: its users' activity windows;
- the whole news table (small), and the articles it does not describe, made once from every
  impression.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from newsrec.config import Features as FeatureParams
from newsrec.features.build import CARRIED, Carry, FeatureTables, build_features, undescribed_rows

DAY = pd.Timedelta(days=1)
LOOKBACK = pd.Timedelta(days=7)  # the longest activity window of user_rows


@dataclass(frozen=True)
class Part:
    """One part's inputs (the tables `build_features` takes, cut to what its rows need)."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    impressions: pd.DataFrame
    histories: pd.DataFrame  # indexed by row number in the whole table (to put the rows back in order)
    feedback: pd.DataFrame
    carry: Carry

    @property
    def rows(self) -> int:
        return len(self.impressions) + len(self.histories) + len(self.feedback)


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True)


def windows(
    news: pd.DataFrame, imps: pd.DataFrame, hist: pd.DataFrame, feedback: pd.DataFrame, step: pd.Timedelta
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Whole UTC days (lo, hi], one after another, holding every feature row's timestamp:
    impressions (users), first_seen (articles), an event's next snapshot (article stats)."""
    firsts = [_utc(hist["time"]), _utc(news["first_seen"].dropna())]
    lasts = [_utc(hist["time"]), _utc(news["first_seen"].dropna())]
    lasts += [_utc(imps["time"]) + step, _utc(feedback["time"]) + step]
    lo = min((s.min() for s in firsts if len(s)), default=None)
    hi = max((s.max() for s in lasts if len(s)), default=None)
    if lo is None:
        return []
    lo = lo.ceil("D") - DAY  # a row at midnight belongs to the day before: windows are (lo, hi]
    out = []
    while lo < hi:
        out.append((lo, lo + DAY))
        lo += DAY
    return out


def _naive_us(s: pd.Series) -> np.ndarray:
    return _utc(s).dt.tz_localize(None).to_numpy("datetime64[us]")


def carries(news: pd.DataFrame, imps: pd.DataFrame, feedback: pd.DataFrame, cuts: list[pd.Timestamp]) -> list[Carry]:
    """For each cut: the sums (CARRIED) of the events strictly before it, per article and in
    all, over the events `news_stats_rows` counts (those of articles with a first_seen)."""
    ids = pd.Index(news.dropna(subset=["first_seen"])["news_id"])
    c = np.array([np.datetime64(t.tz_convert(None), "us") for t in cuts], dtype="datetime64[us]")
    n_w, n_a = len(cuts), len(ids)
    sums = np.zeros((n_w + 1, n_a, len(CARRIED)))
    k = ids.get_indexer(imps["news_id"])
    clicked = imps["clicked"].fillna(0).to_numpy(np.float64)
    kf = ids.get_indexer(feedback["news_id"])
    rating = feedback["rating"].to_numpy(np.float64) if "rating" in feedback else np.zeros(len(feedback))
    for keys, times, cols in (
        (k, _naive_us(imps["time"]), {0: np.ones(len(imps)), 1: clicked}),
        (kf, _naive_us(feedback["time"]), {2: np.ones(len(feedback)), 3: rating}),
    ):
        ok = keys >= 0
        # an event counts for the cuts after it: from the first window whose cut is later
        first = np.searchsorted(c, times[ok], side="right")
        at = first * n_a + keys[ok]
        for j, v in cols.items():
            sums[:, :, j] += np.bincount(at, weights=v[ok], minlength=(n_w + 1) * n_a).reshape(n_w + 1, n_a)
    before = np.cumsum(sums, axis=0)[:n_w]
    return [
        Carry(pd.DataFrame(before[w], index=ids.to_numpy(), columns=list(CARRIED)), before[w].sum(axis=0))
        for w in range(n_w)
    ]


def parts(
    news: pd.DataFrame,
    imps: pd.DataFrame,
    hist: pd.DataFrame,
    feedback: pd.DataFrame,
    p: FeatureParams,
    undescribed: pd.DataFrame,
) -> list[Part]:
    """The parts of the build (see the module's text), oldest first."""
    step = pd.Timedelta(hours=p.snapshot_hours)
    wins = windows(news, imps, hist, feedback, step)
    cuts = [lo - DAY - step for lo, _ in wins]
    every = pd.concat([news, undescribed], ignore_index=True) if len(undescribed) else news
    carried = carries(every, imps, feedback, cuts)
    t_imp, t_fb, t_hist = _utc(imps["time"]), _utc(feedback["time"]), _utc(hist["time"])
    hist = hist.reset_index(drop=True)
    out = []
    for (lo, hi), cut, carry in zip(wins, cuts, carried):
        out.append(
            Part(
                (lo, hi),
                imps[((t_imp >= cut) & (t_imp < hi)).to_numpy()],
                hist[((t_hist >= lo - LOOKBACK) & (t_hist <= hi)).to_numpy()],
                feedback[((t_fb >= cut) & (t_fb < hi)).to_numpy()],
                carry,
            )
        )
    return out


def build_part(
    part: Part,
    news: pd.DataFrame,
    categories: list[str],
    p: FeatureParams,
    content_fit: pd.Series | None,
    undescribed: pd.DataFrame,
) -> tuple[FeatureTables, np.ndarray]:
    """One part's feature rows, and the row numbers (in the whole histories table) of its users' rows."""
    ft = build_features(
        news,
        part.impressions,
        part.histories,
        part.feedback,
        categories,
        p,
        content_fit,
        window=part.window,
        carry=part.carry,
        undescribed=undescribed,
    )
    t = _utc(part.histories["time"])
    inside = ((t > part.window[0]) & (t <= part.window[1])).to_numpy()
    return ft, part.histories.index.to_numpy()[inside]


def build_partitioned(
    news: pd.DataFrame,
    imps: pd.DataFrame,
    hist: pd.DataFrame,
    feedback: pd.DataFrame,
    categories: list[str],
    p: FeatureParams,
    content_fit: pd.Series | None = None,
    run: Callable[[Callable, Iterable], list] | None = None,
) -> FeatureTables:
    """`build_features` of the whole tables, built a day at a time: `run(fn, parts)` builds
    the parts (in this process by default; on a Dask cluster, newsrec.adapters.dask) and the
    rows are put back in the whole build's order."""
    # the quality source of the whole: a day without ratings must not switch it
    if p.quality_source == "auto":
        p = p.model_copy(update={"quality_source": "ratings" if len(feedback) else "ctr"})
    undescribed = undescribed_rows(news, imps)
    todo = parts(news, imps, hist, feedback, p, undescribed)
    one = lambda part: build_part(part, news, categories, p, content_fit, undescribed)  # noqa: E731
    built = (run or (lambda fn, xs: [fn(x) for x in xs]))(one, todo)
    return combine(built, pd.concat([news, undescribed], ignore_index=True), p.quality_source, len(undescribed))


def combine(
    built: list[tuple[FeatureTables, np.ndarray]], every: pd.DataFrame, source: str, undescribed: int
) -> FeatureTables:
    """The parts' rows as one build: users in the order of the histories table, articles in
    the news table's order (stats by article, then time)."""
    if not built:
        raise ValueError("no feature rows: the tables hold no impressions or articles")
    order = pd.Index(every["news_id"])

    def cat(name: str, by) -> pd.DataFrame:
        df = pd.concat([getattr(ft, name) for ft, _ in built], ignore_index=True)
        return df.iloc[by(df)].reset_index(drop=True)

    rows = np.concatenate([r for _, r in built])
    users = cat("users", lambda df: np.argsort(rows, kind="stable"))
    meta = cat("news_meta", lambda df: np.argsort(order.get_indexer(df["news_id"]), kind="stable"))
    stats = cat(
        "news_stats", lambda df: np.lexsort((df["event_timestamp"].to_numpy(), order.get_indexer(df["news_id"])))
    )
    return FeatureTables(users, meta, stats, source, undescribed)
