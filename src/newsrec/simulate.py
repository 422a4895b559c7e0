"""Simulated days of closed-loop traffic. The world is simulated for history + N days; the
first model trains on the history. Each simulated day the served model ranks that day's
impressions, readers click as the world's click model drew, monitoring judges the day's
log against the model's training sample, and a policy decides whether to retrain:
never, on a fixed schedule, or when the drift gate says so.

Features come from the same point-in-time tables as the pipeline (joined in process, equal
to Feast's join; a test holds them together), the model from the same `fit`, the ranking from
the same `blend`. The monitoring judge is passed in, so the core imports no reporting tool.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from newsrec.beyond import beyond_accuracy
from newsrec.config import Params, Trainset
from newsrec.data.canonical import ingest_dir, read_table
from newsrec.data.io import write_json
from newsrec.data.simulator import simulate as simulate_world
from newsrec.data.world import NewsWorld
from newsrec.drift import SHOWN_K, sample
from newsrec.economics import economics
from newsrec.features.build import build_features
from newsrec.features.join import as_of, entity_rows
from newsrec.features.request import fill_defaults, fit_defaults
from newsrec.features.spec import MODEL_FEATURES, VIEWS
from newsrec.gates import promotion_decision
from newsrec.metrics import auc, ndcg, ranking_metrics
from newsrec.model import fit, predict, split_rows
from newsrec.ranking import blend, popularity, rank_within
from newsrec.recommend import score_candidates

# (reference, current, day label) -> (retrain?, reasons)
Judge = Callable[[pd.DataFrame, pd.DataFrame, str], tuple[bool, list[str]]]


@dataclass
class SimData:
    """Every labeled candidate row of the simulated world with its model inputs."""

    frame: pd.DataFrame  # MODEL_FEATURES + impression_id, news_id, event_timestamp, clicked, quality_true, day
    dates: list[str]  # date of each day index
    n_categories: int
    history_days: int


def save_data(data: SimData, folder: Path) -> Path:
    """The prepared world, for tasks that run in other processes or later."""
    folder.mkdir(parents=True, exist_ok=True)
    data.frame.to_parquet(folder / "frame.parquet", index=False)
    write_json(
        folder / "meta.json",
        {"dates": data.dates, "n_categories": data.n_categories, "history_days": data.history_days},
    )
    return folder


def load_data(folder: Path) -> SimData:
    meta = json.loads((folder / "meta.json").read_text())
    return SimData(pd.read_parquet(folder / "frame.parquet"), meta["dates"], meta["n_categories"], meta["history_days"])


@dataclass
class Served:
    """A model in service: the estimator, its fill values, its version and its reference."""

    model: object
    defaults: dict[str, float]
    version: int
    reference: pd.DataFrame


@dataclass
class DayResult:
    day: int
    date: str
    model_version: int
    metrics: dict[str, float]
    drift: bool
    retrained: bool
    reasons: list[str] = field(default_factory=list)
    retrain_seconds: float = 0.0  # the compute the day's retrain took (its fit and gate)


def prepare(
    p: Params, categories: list[str], work: Path | None = None, say: Callable[[str], None] = lambda m: None
) -> SimData:
    """Simulate the world, ingest it, build the feature tables and join them to every
    labeled impression row (what the pipeline's stages do, in process)."""
    w = p.simulate.world_params(p.world)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        t, truth, _ = _ingested(w, Path(tmp), say)
    say(
        f"{w.days} days ({p.simulate.scenario} from simulated day {p.simulate.shock_day}); "
        f"history {p.simulate.history_days} days"
    )
    ent = entity_rows(t["impressions"], p.features.advance_hours)
    return _join(w, w.days, t, truth, ent, categories, p, say, p.simulate.history_days)


def prepare_live(
    p: Params,
    categories: list[str],
    scenario: str,
    shock_day: int,
    days: int,
    work: Path | None = None,
    say: Callable[[str], None] = lambda m: None,
) -> SimData:
    """The world `make loop` lives, in process: the logged days as `ingest` reads them, then
    the first `days` live days with `scenario` from live day `shock_day`. Each live day is
    the readers' own (their impressions, clicks and ratings, every candidate seen, as the
    loop's readers see them), collected the way `collect` turns served traffic into data;
    its rows are every impression the readers sent, clicked or not, as the loop measures
    them. history_days is the logged days."""
    from newsrec.collect import collect, union
    from newsrec.data.mind import read_news
    from newsrec.data.readers import live_days
    from newsrec.data.schema import LIVE_FEED, PD_TS

    w = p.simulate.live_world(p.world, scenario, shock_day)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        t, truth, raw = _ingested(w, Path(tmp), say)
        feed = read_news(raw / LIVE_FEED).to_pandas()
    live = pd.concat([f for _, f in live_days(w, 0, days)], ignore_index=True)
    live["time"] = live["time"].astype(PD_TS)
    served = live.assign(request_id=live["impression_id"].astype(str), request_time=live["time"])
    log = served.assign(rank=served["position"].astype(int) + 1, shown=True)
    tables = union(t, collect(log, served, t, feed, p.collect.history_max))
    ent = pd.concat(
        [entity_rows(t["impressions"], p.features.advance_hours), entity_rows(live, p.features.advance_hours)],
        ignore_index=True,
    )
    say(f"{w.days} logged days, then {days} live days ({scenario} from live day {shock_day})")
    return _join(w, w.days + days, tables, truth, ent, categories, p, say, w.days)


def _ingested(w, tmp: Path, say: Callable[[str], None]) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, Path]:
    """The world's logged days as canonical tables, the articles' true quality, the raw folder."""
    raw, canon = tmp / "raw", tmp / "canonical"
    simulate_world(w, raw, lambda d, n: say(f"world day {d}/{n}"))
    ingest_dir(raw, canon)
    t = {n: read_table(canon / f"{n}.parquet") for n in ("news", "impressions", "histories", "feedback")}
    return t, pd.read_parquet(raw / "truth_articles.parquet", columns=["news_id", "quality"]), raw


