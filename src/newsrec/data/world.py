"""The simulated news world: articles, users and the true click model.

Everything here is a deterministic function of the `world` params (and its seed), so
evaluation can rebuild the world and rank by the true click probability (the oracle).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from newsrec.config import World as WorldParams
from newsrec.data import vocab

HOUR = np.timedelta64(1, "h")


@dataclass(frozen=True)
class Articles:
    news_id: np.ndarray  # str
    category: np.ndarray  # int index into World.categories
    subcategory: np.ndarray  # str
    title: np.ndarray  # str
    abstract: np.ndarray  # str
    published: np.ndarray  # datetime64[us], UTC
    popularity: np.ndarray  # log-popularity, standardised
    quality: np.ndarray  # latent quality in [0, 1]
    clickbait: np.ndarray  # latent clickbait level in [0, 1]


@dataclass(frozen=True)
class Users:
    user_id: np.ndarray  # str
    interest: np.ndarray  # (n_users, n_categories), rows sum to 1
    activity: np.ndarray  # relative activity weight
    joins_day: np.ndarray  # first day the user is active


class NewsWorld:
    """Articles, users and the click-probability model of one simulated world."""

    def __init__(self, p: WorldParams) -> None:
        self.p = p
        seeds = np.random.SeedSequence(p.seed).spawn(3)
        self._day_seeds = seeds[2]
        self.categories: list[str] = list(vocab.CATEGORIES)
        nc = p.scenarios.new_category
        if nc.enabled:
            self.categories.append(nc.name)
        self.start = np.datetime64(p.start.replace(tzinfo=None), "us")
        self.articles = self._make_articles(np.random.default_rng(seeds[0]))
        self.users = self._make_users(np.random.default_rng(seeds[1]))
        self._index = {nid: i for i, nid in enumerate(self.articles.news_id)}
        self._uindex = {uid: i for i, uid in enumerate(self.users.user_id)}

    def day_rng(self, day: int) -> np.random.Generator:
        """The random stream of one simulated day, independent of chunking."""
        return np.random.default_rng(np.random.SeedSequence(self.p.seed, spawn_key=(2, day)))

    def day_start(self, day: int) -> np.datetime64:
        return self.start + np.timedelta64(day * 24, "h")

    # -- construction ---------------------------------------------------------------
    def _make_articles(self, rng: np.random.Generator) -> Articles:
        """n_articles published over the backlog and the logged days, then the live days'
        articles at the same rate from a stream of their own: the logged world does not
        depend on how many live days follow it."""
        p = self.p
        logged_h = (p.backlog_days + p.days) * 24
        first = self.start - np.timedelta64(p.backlog_days * 24, "h")
        base = self._draw_articles(rng, p.n_articles, first, logged_h, 0)
        n_live = round(p.n_articles * p.live_days / max(p.backlog_days + p.days, 1))
        live_rng = np.random.default_rng(np.random.SeedSequence(p.seed, spawn_key=(3,)))
        live = self._draw_articles(live_rng, n_live, self.day_start(p.days), p.live_days * 24, p.n_articles)
        return Articles(*(np.concatenate([getattr(base, f), getattr(live, f)]) for f in Articles.__dataclass_fields__))

    def _draw_articles(
        self, rng: np.random.Generator, n: int, first: np.datetime64, span_h: float, id0: int
    ) -> Articles:
        """n articles published uniformly over span_h hours from `first`, in publication order."""
        p = self.p
        base = list(vocab.CATEGORIES)
        w = np.array([vocab.CATEGORY_WEIGHTS[c] for c in base])
        cat = rng.choice(len(base), size=n, p=w / w.sum())
        published = first + (rng.uniform(0, span_h, n) * 3600e6).astype("timedelta64[us]")
        nc = p.scenarios.new_category
        if nc.enabled:
            late = published >= self.day_start(nc.day)
            flip = late & (rng.random(n) < nc.share)
            cat[flip] = len(base)
        quality = rng.beta(4.0, 2.0, n)
        clickbait = rng.beta(1.2, 5.0, n)
        pop = rng.normal(0.0, 1.0, n)
        subcats, titles, abstracts = [], [], []
        for i in range(n):
            sub, words = self._subcategory(cat[i], rng)
            subcats.append(sub)
            titles.append(self._title(words, clickbait[i], rng))
            abstracts.append(" ".join(rng.choice(words + vocab.GENERIC, 12)))
        ids = np.array([f"N{id0 + i + 1}" for i in range(n)])
        order = np.argsort(published, kind="stable")
        return Articles(
            ids,  # named in publication order
            cat[order],
            np.array(subcats, dtype=str)[order],
            np.array(titles, dtype=str)[order],
            np.array(abstracts, dtype=str)[order],
            published[order],
            pop[order],
            quality[order],
            clickbait[order],
        )

    def _subcategory(self, c: int, rng: np.random.Generator) -> tuple[str, list[str]]:
        name = self.categories[c]
        subs = vocab.CATEGORIES.get(name) or vocab.NEW_CATEGORY_WORDS
        sub = list(subs)[rng.integers(len(subs))]
        return (sub if name in vocab.CATEGORIES else name), list(subs[sub])

    @staticmethod
    def _title(words: list[str], bait: float, rng: np.random.Generator) -> str:
        topic = list(rng.choice(words, 3, replace=False))
        generic = list(rng.choice(vocab.GENERIC, 2, replace=False))
        parts = topic[:2] + generic + topic[2:]
        if rng.random() < bait * 1.5:  # clickbait shows in the wording, as in real headlines
            parts.insert(0, str(rng.choice(vocab.CLICKBAIT)))
        return " ".join(parts).capitalize()

    def _make_users(self, rng: np.random.Generator) -> Users:
        p = self.p
        k = len(self.categories)
        base = np.array([vocab.CATEGORY_WEIGHTS.get(c, 0.1) for c in self.categories])
        interest = rng.dirichlet(0.5 * k * base / base.sum(), size=p.n_users)
        activity = rng.lognormal(0.0, 0.8, p.n_users)
        joins = np.zeros(p.n_users, dtype=int)
        ch = p.scenarios.new_cohort
        if ch.enabled:
            target = np.full(k, 0.3 / max(k - 1, 1))
            target[self.categories.index(ch.category)] = 6.0
            interest = np.vstack([interest, rng.dirichlet(target, size=ch.n_users)])
            activity = np.concatenate([activity, rng.lognormal(0.3, 0.8, ch.n_users)])
            joins = np.concatenate([joins, np.full(ch.n_users, ch.day)])
        ids = np.array([f"U{i + 1}" for i in range(len(activity))])
        return Users(ids, interest, activity, joins)

    # -- the true click model -------------------------------------------------------
    def interest_at(self, users: np.ndarray, day: int | np.ndarray) -> np.ndarray:
        """Users' category interests on a day, with the interest shock applied."""
        it = self.users.interest[users]
        sh = self.p.scenarios.interest_shock
        if sh.enabled and sh.category in self.categories:
            c = self.categories.index(sh.category)
            hit = np.asarray(day) >= sh.day
            it = it.copy()
            if sh.reshuffle:  # what each reader followed moves to the next category
                it = np.where(np.asarray(hit)[..., None], np.roll(it, 1, axis=-1), it)
            it[..., c] = np.where(hit, it[..., c] * sh.boost, it[..., c])
            it /= it.sum(axis=-1, keepdims=True)
        return it

    def click_logit(self, users: np.ndarray, articles: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Logit of the true click probability; arrays broadcast against each other."""
        m, a = self.p.click_model, self.articles
        day = ((times - self.start) // np.timedelta64(24, "h")).astype(int)
        k = len(self.categories)
        interest = self.interest_at(users, day)
        cat = a.category[articles]
        aff = np.take_along_axis(interest, cat[..., None], axis=-1)[..., 0]
        age_h = np.maximum((times - a.published[articles]) / HOUR, 0.0)
        return (
            m.base
            + m.interest * np.log(k * aff + 1e-3)
            + m.popularity * a.popularity[articles]
            + m.freshness * np.exp(-age_h / m.freshness_tau_hours)
            + m.clickbait * a.clickbait[articles]
            + m.quality * (a.quality[articles] - 0.5)
        )

    def click_probability(self, user_ids, news_ids, times) -> np.ndarray:
        """True click probability of (user, article, time) triples given by id; the oracle."""
        u = np.array([self._uindex[x] for x in np.asarray(user_ids)])
        n = np.array([self._index[x] for x in np.asarray(news_ids)])
        t = pd.to_datetime(pd.Series(times), utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
        return 1.0 / (1.0 + np.exp(-self.click_logit(u[:, None], n[:, None], t[:, None])[:, 0]))

    def rating(self, articles: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Star ratings (1-5) readers give: quality counts, clickbait disappoints."""
        a = self.articles
        q = a.quality[articles] - self.p.clickbait_penalty * a.clickbait[articles]
        return np.clip(np.rint(1 + 4 * q + rng.normal(0, 0.6, len(articles))), 1, 5).astype(np.int8)

    def truth(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The latent state as tables, for inspection and evaluation."""
        a, u = self.articles, self.users
        arts = pd.DataFrame(
            {
                "news_id": a.news_id,
                "category": np.array(self.categories)[a.category],
                "published": pd.to_datetime(a.published).tz_localize("UTC"),
                "popularity": a.popularity,
                "quality": a.quality,
                "clickbait": a.clickbait,
            }
        )
        users = pd.DataFrame({"user_id": u.user_id, "activity": u.activity, "joins_day": u.joins_day})
        for j, c in enumerate(self.categories):
            users[f"interest_{c}"] = u.interest[:, j]
        return arts, users


def span(p: WorldParams) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC time range the world's impressions fall in."""
    start = pd.Timestamp(p.start)
    return start, start + timedelta(days=p.days)
