"""The simulated world: deterministic, MIND-shaped, and with the structure it promises."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from worlds import tiny_world

from newsrec.data import vocab
from newsrec.data.canonical import ingest_dir, read_table
from newsrec.data.simulator import simulate
from newsrec.data.world import NewsWorld


def _digest(d):
    return {f: hashlib.sha256((d / f).read_bytes()).hexdigest() for f in ("news.tsv", "behaviors.tsv", "feedback.tsv")}


def test_deterministic_for_a_seed(tmp_path, sim_dir, world_params):
    simulate(world_params, tmp_path / "again")
    assert _digest(tmp_path / "again") == _digest(sim_dir)
    simulate(world_params.model_copy(update={"seed": 8}), tmp_path / "other")
    assert _digest(tmp_path / "other")["behaviors.tsv"] != _digest(sim_dir)["behaviors.tsv"]


def test_mind_format(sim_dir):
    lines = (sim_dir / "behaviors.tsv").read_text().splitlines()
    imp, user, time, hist, cands = lines[0].split("\t")
    assert imp == "1" and user.startswith("U")
    pd.to_datetime(time, format="%m/%d/%Y %I:%M:%S %p")
    assert all(tok.rsplit("-", 1)[1] in "01" for tok in cands.split())
    news = (sim_dir / "news.tsv").read_text().splitlines()[0].split("\t")
    assert len(news) == 8 and news[1] in vocab.CATEGORIES


@pytest.fixture(scope="module")
def tables(sim_canonical):
    return {n: read_table(sim_canonical / f"{n}.parquet") for n in ("news", "impressions", "histories", "feedback")}


def test_every_logged_impression_has_a_click_and_some_histories_are_empty(tables):
    h = tables["histories"]
    assert (h["n_clicks"] >= 1).all()
    assert (h["history"].map(len) == 0).any() and (h["history"].map(len) > 0).any()


def test_titles_carry_the_category(tables):
    news = tables["news"]
    for cat, subs in vocab.CATEGORIES.items():
        words = {w for ws in subs.values() for w in ws}
        titles = news.loc[news["category"] == cat, "title"].str.lower()
        assert titles.map(lambda t: bool(words & set(t.split()))).mean() > 0.95


def test_click_probability_is_exposed_and_drives_clicks(tables, world_params):
    world = NewsWorld(world_params)
    imps = tables["impressions"]
    p = world.click_probability(imps["user_id"], imps["news_id"], imps["time"])
    assert ((p > 0) & (p < 1)).all()
    clicked = imps["clicked"].to_numpy(dtype=int)
    assert p[clicked == 1].mean() > 2 * p[clicked == 0].mean()


def test_clickbait_draws_clicks_but_poor_ratings(tables, world_params):
    arts, _ = NewsWorld(world_params).truth()
    imps = tables["impressions"].merge(arts, on="news_id")
    bait = imps["clickbait"] > imps["clickbait"].median()
    assert imps.loc[bait, "clicked"].mean() > imps.loc[~bait, "clicked"].mean()
    fb = tables["feedback"].merge(arts, on="news_id")
    assert np.corrcoef(fb["clickbait"], fb["rating"].astype(float))[0, 1] < -0.1
    assert np.corrcoef(fb["quality"], fb["rating"].astype(float))[0, 1] > 0.1


def test_fresh_articles_are_clicked_more(tables, world_params):
    arts, _ = NewsWorld(world_params).truth()
    imps = tables["impressions"].merge(arts, on="news_id")
    age = (imps["time"] - imps["published"]).dt.total_seconds() / 3600
    assert age[imps["clicked"] == 1].mean() < age[imps["clicked"] == 0].mean()
    assert (age >= 0).all()  # never shown before it was published
    assert age.max() <= world_params.candidate_window_hours  # nor after the candidate window


def _ctr_by_day(tmp_path, w, category):
    simulate(w, tmp_path / "s")
    ingest_dir(tmp_path / "s", tmp_path / "c")
    imps = read_table(tmp_path / "c" / "impressions.parquet")
    news = read_table(tmp_path / "c" / "news.parquet")[["news_id", "category"]]
    imps = imps.merge(news, on="news_id")
    imps["day"] = (imps["time"] - pd.Timestamp(w.start)).dt.days
    return imps, imps[imps["category"] == category].groupby("day")["clicked"].mean()


def test_interest_shock_shifts_clicks_on_its_day(tmp_path):
    shock = {"enabled": True, "day": 2, "category": "weather", "boost": 8.0}
    w = tiny_world(days=4, impressions_per_day=400, scenarios={"interest_shock": shock})
    _, ctr = _ctr_by_day(tmp_path, w, "weather")
    assert ctr.loc[2:].mean() > 1.5 * ctr.loc[:1].mean()


def test_new_cohort_and_new_category_appear_on_their_day(tmp_path):
    w = tiny_world(
        days=4,
        scenarios={
            "new_cohort": {"enabled": True, "day": 2, "n_users": 100, "category": "sports"},
            "new_category": {"enabled": True, "day": 2, "name": "elections", "share": 0.4},
        },
    )
    imps, _ = _ctr_by_day(tmp_path, w, "elections")
    cohort = imps["user_id"].str[1:].astype(int) > w.n_users
    assert cohort.any() and (imps.loc[cohort, "day"] >= 2).all()
    new_cat = imps["category"] == "elections"
    assert new_cat.any() and (imps.loc[new_cat, "day"] >= 2).all()


def test_early_histories_follow_interest_and_popularity_without_repeats(world_params):
    """The backlog clicks are drawn with weight interest(category) x exp(popularity), without
    repeats: a user's clicks lean to the categories they care for and to popular articles."""
    from newsrec.data.simulator import _initial_histories

    world = NewsWorld(world_params.model_copy(update={"n_users": 3000}))
    a = world.articles
    index = {n: i for i, n in enumerate(a.news_id)}
    hist = _initial_histories(world, np.random.default_rng(0))
    old = np.flatnonzero(a.published < world.start)
    clicked, interest, n_clicks = [], [], []
    for u, h in enumerate(hist):
        ids = [index[x] for x in h]
        assert len(ids) == len(set(ids)) <= world_params.history_max
        assert all(a.published[i] < world.start for i in ids)
        assert ids == sorted(ids)  # in publication order
        clicked += ids
        interest += list(world.users.interest[u][a.category[ids]])
        n_clicks.append(len(ids))
    # interest in a clicked article's category: well above what a random reader-article pair has
    assert np.mean(interest) > 1.5 * world.users.interest[:, a.category[old]].mean()
    assert a.popularity[clicked].mean() > a.popularity[old].mean() + 0.5
    share_cold = np.mean(np.array(n_clicks) == 0)
    assert world_params.cold_user_fraction <= share_cold < world_params.cold_user_fraction + 0.1


def test_a_day_written_in_blocks_is_the_same_day(world_params):
    from newsrec.data.simulator import _behaviors_lines, days

    world = NewsWorld(world_params)
    log = next(days(world))
    whole = _behaviors_lines(world, log).to_pylist()
    assert [x for b in log.blocks(7) for x in _behaviors_lines(world, b).to_pylist()] == whole


def test_the_large_preset_sets_mind_large_sizes():
    from newsrec.config import WORLD_PRESETS, World

    w = World.model_validate({"preset": "large", "n_users": 10})
    assert {k: getattr(w, k) for k in WORLD_PRESETS["large"]} == WORLD_PRESETS["large"]
    assert World.model_validate({"n_users": 10}).n_users == 10