def _join(
    w,
    n_days: int,
    t: dict[str, pd.DataFrame],
    truth: pd.DataFrame,
    ent: pd.DataFrame,
    categories: list[str],
    p: Params,
    say: Callable[[str], None],
    history_days: int,
) -> SimData:
    """The feature tables of `t` joined as of each entity row (of days 0 .. n_days - 1), with
    the truth the oracle needs."""
    ft = build_features(t["news"], t["impressions"], t["histories"], t["feedback"], categories, p.features)
    frame = as_of(ent.astype({"clicked": float}), {v.table: getattr(ft, v.table) for v in VIEWS})
    frame["quality_true"] = frame["news_id"].map(truth.set_index("news_id")["quality"]).to_numpy()
    when = pd.to_datetime(frame["request_time"], unit="s", utc=True)
    frame["p_true"] = NewsWorld(w).click_probability(frame["user_id"], frame["news_id"], when)  # the oracle's
    start = pd.Timestamp(w.start).tz_convert("UTC").normalize()
    frame["day"] = ((when - start) // pd.Timedelta(days=1)).astype(int)
    dates = [(start + pd.Timedelta(days=d)).strftime("%Y-%m-%d") for d in range(n_days)]
    say(f"{len(frame):,} labeled candidate rows over {n_days} days")
    # the article's category as the news table names it (what the live days' metrics read too)
    frame["category"] = frame["news_id"].map(t["news"].drop_duplicates("news_id").set_index("news_id")["category"])
    keep = ["impression_id", "user_id", "news_id", "event_timestamp", "request_time", "clicked"]
    keep += ["quality_true", "p_true", "day", "category"]
    return SimData(frame[keep + MODEL_FEATURES], dates, len(categories), history_days)


def serve(s: Served, rows: pd.DataFrame, p: Params) -> pd.DataFrame:
    """The day's rows as the service would log them: scores, served rank, model version."""
    groups = rows["impression_id"].to_numpy()
    engagement, quality, score = score_candidates(
        s.model, s.defaults, rows, groups, p.ranking.engagement_weight, p.ranking.quality_weight
    )
    return rows.assign(
        engagement=engagement,
        quality=quality,
        score=score,
        rank=rank_within(groups=groups, values=score),
        request_id=groups,
        model_version=str(s.version),
    )


def day_metrics(served: pd.DataFrame, p: Params) -> dict[str, float]:
    """What readers got (CTR and true quality of the shown top 10, nDCG@10 and AUC; with each
    candidate's `category`, the top 10's diversity, novelty and coverage), the counts the
    economics price (items shown, clicks, clicks on low-quality items), and under `oracle`
    what the same blend ranked with the true click probability and quality gives."""
    g, y = served["request_id"].to_numpy(), served["clicked"].to_numpy(np.float64)
    quality = served["quality_true"].to_numpy()

    def got(rank, score) -> dict[str, float]:
        shown = rank <= SHOWN_K
        out = {
            f"ctr@{SHOWN_K}": float(y[shown].mean()),
            "ndcg@10": ndcg(g, y, score, 10),
            f"quality@{SHOWN_K}": float(quality[shown].mean()),
        }
        if "category" in served:
            out |= beyond_accuracy(g, served["news_id"], served["category"], score, y, SHOWN_K)
        return out

    r = p.ranking
    best = blend(served["p_true"], served["quality_true"], g, r.engagement_weight, r.quality_weight)
    shown = served["rank"].to_numpy() <= SHOWN_K
    clicked = shown & (y > 0)
    counts = {
        "shown": int(shown.sum()),
        "clicks": int(clicked.sum()),
        "low_quality_clicks": int((clicked & (quality < p.simulate.economics.low_quality)).sum()),
    }
    out = got(served["rank"].to_numpy(), served["score"].to_numpy())
    return out | counts | {"auc": auc(g, y, served["engagement"].to_numpy()), "oracle": got(rank_within(best, g), best)}


def train(data: SimData, days: range, version: int, p: Params, held_out: float = 0.3) -> Served:
    """Fit on the labeled rows of `days` but a share of the last day's impressions, held out:
    they are the reference monitoring compares with (out of sample and the most recent, as
    the pipeline's validation day is), so its performance is what to expect of new traffic."""
    days = list(days)
    rows = data.frame[data.frame["day"].isin(days)]
    u = (rows["impression_id"].to_numpy(np.uint64) * np.uint64(2654435761)) % np.uint64(2**32) / 2**32
    held = (rows["day"].to_numpy() == days[-1]) & (u < held_out)
    defaults = fit_defaults(rows[~held], data.n_categories)
    x, _ = fill_defaults(rows[~held], defaults)
    model = fit(x, rows.loc[~held, "clicked"].astype(int), p.train)
    s = Served(model, defaults, version, pd.DataFrame())
    s.reference = serve(s, sample(rows[held], p.monitor.reference_rows, p.monitor.seed), p)
    return s


def fit_split(
    data: SimData, last_day: int, version: int, p: Params, trainset: Trainset, champion: Served | None = None
) -> Served | None:
    """A model as the pipeline trains it on the days up to `last_day`: the rows the data
    holds (impressions with a click, as ingested or collected), split by `trainset` as the
    `trainset` stage splits them, fit on 'train', the monitoring reference a sample of
    'valid' as the monitor stage takes it. With a `champion`, the promotion gate judges it
    on 'test' as `promote` does: None if it does not beat popularity and the champion."""
    rows = data.frame[data.frame["day"] <= last_day]
    rows = rows[rows.groupby("impression_id")["clicked"].transform("max").to_numpy() > 0]
    when = pd.to_datetime(rows["request_time"], unit="s", utc=True)
    split = split_rows(when, rows["impression_id"], trainset).to_numpy()
    tr = rows[split == "train"]
    defaults = fit_defaults(tr, data.n_categories)
    x, _ = fill_defaults(tr, defaults)
    s = Served(fit(x, tr["clicked"].astype(int), p.train), defaults, version, pd.DataFrame())
    if champion is not None:
        test = rows[split == "test"]
        g, y = test["impression_id"].to_numpy(), test["clicked"].to_numpy()

        def scored(m: Served) -> dict[str, float]:
            return ranking_metrics(g, y, predict(m.model, fill_defaults(test, m.defaults)[0]))

        base = ranking_metrics(g, y, popularity(test["news_clicks_1d"], test["news_imps_1d"]))
        if not promotion_decision(scored(s), scored(champion), base, p.promote).ok:
            return None
    s.reference = serve(s, sample(rows[split == "valid"], p.monitor.reference_rows, p.monitor.seed), p)
    return s


# (first day, last day, model in service) of a retrain -> the model it fits, or None if the gate refuses it
Refit = Callable[[int, int, Served], Served | None]


def run_policy(
    policy: str,
    data: SimData,
    first: Served,
    judge: Judge,
    p: Params,
    say: Callable[[str], None] = lambda m: None,
    refit: Refit | None = None,
) -> list[DayResult]:
    """Every simulated day under one policy; the first model is shared by all policies.
    A scheduled retrain fits the last train_window_days; one that drift triggered fits only
    the days since the drift began (at most train_window_days): older days describe a world
    that is gone. `refit` fits a retrain (default: `train`, with its held-out share)."""
    refit = refit or (lambda start, end, now: train(data, range(start, end + 1), now.version + 1, p))
    served, out, sp = first, [], p.simulate
    since = None  # first day of the current drift episode
    for i in range(sp.days):
        d = data.history_days + i
        rows = served_rows = serve(served, data.frame[data.frame["day"] == d], p)
        drift, reasons = judge(served.reference, served_rows, f"{policy} {data.dates[d]}")
        retrain = (policy == "schedule" and (i + 1) % sp.retrain_every == 0) or (policy == "drift" and drift)
        out.append(DayResult(i, data.dates[d], served.version, day_metrics(rows, p), drift, retrain, reasons))
        m = out[-1].metrics
        say(
            f"{policy:>8} day {i} ({data.dates[d]}): v{served.version} ctr@10 {m['ctr@10']:.4f} "
            f"ndcg@10 {m['ndcg@10']:.4f} quality@10 {m['quality@10']:.3f}"
            + (" DRIFT" if drift else "")
            + (" -> retrain" if retrain else "")
        )
        since = (since if since is not None else d) if drift else None
        if retrain:  # on today's clicks, known at the end of the day; serves from tomorrow
            start = d - sp.train_window_days + 1
            if policy == "drift":
                start = max(start, since)
            t0 = time.monotonic()  # the machine time a retrain takes (what a compute hour prices)
            served = refit(start, d, served) or served
            out[-1].retrain_seconds = round(time.monotonic() - t0, 2)
    return out


def summary(results: dict[str, list[DayResult]], p: Params, seconds: float) -> dict:
    """reports/simulate.json: per policy and day, the metrics and the events; the economics
    of each policy against `never` (newsrec.economics)."""
    sp = p.simulate
    out = {
        "scenario": sp.scenario,
        "shock_day": sp.shock_day if sp.scenario != "none" else None,
        "days": sp.days,
        "history_days": sp.history_days,
        "retrain_every": sp.retrain_every,
        "train_window_days": sp.train_window_days,
        "seconds": round(seconds, 1),
        "seconds_per_day": round(seconds / sp.days, 2),
        "policies": {
            name: [
                {
                    "day": r.day,
                    "date": r.date,
                    "model_version": r.model_version,
                    **r.metrics,
                    "drift": r.drift,
                    "retrained": r.retrained,
                    "retrain_seconds": r.retrain_seconds,
                    "reasons": r.reasons,
                }
                for r in days
            ]
            for name, days in results.items()
        },
    }
    out["economics"] = economics(out["policies"], sp.economics)
    return out


RECOVERY = ("ctr@10", "quality@10", "ndcg@10")


def _share(d: dict, m: str) -> float:
    """A day's `m` as a share of what the oracle got on the same readers."""
    return d[m] / d["oracle"][m] if d["oracle"][m] else float("nan")


def recovery(result: dict, policy: str = "drift", tail: int = 2) -> dict:
    """How far each policy gets back: its share of the oracle (each of RECOVERY, and their
    mean) over the `tail` days after `policy`'s first retrained model serves, divided by the
    same share before the shock. Every policy is measured on those same days."""
    days = result["policies"][policy]
    shock = result["shock_day"] or 0
    first = next((d["day"] for d in days if d["day"] > shock and d["model_version"] != days[0]["model_version"]), None)
    if first is None:
        return {"days": [], "policies": {}}
    after = list(range(first, min(first + tail, len(days))))

    out = {}
    for name, ds in result["policies"].items():
        rec = {}
        for m in RECOVERY:
            before = np.mean([_share(d, m) for d in ds if d["day"] < shock])
            rec[m] = float(np.mean([_share(ds[i], m) for i in after]) / before)
        rec["mean"] = float(np.mean([rec[m] for m in RECOVERY]))
        out[name] = rec
    return {"days": [days[i]["date"] for i in after], "policies": out}


def agreement(a: list[dict], b: list[dict]) -> dict:
    """How far two runs of the same days are apart (e.g. `make loop` and the in-process
    simulation of its days): per day, the largest difference of the model's share of the
    oracle over RECOVERY, and the days whose drift verdicts differ."""

    gaps = [max(abs(_share(x, m) - _share(y, m)) for m in RECOVERY) for x, y in zip(a, b, strict=True)]
    return {
        "share_gap": [round(g, 4) for g in gaps],
        "max_share_gap": round(max(gaps, default=0.0), 4),
        "drift_differs": [x["day"] for x, y in zip(a, b, strict=True) if x["drift"] != y["drift"]],
    }
