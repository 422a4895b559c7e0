"""Moving the online store forward a window at a time (newsrec.stages.advance), at the cost
of the new events, not of the whole log.

A move builds the rows of its window (lo, hi] the way a part of the partitioned build does
(newsrec.features.partitioned): from the impressions and ratings since lo - 1 day - the
snapshot step (the `cut`), those before it summed in a `Carry`, and the histories of the 7
days before. What the next move needs again is kept: the events' times, the sums before
the cut (moved on by the events the cut passes), each article's first impression and each
reader's first ingested one. The tables given to a move must be those of the last move
with rows appended at the end (`extends`); anything else (another order, rows dropped, a
cut earlier than the last) starts over from the whole tables, as the first move does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from newsrec.config import Features as FeatureParams
from newsrec.features.build import (
    CARRIED,
    Carry,
    FeatureTables,
    build_features,
    first_ingested,
    naive_utc,
    undescribed_of,
)
from newsrec.features.partitioned import DAY, LOOKBACK

EVENTS = ("impressions", "feedback", "histories")


def _us(t: pd.Timestamp) -> np.datetime64:
    return np.datetime64(t.tz_convert(None), "us")


def _row(df: pd.DataFrame, i: int) -> tuple:
    """Row i's impression id and time."""
    return df["impression_id"].iat[i], df["time"].iat[i]


def _min_by(a: pd.Series, b: pd.Series) -> pd.Series:
    """The earlier of two times per key (either may lack a key)."""
    return b if not len(a) else a if not len(b) else pd.concat([a, b]).groupby(level=0, sort=False).min()


class Moving:
    """What one move of the store keeps for the next (see the module's text)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        # per table: the rows taken in so far and the last one's (impression_id, time)
        self.last = dict.fromkeys(EVENTS, (0, None))
        self.times = {n: np.empty(0, "datetime64[us]") for n in EVENTS}
        self.pending = {n: np.empty(0, np.int64) for n in ("impressions", "feedback")}  # rows at or after the cut
        self.cut: np.datetime64 | None = None
        self.articles = pd.Index([], dtype=object)  # the keys of `sums`, in the order first met
        self.sums = np.zeros((0, len(CARRIED)))  # per article: the CARRIED sums of its events before the cut
        self.first = pd.Series(dtype="datetime64[us, UTC]")  # each article's first impression
        self.firsts = pd.Series(dtype="datetime64[us, UTC]")  # each reader's first ingested impression
        self._firsts_t: tuple = (None, None)  # those, and their naive times
        self.restarts = getattr(self, "restarts", -1) + 1

    def build(
        self,
        t: dict[str, pd.DataFrame],
        extends: bool,
        categories: list[str],
        p: FeatureParams,
        content_fit: pd.Series | None,
        window: tuple[pd.Timestamp, pd.Timestamp],
    ) -> FeatureTables:
        """`build_features(t's tables, ..., window=window)`, row for row. `extends`: whether
        `t` is the last move's tables with rows appended (the caller knows: its collected
        hours continue the last call's); false starts over."""
        lo, hi = (pd.Timestamp(w) for w in window)
        step = pd.Timedelta(hours=p.snapshot_hours)
        cut = _us(lo - DAY - step)
        if not extends or (self.cut is not None and cut < self.cut) or not self._continues(t):
            self.restart()
        self._take(t)
        self._carry_to(cut, t)
        if p.quality_source == "auto":  # that of the whole tables: a window without ratings must not switch it
            p = p.model_copy(update={"quality_source": "ratings" if len(t["feedback"]) else "ctr"})
        news = t["news"]
        undescribed = undescribed_of(news, self.first)
        seen = np.concatenate(
            [f["news_id"].to_numpy()[f["first_seen"].notna().to_numpy()] for f in (news, undescribed)]
        )
        carried = pd.DataFrame(self.sums, index=self.articles, columns=list(CARRIED))
        carried = carried[carried.index.isin(seen)]
        part = {n: t[n].iloc[self._between(n, None, hi)] for n in self.pending}
        hist = t["histories"].iloc[self._between("histories", lo - LOOKBACK, hi + step)]
        return build_features(
            news,
            part["impressions"],
            hist,
            part["feedback"],
            categories,
            p,
            content_fit,
            window=(lo, hi),
            carry=Carry(carried, carried.to_numpy(np.float64).sum(axis=0)),
            undescribed=undescribed,
            firsts=self._firsts_in(lo, hi + step),  # partitioned.in_part's, from times kept
        )

    def _continues(self, t: dict[str, pd.DataFrame]) -> bool:
        """A check of `extends`: each table still holds the last row taken in, where it was."""
        for n, (rows, last) in self.last.items():
            if len(t[n]) < rows or (rows and _row(t[n], rows - 1) != last):
                return False
        return True

    def _firsts_in(self, a: pd.Timestamp, b: pd.Timestamp) -> pd.Series:
        """The readers' first ingested impressions at a <= time < b."""
        if self._firsts_t[0] is not self.firsts:
            self._firsts_t = (self.firsts, naive_utc(self.firsts))
        t = self._firsts_t[1]
        return self.firsts[(t >= _us(a)) & (t < _us(b))]

    def _between(self, n: str, a: pd.Timestamp | None, b: pd.Timestamp) -> np.ndarray:
        """The rows of table `n` at a <= time < b, in order (a None: those waiting for the cut)."""
        if a is None:
            rows = self.pending[n]
            return rows[self.times[n][rows] < _us(b)]
        return np.flatnonzero((self.times[n] >= _us(a)) & (self.times[n] < _us(b)))

    def _take(self, t: dict[str, pd.DataFrame]) -> None:
        """Take in the rows appended since the last move: their times, the articles' first
        impressions, the readers' first ingested impressions; the events wait for the cut."""
        for n in EVENTS:
            seen = self.last[n][0]
            new = t[n].iloc[seen:]
            self.times[n] = np.concatenate([self.times[n], naive_utc(new["time"])])
            if n in self.pending:
                self.pending[n] = np.concatenate([self.pending[n], np.arange(seen, len(t[n]))])
            if n == "impressions" and len(new):
                self.first = _min_by(self.first, new.groupby("news_id", sort=False)["time"].min())
            if n == "histories" and len(new):
                self.firsts = _min_by(self.firsts, first_ingested(new))
            self.last[n] = (len(t[n]), _row(t[n], len(t[n]) - 1) if len(t[n]) else None)

    def _carry_to(self, cut: np.datetime64, t: dict[str, pd.DataFrame]) -> None:
        """Add to the sums the waiting events before `cut`."""
        self.cut = cut
        for n, cols in (("impressions", (0, 1)), ("feedback", (2, 3))):
            rows = self.pending[n]
            before = self.times[n][rows] < cut
            self.pending[n] = rows[~before]
            if not before.any():
                continue
            ev = t[n].iloc[rows[before]]
            ids = ev["news_id"].astype(str)
            grown = self.articles.append(pd.Index(ids[~ids.isin(self.articles)].unique()))
            if len(grown) > len(self.articles):
                self.articles = grown
                self.sums = np.vstack([self.sums, np.zeros((len(grown) - len(self.sums), len(CARRIED)))])
            keys = self.articles.get_indexer(ids)
            value = ev["clicked"].fillna(0) if n == "impressions" else ev.get("rating", pd.Series(0.0, ev.index))
            for j, v in zip(cols, (np.ones(len(ev)), value.to_numpy(np.float64))):
                self.sums[:, j] += np.bincount(keys, weights=v, minlength=len(self.articles))
