"""The `features` stage: canonical tables -> point-in-time feature tables for Feast.

- users: a row after each impression, and a profile at the snapshot a reader's first
  ingested impression falls in (the history the data gives, known before the log, so that
  first request sees it): history length, activity windows from the log strictly before
  the row, category affinity and a title profile from the history.
- news_meta: one row per article at its first_seen: category index and title vector.
  Every article the impression log shows has one, described by the news table or not (a
  metadata feed lagging the log is common): an undescribed article takes the documented
  defaults, category `other` and a zero title vector, and its first impression as first_seen.
- news_stats: one row per article at first_seen and at each snapshot boundary after
  events: impressions, clicks, smoothed CTR and weighted-rating quality, all from
  events strictly before the row's timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from newsrec.collect import SPLIT as COLLECTED
from newsrec.config import Features as FeatureParams
from newsrec.features.content import title_embeddings, unit
from newsrec.features.spec import STATS_VIEW, USER_VIEW
from newsrec.features.windows import trailing_sums, trailing_sums_over
from newsrec.ranking import weighted_rating

DAY = np.timedelta64(24, "h")
HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True)
class Carry:
    """The sums of the events before a partition's events (newsrec.features.partitioned):
    per article (indexed by news_id; columns CARRIED) and over every article (`total`)."""

    articles: pd.DataFrame
    total: np.ndarray


CARRIED = ("imps", "clicks", "ratings", "stars")  # impressions, clicks, ratings, the stars they gave


@dataclass
class FeatureTables:
    users: pd.DataFrame
    news_meta: pd.DataFrame
    news_stats: pd.DataFrame
    quality_source: str  # "ratings" or "ctr"
    undescribed: int = 0  # articles in the impression log that the news table does not describe
    # each users row's impression (its row in the histories given) and whether it is the reader's profile
    user_source: np.ndarray | None = None
    user_profile: np.ndarray | None = None


def with_undescribed(
    news: pd.DataFrame, imps: pd.DataFrame, extra: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, int]:
    """`news` and a row for every other article the impressions show: no metadata (so the
    defaults), first_seen its first impression; and how many such rows were added. `extra`:
    those rows made already (`undescribed_rows` over every impression, where `imps` is a part)."""
    extra = undescribed_rows(news, imps) if extra is None else extra
    if not len(extra):
        return news, 0
    return pd.concat([news, extra], ignore_index=True), len(extra)


def undescribed_rows(news: pd.DataFrame, imps: pd.DataFrame) -> pd.DataFrame:
    """A news row for every article the impressions show that `news` does not describe."""
    other = imps.loc[~imps["news_id"].isin(news["news_id"]), ["news_id", "time"]]
    return undescribed_of(news, other.groupby("news_id", sort=True)["time"].min())


def undescribed_of(news: pd.DataFrame, first: pd.Series) -> pd.DataFrame:
    """`undescribed_rows` from each article's first impression (`first`, by news_id)."""
    first = first[~first.index.isin(news["news_id"])].sort_index()
    extra = pd.DataFrame({c: pd.Series([None] * len(first), dtype=object) for c in news.columns})
    extra["news_id"] = first.index.to_numpy()
    extra["first_seen"] = _ts(first.to_numpy()).array
    return extra.astype({"first_seen": news["first_seen"].dtype})


def _ts(x) -> pd.Series:
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.datetime64):  # naive UTC: nothing to parse
        return pd.Series(x.astype("datetime64[us]")).dt.tz_localize("UTC")
    return pd.Series(pd.to_datetime(x, utc=True)).astype("datetime64[us, UTC]")


def naive_utc(s: pd.Series) -> np.ndarray:
    """Naive UTC times (datetime64[us]) of time-zone-aware times, without parsing them."""
    return s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")


def first_ingested(hist: pd.DataFrame) -> pd.Series:
    """Each reader's first ingested impression's time, by user_id (collected rows aside)."""
    h = hist if "split" not in hist else hist[(hist["split"] != COLLECTED).to_numpy()]
    return h.groupby("user_id", sort=False)["time"].min()


def profiled(hist: pd.DataFrame, firsts: pd.Series | None = None) -> np.ndarray:
    """Which impressions of `hist` are a reader's first ingested one (`firsts`, by user_id:
    `first_ingested` of these rows by default), one per reader."""
    firsts = first_ingested(hist) if firsts is None else firsts
    hit = (hist["time"] == hist["user_id"].map(firsts)).to_numpy()
    if "split" in hist:
        hit &= (hist["split"] != COLLECTED).to_numpy()
    at = np.flatnonzero(hit)
    hit[at[pd.Series(hist["user_id"].to_numpy()[at]).duplicated().to_numpy()]] = False
    return hit


