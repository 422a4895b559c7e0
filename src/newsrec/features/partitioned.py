"""The `features` build in parts, one per day of feature rows, so that the parts can run
anywhere (on a Dask cluster: newsrec.adapters.dask) and, put together, give the whole build
row for row and in its order.

Each part is `build_features` over a window of whole days (lo, hi], given only the events
its rows need:
- impressions and ratings from `cut` = lo - 1 day - the snapshot step up to hi: the 1-day
  windows and the snapshot rows of its articles. Everything before `cut` comes summed, per
  article and over all articles (a `Carry`), from one pass over the events;
- histories from lo - 7 days up to hi and the snapshot after it: its users' activity
  windows, and a first impression whose profile is stamped at hi; the readers whose first
  ingested impression falls in the part (`firsts`, from one pass over the histories);
- the whole news table (small), and the articles it does not describe, made once from every
  impression.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from newsrec.config import Features as FeatureParams
from newsrec.data import schema
from newsrec.data.slices import Table
from newsrec.features.build import (
    CARRIED,
    Carry,
    FeatureTables,
    build_features,
    first_ingested,
    title_vectors,
    undescribed_of,
    undescribed_rows,
)

DAY = pd.Timedelta(days=1)
# what `build_features` reads of the events (the article stats, the users' per-category
# activity and the undescribed articles):
# a part reads these columns only, two days of impressions being most of its memory
IMPRESSION_COLUMNS = ["news_id", "user_id", "time", "clicked"]
FEEDBACK_COLUMNS = ["news_id", "time", "rating"]
LOOKBACK = pd.Timedelta(days=7)  # the longest activity window of user_rows


def serial(fn: Callable, parts: Iterable) -> list:
    """The default `run(fn, parts)`: one part after another, in this process."""
    return [fn(x) for x in parts]


@dataclass(frozen=True)
class Part:
    """One part's inputs (the tables `build_features` takes, cut to what its rows need)."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    impressions: pd.DataFrame
    histories: pd.DataFrame  # indexed by row number in the whole table (to put the rows back in order)
    feedback: pd.DataFrame
    carry: Carry
    firsts: pd.Series  # the first ingested impression (by user_id) of the readers whose one is in the part

    @property
    def rows(self) -> int:
        return len(self.impressions) + len(self.histories) + len(self.feedback)


def in_part(firsts: pd.Series, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.Series:
    """The first impressions at lo <= time < hi: those whose profile a part (lo, hi - step] may hold."""
    t = _utc(firsts)
    return firsts[((t >= lo) & (t < hi)).to_numpy()]


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True)


