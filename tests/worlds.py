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


def scored_log(proj, later_days: int) -> list[str]:
    """The project's training set served again `later_days` days later by its champion: a
    prediction log (each impression a request: the model's inputs, scores and ranks, as the
    service logs them) and its outcomes (the logged clicks), a file per day. The days."""
    import numpy as np
    import pandas as pd
    import pyarrow.dataset as ds

    from newsrec.bootstrap import context
    from newsrec.predlog import write_outcomes
    from newsrec.recommend import score_candidates

    ctx = context(root=proj)
    version = ctx.registry.champion()
    model, meta = ctx.registry.load_model(version)
    rows = ds.dataset(ctx.paths.trainset, format="parquet").to_table().to_pandas()
    rows = rows.sort_values(["impression_id", "news_id"], ignore_index=True)
    groups = rows["impression_id"].to_numpy()
    w = ctx.params.ranking
    engagement, quality, score = score_candidates(
        model, meta["defaults"], rows, groups, w.engagement_weight, w.quality_weight
    )
    t = pd.to_datetime(rows["event_timestamp"], utc=True) + pd.Timedelta(days=later_days)
    log = rows.assign(
        request_id="r" + rows["impression_id"].astype(str),
        request_time=t,
        engagement=engagement,
        quality=quality,
        score=score,
        model_version=str(version),
        fallback=False,
        shown=True,
    ).drop(columns=["clicked", "split", "event_timestamp"])
    log["rank"] = log.groupby("request_id")["score"].rank(ascending=False, method="first").astype(int)
    day = t.dt.strftime("%Y-%m-%d")
    for d, part in log.groupby(day):
        folder = ctx.paths.predictions / f"date={d}"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / "part-0.parquet", index=False)
    write_outcomes(
        ctx.paths.outcomes,
        log[["request_id", "news_id", "request_time"]].assign(clicked=rows["clicked"].astype(np.int8).to_numpy()),
    )
    return sorted(day.unique())