def user_plan(
    t: np.ndarray, profile: np.ndarray, p: FeatureParams, win: tuple[np.datetime64, np.datetime64] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The user rows of impressions at times `t` (naive UTC), as (impression, timestamp,
    profile?), ordered by impression, a profile before its impression's own row:
    - after each impression, at the snapshot after it (`row_times`): its clicks counted;
    - for the impressions in `profile` (a reader's first ingested one: `profiled`), a profile
      at the snapshot it falls in: the history the data gives is what the site knew of the
      reader before the log (MIND's clicks before it; the simulator's the same), so the
      reader's first request sees it. A reader first seen in served traffic has none.
    With `win` (lo, hi]: the rows whose timestamp falls in it."""
    src_p = np.flatnonzero(profile)
    src = np.concatenate([src_p, np.arange(len(t))])
    at = np.concatenate([snapshot_floor(t[src_p], p), row_times(t, p)])
    is_profile = np.r_[np.ones(len(src_p), bool), np.zeros(len(t), bool)]
    rank = np.lexsort((~is_profile, src))
    src, at, is_profile = src[rank], at[rank], is_profile[rank]
    if win is not None:
        inside = (at > win[0]) & (at <= win[1])
        src, at, is_profile = src[inside], at[inside], is_profile[inside]
    return src, at, is_profile


def user_rows(
    hist: pd.DataFrame,
    news: pd.DataFrame,
    emb: np.ndarray,
    cat_idx: np.ndarray,
    n_cats: int,
    p: FeatureParams,
    plan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    imps: pd.DataFrame | None = None,
    imp_cat: np.ndarray | None = None,
    imp_times: np.ndarray | None = None,
) -> pd.DataFrame:
    """The user rows of `plan` (`user_plan`; all of them by default): what the impression's
    history says (length, category affinity, title profile) and what the log says of the user
    strictly before the row, an impression's own clicks included in the row after it (activity
    windows; per category, from `imps` and the category of each of its rows, `imp_cat`, the
    candidates shown and clicked over the last day). The activity windows count every
    impression of `hist`, those of rows not in the plan too."""
    every = hist
    t_all = naive_utc(every["time"])
    q, r_q, _ = plan if plan is not None else user_plan(t_all, profiled(every), p)
    hist = every.iloc[q]
    n = len(hist)
    lens = hist["history"].map(len).to_numpy(dtype=np.int64)  # int even when there are no rows
    flat = (
        np.concatenate([np.asarray(h, dtype=object) for h in hist["history"]]) if lens.sum() else np.array([], object)
    )
    codes = pd.Index(news["news_id"]).get_indexer(flat)
    rows = np.repeat(np.arange(n), lens)
    ok = codes >= 0
    rows, codes = rows[ok], codes[ok]
    known = np.bincount(rows, minlength=n).astype(np.float64)
    counts = sparse.csr_matrix((np.ones(len(rows)), (rows, cat_idx[codes])), shape=(n, n_cats)).toarray()
    aff = (counts + p.affinity_prior / n_cats) / (known[:, None] + p.affinity_prior)
    w = sparse.csr_matrix((1.0 / known[rows], (rows, codes)), shape=(n, len(news)))
    profile = unit(np.asarray(w @ emb))
    imps = imps if imps is not None else pd.DataFrame({"user_id": [], "time": pd.Series([], dtype="datetime64[us]")})
    # a code per reader of `every`; an impression of anyone else gets -1 below and is left
    # out: no row asks for its reader's sums
    users = pd.Categorical(every["user_id"], categories=every["user_id"].dropna().unique())
    clicks = every["n_clicks"].fillna(0).to_numpy(dtype=np.float64)
    cands = every["n_candidates"].fillna(0).to_numpy(dtype=np.float64)
    out = pd.DataFrame(
        {
            "user_id": hist["user_id"].to_numpy(),
            "event_timestamp": _ts(r_q),
            "history_len": lens.astype(np.int64),
        }
    )
    counted = np.column_stack([np.ones(len(every)), clicks, cands])  # impressions, clicks, candidates
    both = trailing_sums_over(users.codes, t_all, counted, users.codes[q], r_q, (DAY, 7 * DAY))
    for name, sums in zip(("1d", "7d"), both, strict=True):
        sums = sums.astype(np.int64)
        out[f"user_imps_{name}"], out[f"user_clicks_{name}"] = sums[:, 0], sums[:, 1]
        if name == "7d":
            out["user_cands_7d"] = sums[:, 2]
    out["user_aff"] = pd.Series(list(aff.astype(np.float32)), index=out.index, dtype=object)
    out["user_emb"] = pd.Series(list(profile.astype(np.float32)), index=out.index, dtype=object)
    out["user_cat_hist"] = pd.Series(list(counts.astype(np.float32)), index=out.index, dtype=object)
    # per category: a key per (user, category), n_cats queries per row
    u_imp = pd.Categorical(imps["user_id"], categories=users.categories).codes.astype(np.int64)
    known = u_imp >= 0  # a part's impressions may come with only its own users' ids (NaN: another's)
    cat = imp_cat if imp_cat is not None else np.zeros(len(imps), np.int64)
    keys = u_imp[known] * n_cats + cat[known]
    shown = np.column_stack([np.ones(len(imps)), imps["clicked"].fillna(0).to_numpy(np.float64)])[known]
    q_keys = (users.codes[q].astype(np.int64)[:, None] * n_cats + np.arange(n_cats)).ravel()
    q_t = np.repeat(r_q, n_cats)
    t_imp = naive_utc(imps["time"]) if imp_times is None else imp_times
    per = trailing_sums(keys, t_imp[known], shown, q_keys, q_t, DAY).reshape(len(q), n_cats, 2)
    out["user_cat_imps_1d"] = pd.Series(list(per[:, :, 0].astype(np.float32)), index=out.index, dtype=object)
    out["user_cat_clicks_1d"] = pd.Series(list(per[:, :, 1].astype(np.float32)), index=out.index, dtype=object)
    return out[["user_id", "event_timestamp", *USER_VIEW.columns]]


def _last_day(t: np.ndarray, at: np.ndarray) -> np.ndarray | None:
    """Which impressions (their times `t`, naive UTC) are a day or less before the earliest
    of the row times `at` or after: all that a one-day window of those rows counts (None:
    all of them, when they span less than a day before it; none without rows). Moving the
    store an hour forward then reads a day of impressions, not the whole log."""
    if not len(at):
        return np.zeros(len(t), bool)
    if not len(t) or t.min() >= at.min() - DAY:
        return None
    return t >= at.min() - DAY


def row_times(t: np.ndarray, p: FeatureParams) -> np.ndarray:
    """The time of the user row of an impression at `t` (naive UTC): the snapshot after it,
    when its clicks are in the log (the same step as the article stats')."""
    us = int(np.timedelta64(p.snapshot_hours, "h").astype("timedelta64[us]").astype(np.int64))
    return (((t.astype("datetime64[us]").astype(np.int64) // us) + 1) * us).astype("datetime64[us]")


def snapshot_floor(t: np.ndarray, p: FeatureParams) -> np.ndarray:
    """The snapshot `t` (naive UTC) falls in: the last one at or before it."""
    us = int(np.timedelta64(p.snapshot_hours, "h").astype("timedelta64[us]").astype(np.int64))
    return ((t.astype("datetime64[us]").astype(np.int64) // us) * us).astype("datetime64[us]")


def news_stats_rows(
    imps: pd.DataFrame,
    feedback: pd.DataFrame,
    news: pd.DataFrame,
    source: str,
    p: FeatureParams,
    window: tuple[np.datetime64, np.datetime64] | None = None,
    carry: Carry | None = None,
    imp_times: np.ndarray | None = None,
    imp_rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """News engagement and quality at first_seen and after each snapshot with events (with
    `window` (lo, hi]: only the rows in it, from the same events; with `carry`, the sums of
    the events before those given are added). `imp_times` and `imp_rows`, where the caller
    has them: the impressions' times (`naive_utc`) and their articles' rows in `news`."""
    step = np.timedelta64(p.snapshot_hours, "h")
    has = news["first_seen"].notna().to_numpy()
    seen = news.loc[has, ["news_id", "first_seen"]]  # the two columns read
    ids = pd.Index(seen["news_id"])
    t_imp = naive_utc(imps["time"]) if imp_times is None else imp_times
    t_fb = naive_utc(feedback["time"])
    if imp_rows is None:
        k_imp = _positions(ids, imps["news_id"])
    else:  # a row of `news` as its place among those seen (-1: not seen, or not in `news`)
        to_seen = np.append(np.where(has, np.cumsum(has) - 1, -1), -1)
        k_imp = to_seen[imp_rows]
    k_fb = _positions(ids, feedback["news_id"])
    first = naive_utc(seen["first_seen"])
    # the events that make a row (at the snapshot after them); with a window, only those
    # after lo - step can (floor(t) + step > lo means t > lo - step)
    new_imp, new_fb = k_imp >= 0, k_fb >= 0
    if window is not None:
        new_imp &= t_imp > window[0] - step
        new_fb &= t_fb > window[0] - step
    q_keys = np.concatenate([np.arange(len(ids)), k_imp[new_imp], k_fb[new_fb]])
    q_t = np.concatenate([first, snapshot_floor(t_imp[new_imp], p) + step, snapshot_floor(t_fb[new_fb], p) + step])
    if window is not None:
        inside = (q_t > window[0]) & (q_t <= window[1])
        q_keys, q_t = q_keys[inside], q_t[inside]
    q = pd.DataFrame({"k": q_keys, "t": q_t}).drop_duplicates().sort_values(["k", "t"])
    qk, qt = q["k"].to_numpy(), q["t"].to_numpy("datetime64[us]")
    clicked = imps["clicked"].fillna(0).to_numpy(dtype=np.float64)
    m = k_imp >= 0
    mine = m & np.isin(k_imp, qk)  # an article's sums need only its own events
    out = pd.DataFrame({"news_id": ids.to_numpy()[qk], "event_timestamp": _ts(qt)})
    before = np.zeros((len(qk), len(CARRIED))) if carry is None else _carried(carry, ids.to_numpy()[qk])
    total = np.zeros(len(CARRIED)) if carry is None else carry.total
    windows = (("", None), ("_1d", DAY), ("_6h", 6 * HOUR), ("_1h", HOUR))
    counted = np.column_stack([np.ones(mine.sum()), clicked[mine]])  # impressions and clicks, summed together
    by_window = trailing_sums_over(k_imp[mine], t_imp[mine], counted, qk, qt, tuple(w for _, w in windows))
    for (name, win), sums in zip(windows, by_window, strict=True):
        if win is None:  # the whole past: the events before the ones given too
            sums = sums + before[:, :2]
        out[f"news_imps{name}"], out[f"news_clicks{name}"] = sums[:, 0].astype(np.int64), sums[:, 1].astype(np.int64)
    # global priors as of each row: every article's events strictly before it
    zero = np.zeros(len(qt), int)
    g = trailing_sums(np.zeros(m.sum(), int), t_imp[m], np.column_stack([np.ones(m.sum()), clicked[m]]), zero, qt, None)
    g_imps, g_clicks = g[:, 0] + total[0], g[:, 1] + total[1]
    c_ctr = np.where(g_imps > 0, g_clicks / np.maximum(g_imps, 1), 0.05)
    v, mi = out["news_imps"].to_numpy(), p.ctr_prior_impressions
    for name in ("", "_6h", "_1h"):
        out[f"news_ctr{name}"] = (out[f"news_clicks{name}"].to_numpy() + mi * c_ctr) / (out[f"news_imps{name}"] + mi)
    if source == "ratings":
        f = k_fb >= 0
        r = feedback["rating"].to_numpy(dtype=np.float64)[f]
        own = np.isin(k_fb[f], qk)
        n_r, s_r = trailing_sums(
            k_fb[f][own], t_fb[f][own], np.column_stack([np.ones(own.sum()), r[own]]), qk, qt, None
        ).T
        g_n, g_s = trailing_sums(
            np.zeros(f.sum(), int), t_fb[f], np.column_stack([np.ones(f.sum()), r]), zero, qt, None
        ).T
        n_r, s_r, g_n, g_s = n_r + before[:, 2], s_r + before[:, 3], g_n + total[2], g_s + total[3]
        c_r = np.where(g_n > 0, g_s / np.maximum(g_n, 1), 3.0)
        wr = weighted_rating(np.where(n_r > 0, s_r / np.maximum(n_r, 1), 0.0), n_r, p.rating_prior_votes, c_r)
        out["news_quality"] = (wr - 1.0) / 4.0  # 1..5 stars -> [0, 1]
    else:  # no ratings (MIND): the same formula over CTR
        out["news_quality"] = weighted_rating(
            out["news_clicks"] / np.maximum(v, 1), v, p.quality_prior_impressions, c_ctr
        )
    return out[["news_id", "event_timestamp", *STATS_VIEW.columns]]


def _positions(ids: pd.Index, col: pd.Series) -> np.ndarray:
    """`ids.get_indexer(col)`; through the categories where `col` is a Categorical (a
    lookup per article instead of one per row)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        return np.where(codes >= 0, ids.get_indexer(col.cat.categories)[codes], -1)
    return ids.get_indexer(col)


def title_vectors(news: pd.DataFrame, p: FeatureParams, content_fit: pd.Series | None) -> np.ndarray:
    """The title vector of every row of `news` (with its undescribed rows), fitted on `content_fit`."""
    fit_on = None if content_fit is None else content_fit.fillna("").tolist()
    return title_embeddings(news["title"].fillna("").tolist(), p.text_dims, p.seed, fit_on)


def _carried(carry: Carry, news_ids: np.ndarray) -> np.ndarray:
    """The carried sums of each row's article (zeros for an article with none)."""
    return carry.articles.reindex(news_ids)[list(CARRIED)].fillna(0.0).to_numpy(np.float64)


def build_features(
    news: pd.DataFrame,
    imps: pd.DataFrame,
    hist: pd.DataFrame,
    feedback: pd.DataFrame,
    categories: list[str],
    p: FeatureParams,
    content_fit: pd.Series | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
    carry: Carry | None = None,
    undescribed: pd.DataFrame | None = None,
    emb: np.ndarray | None = None,
    firsts: pd.Series | None = None,
) -> FeatureTables:
    """All feature tables from the canonical ones; categories fix the affinity layout;
    the title vectors are fitted on `content_fit` (the logged titles) where given. With
    `window` (lo, hi]: only the rows whose timestamp falls in it (what moving the online
    store forward needs), from the same events, so the same values. A part of the events
    (newsrec.features.partitioned) comes with the `carry` of those before it, the
    `undescribed` rows made from every impression and the title vectors made once (`emb`,
    `title_vectors`: a process of its own, with other BLAS threads, could differ in the last bit)
    and each reader's first ingested impression (`firsts`, `first_ingested` of every one)."""
    source = p.quality_source if p.quality_source != "auto" else ("ratings" if len(feedback) else "ctr")
    described = news
    news, n_undescribed = with_undescribed(news, imps, undescribed)
    cat_of = {c: i for i, c in enumerate(categories)}
    cat_idx = news["category"].map(cat_of).fillna(len(categories) - 1).to_numpy(dtype=np.int64)
    emb = title_vectors(news, p, content_fit) if emb is None else emb
    win = None if window is None else tuple(np.datetime64(pd.Timestamp(w).tz_convert(None), "us") for w in window)
    plan = user_plan(naive_utc(hist["time"]), profiled(hist, firsts), p, win)
    d = len(described)  # a user's affinity and profile count the described articles only
    t_imps = naive_utc(imps["time"])
    at = _positions(pd.Index(news["news_id"]), imps["news_id"])  # every shown article is in `news`
    keep = _last_day(t_imps, plan[1])  # the per-category sums read a day before each row, no more
    day, day_at, day_t = (imps, at, t_imps) if keep is None else (imps[keep], at[keep], t_imps[keep])
    imp_cat = np.where(day_at >= 0, cat_idx[day_at], len(categories) - 1)
    users = user_rows(hist, described, emb[:d], cat_idx[:d], len(categories), p, plan, day, imp_cat, day_t)
    seen = news["first_seen"].notna().to_numpy()
    if win is not None:
        t_first = naive_utc(news["first_seen"])
        seen &= (t_first > win[0]) & (t_first <= win[1])
    meta = pd.DataFrame(
        {
            "news_id": news["news_id"].to_numpy()[seen],
            "event_timestamp": _ts(news["first_seen"][seen]),
            "category_idx": cat_idx[seen],
            "first_seen_ts": news["first_seen"][seen].astype("int64").to_numpy() / 1e6,
        }
    )
    meta["news_emb"] = pd.Series(list(emb[seen]), index=meta.index, dtype=object)
    stats = news_stats_rows(imps, feedback, news, source, p, win, carry, t_imps, at)
    for df in (users, meta, stats):
        df["event_timestamp"] = _ts(df["event_timestamp"])
    return FeatureTables(users, meta, stats, source, n_undescribed, plan[0], plan[2])