def windows(
    news: pd.DataFrame, imps: pd.DataFrame, hist: pd.DataFrame, feedback: pd.DataFrame, step: pd.Timedelta
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Whole UTC days (lo, hi], one after another, holding every feature row's timestamp:
    impressions (users), first_seen (articles), an event's next snapshot (article stats)."""
    firsts = [
        _utc(hist["time"]).dt.floor(step),
        _utc(news["first_seen"].dropna()),
    ]  # a profile: its impression's snapshot
    lasts = [_utc(hist["time"]) + step, _utc(news["first_seen"].dropna())]
    lasts += [_utc(imps["time"]) + step, _utc(feedback["time"]) + step]
    lo = min((s.min() for s in firsts if len(s)), default=None)
    hi = max((s.max() for s in lasts if len(s)), default=None)
    return days(lo, hi)


def days(lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The whole UTC days (lo, hi] from the one holding `lo` to the one holding `hi`."""
    if lo is None or hi is None:
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
    return carries_of([imps], [feedback], pd.Index(news.dropna(subset=["first_seen"])["news_id"]), cuts)


def carries_of(
    imps: Iterable[pd.DataFrame], feedback: Iterable[pd.DataFrame], ids: pd.Index, cuts: list[pd.Timestamp]
) -> list[Carry]:
    """`carries` over the events a batch at a time (news_id, time, clicked; news_id, time,
    rating), for the articles `ids`."""
    c = np.array([np.datetime64(t.tz_convert(None), "us") for t in cuts], dtype="datetime64[us]")
    n_w, n_a = len(cuts), len(ids)
    sums = np.zeros((n_w + 1, n_a, len(CARRIED)))

    def add(keys: np.ndarray, times: np.ndarray, cols: dict[int, np.ndarray]) -> None:
        ok = keys >= 0
        # an event counts for the cuts after it: from the first window whose cut is later
        first = np.searchsorted(c, times[ok], side="right")
        at = first * n_a + keys[ok]
        for j, v in cols.items():
            sums[:, :, j] += np.bincount(at, weights=v[ok], minlength=(n_w + 1) * n_a).reshape(n_w + 1, n_a)

    for b in imps:
        clicked = b["clicked"].fillna(0).to_numpy(np.float64)
        add(ids.get_indexer(b["news_id"]), _naive_us(b["time"]), {0: np.ones(len(b)), 1: clicked})
    for b in feedback:
        rating = b["rating"].to_numpy(np.float64) if "rating" in b else np.zeros(len(b))
        add(ids.get_indexer(b["news_id"]), _naive_us(b["time"]), {2: np.ones(len(b)), 3: rating})
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
    firsts = first_ingested(hist)
    out = []
    for (lo, hi), cut, carry in zip(wins, cuts, carried):
        out.append(
            Part(
                (lo, hi),
                imps[((t_imp >= cut) & (t_imp < hi)).to_numpy()],
                hist[((t_hist >= lo - LOOKBACK) & (t_hist < hi + step)).to_numpy()],
                feedback[((t_fb >= cut) & (t_fb < hi)).to_numpy()],
                carry,
                in_part(firsts, lo, hi + step),
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
    emb: np.ndarray,
) -> tuple[FeatureTables, np.ndarray]:
    """One part's feature rows, and the order of its users' rows in the whole build: twice the
    row number (in the whole histories table) of each one's impression, plus one after it."""
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
        emb=emb,
        firsts=part.firsts,
    )
    return ft, 2 * part.histories.index.to_numpy()[ft.user_source] + ~ft.user_profile


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
    every = pd.concat([news, undescribed], ignore_index=True)
    emb = title_vectors(every, p, content_fit)  # once, here: every part gets the same vectors
    todo = parts(news, imps, hist, feedback, p, undescribed)
    one = lambda part: build_part(part, news, categories, p, content_fit, undescribed, emb)  # noqa: E731
    built = (run or serial)(one, todo)
    return combine(built, every, p.quality_source, len(undescribed))


def combine(
    built: list[tuple[FeatureTables, np.ndarray]], every: pd.DataFrame, source: str, undescribed: int
) -> FeatureTables:
    """The parts' rows as one build: users in the order of the histories table (a profile
    before its impression's own row), articles in the news table's order (stats by article, then time)."""
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


@dataclass(frozen=True)
class Slices:
    """A part to be read where it is built: its window, where its events start, its carry."""

    window: tuple[pd.Timestamp, pd.Timestamp]
    cut: pd.Timestamp
    carry: Carry
    step: pd.Timedelta  # the snapshot: histories are read up to the window's end and one step after
    firsts: pd.Series  # the first ingested impression of the readers whose one falls in the part

    def read(self, tables: dict[str, Table], news_ids: pd.Index) -> Part:
        """The part's events; their articles as Categoricals over `news_ids` (every article,
        described or not), which the build looks up once per article, not once per row, and
        the impressions' users over the part's own (no string per row)."""
        lo, hi = self.window
        by = {"news_id": news_ids}
        hist = tables["histories"].slice(lo - LOOKBACK, hi + self.step)
        users = pd.Index(hist["user_id"].unique())  # the impressions of other users count for no row here
        return Part(
            self.window,
            tables["impressions"].slice(self.cut, hi, columns=IMPRESSION_COLUMNS, categories=by | {"user_id": users}),
            hist,
            tables["feedback"].slice(self.cut, hi, columns=FEEDBACK_COLUMNS, categories=by),
            self.carry,
            self.firsts,
        )


def build_from_tables(
    tables: dict[str, Table],
    categories: list[str],
    p: FeatureParams,
    content_fit: pd.Series | None = None,
    run: Callable[[Callable, Iterable], list] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> FeatureTables:
    """`build_partitioned` of the canonical tables (ingested and collected, as
    newsrec.collect.union makes them one) without reading any whole but the news: two passes
    over the events a row group at a time (each article's first impression and the span of
    the events; then the carries), and each part reads its own slices where it is built."""
    step = pd.Timedelta(hours=p.snapshot_hours)
    # as `windows` takes them: rows' times, an event's next snapshot
    first, lasts = tables["impressions"].earliest("news_id")  # each article's first impression
    lows, highs = [], [t + step for t in lasts]
    firsts = []  # each reader's first ingested impression
    for b in tables["histories"].batches(["user_id", "time", "split"]):  # a user's rows: a profile, the snapshot after
        lows.append(b["time"].min().floor(step))
        highs.append(b["time"].max() + step)
        firsts.append(first_ingested(b))
    first_of = pd.concat(firsts).groupby(level=0, sort=False).min() if firsts else pd.Series(dtype=schema.PD_TS)
    n_feedback = 0
    for b in tables["feedback"].batches(["time"]):
        n_feedback += len(b)
        highs.append(b["time"].max() + step)
    news = tables["news"].read()
    if len(tables["news"].files) > 1:  # union: each article once, first_seen its first impression
        news = news.drop_duplicates("news_id").reset_index(drop=True)
        news["first_seen"] = news["news_id"].map(first).astype(schema.PD_TS)
    seen = news["first_seen"].dropna()
    lows += [seen.min()] if len(seen) else []
    highs += [seen.max()] if len(seen) else []
    lo = min((t for t in lows if pd.notna(t)), default=None)
    hi = max((t for t in highs if pd.notna(t)), default=None)
    wins = days(lo, hi)
    if p.quality_source == "auto":
        p = p.model_copy(update={"quality_source": "ratings" if n_feedback else "ctr"})
    undescribed = undescribed_of(news, first)
    every = pd.concat([news, undescribed], ignore_index=True) if len(undescribed) else news
    cuts = [w - DAY - step for w, _ in wins]
    say(f"{tables['impressions'].rows():,} impressions, {len(wins)} days: summing what each day carries")
    carried = carries_of(
        tables["impressions"].batches(["news_id", "time", "clicked"]),
        tables["feedback"].batches(["news_id", "time", "rating"]),
        pd.Index(every.dropna(subset=["first_seen"])["news_id"]),
        cuts,
    )
    todo = [
        Slices(w, cut, carry, step, in_part(first_of, w[0], w[1] + step)) for w, cut, carry in zip(wins, cuts, carried)
    ]
    emb = title_vectors(every, p, content_fit)  # once, here: every part gets the same vectors

    def one(s: Slices) -> tuple[FeatureTables, np.ndarray]:
        ids = pd.Index(pd.concat([news["news_id"], undescribed["news_id"]], ignore_index=True))
        return build_part(s.read(tables, ids), news, categories, p, content_fit, undescribed, emb)

    built = (run or serial)(one, todo)
    return combine(built, every, p.quality_source, len(undescribed))
