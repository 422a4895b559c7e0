"""The `features` and `trainset` stages on a real Dask LocalCluster (engine.kind: dask) write
the same tables as in one process and as Feast, and a scheduler that cannot be reached is
one line at the door."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from scratch import assert_same_training_set, make_project, set_params, sh
from worlds import served_again

from newsrec.procs import free_port

TABLES = ("users", "news_meta", "news_stats")


# its tests share the module's project: one worker builds it once (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("engine")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    proj = make_project(
        tmp_path_factory.mktemp("engine") / "proj",
        world={"n_users": 300, "n_articles": 300, "impressions_per_day": 200, "days": 9, "backlog_days": 1},
        train={"max_iter": 100},
    )
    for stage in ("world", "ingest", "validate"):
        sh(proj, "newsrec", stage)
    return proj


def _tables(proj) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(proj / "data" / "features" / f"{t}.parquet") for t in TABLES}


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(lambda c: c.map(tuple) if c.dtype == object and len(c) and hasattr(c.iloc[0], "__len__") else c)


def test_features_on_a_dask_local_cluster_are_the_single_process_rows(ingested):
    set_params(ingested, "engine", kind="pandas")
    sh(ingested, "newsrec", "features")
    alone = _tables(ingested)
    set_params(ingested, "engine", kind="dask", workers=2)
    res = sh(ingested, "newsrec", "features")
    assert "Dask LocalCluster: 2 worker processes" in res.stderr + res.stdout
    assert "days of feature rows built" in res.stderr + res.stdout
    parts = _tables(ingested)
    assert len(alone["users"]) > 1000 and alone["users"]["event_timestamp"].dt.normalize().nunique() >= 9
    for t in TABLES:
        pd.testing.assert_frame_equal(_plain(parts[t]), _plain(alone[t]))


def test_a_dask_scheduler_that_cannot_be_reached_is_one_line(ingested):
    set_params(ingested, "engine", kind="dask", connect_seconds=2)
    address = f"tcp://127.0.0.1:{free_port()}"
    res = sh(ingested, "newsrec", "features", check=False, NEWSREC_DASK_SCHEDULER=address)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert lines[-1].startswith("newsrec features: error: the Dask scheduler at " + address), res.stderr[-2000:]
    assert "cannot be reached" in lines[-1] and "Traceback" not in res.stderr


def test_the_training_set_on_a_dask_local_cluster_is_feasts_value_for_value(ingested):
    """The point-in-time join a day per task (engine.kind: dask) against Feast's
    get_historical_features (the pipeline's contract) on the same feature tables."""
    set_params(ingested, "engine", kind="pandas")
    for stage in ("features", "feast", "trainset"):
        sh(ingested, "newsrec", stage)
    feast = pd.read_parquet(ingested / "data" / "trainset" / "trainset.parquet")
    set_params(ingested, "engine", kind="dask", workers=2)
    res = sh(ingested, "newsrec", "trainset")
    assert "parts of entity rows joined and written" in res.stderr + res.stdout
    folder = ingested / "data" / "trainset" / "trainset.parquet"
    assert folder.is_dir() and len(list(folder.glob("part-*.parquet"))) >= 9  # written by the day tasks
    ours = pd.read_parquet(folder)
    assert_same_training_set(ours, feast)
    set_params(ingested, "engine", kind="dask", workers=2, join_hours=6)  # smaller tasks, the same rows
    sh(ingested, "newsrec", "trainset")
    assert len(list(folder.glob("part-*.parquet"))) >= 30
    pd.testing.assert_frame_equal(pd.read_parquet(folder), ours)
    set_params(ingested, "engine", join_hours=24)


def test_the_test_days_scored_on_a_dask_local_cluster_give_the_same_metrics(ingested):
    """`evaluate` scores the test days a day per task (engine.kind: dask): every metric of
    every ranker, and realised engagement and quality, as in one process."""
    import json

    set_params(ingested, "engine", kind="pandas")
    for stage in ("features", "feast", "trainset", "train", "evaluate"):
        sh(ingested, "newsrec", stage)
    alone = [json.loads((ingested / "reports" / f).read_text()) for f in ("metrics.json", "evaluate.json")]
    set_params(ingested, "engine", kind="dask", workers=2)
    res = sh(ingested, "newsrec", "evaluate")
    assert "test days scored" in res.stderr + res.stdout
    parts = [json.loads((ingested / "reports" / f).read_text()) for f in ("metrics.json", "evaluate.json")]
    assert parts == alone and alone[0]["model"]["ndcg@10"] > alone[0]["random"]["ndcg@10"]


def test_training_downsampled_as_read_and_evaluation_run_on_the_day_parts(ingested):
    """`train` reads the folder of day parts with train.negative_rate < 1 (every click, a
    share of the rest, as read) and `evaluate` scores its test days on the cluster."""
    import json

    set_params(ingested, "engine", kind="dask", workers=2)
    set_params(ingested, "train", negative_rate=0.5)
    for stage in ("features", "feast", "trainset"):
        sh(ingested, "newsrec", stage)
    assert (ingested / "data" / "trainset" / "trainset.parquet").is_dir()
    res = sh(ingested, "newsrec", "train")
    assert "(every click, 50% of the rest: train.negative_rate)" in res.stderr + res.stdout
    sh(ingested, "newsrec", "evaluate")
    metrics = json.loads((ingested / "reports" / "metrics.json").read_text())
    assert metrics["model"]["ndcg@10"] > metrics["random"]["ndcg@10"]


def test_served_days_collected_on_a_dask_local_cluster_are_the_single_process_tables(ingested):
    """`collect` a day of requests per task (engine.kind: dask): the collected tables of one process."""
    imps = pd.read_parquet(ingested / "data" / "canonical" / "impressions.parquet")
    log, out = served_again(imps, every=20, days=5)  # impressions spread over the days, served again later
    t = log["request_time"]
    for name, frame in (("predictions", log), ("outcomes", out)):
        for day, rows in frame.groupby(t.dt.strftime("%Y-%m-%d")):
            folder = ingested / "data" / name / f"date={day}"
            folder.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(folder / "part-0.parquet", index=False)
    set_params(ingested, "engine", kind="pandas")
    sh(ingested, "newsrec", "collect")
    names = ("news", "impressions", "histories", "feedback")
    alone = {n: pd.read_parquet(ingested / "data" / "collected" / f"{n}.parquet") for n in names}
    set_params(ingested, "engine", kind="dask", workers=2)
    res = sh(ingested, "newsrec", "collect")
    assert "served days collected" in res.stderr + res.stdout
    assert alone["impressions"]["time"].dt.floor("D").nunique() >= 8 and len(alone["impressions"]) > 1000
    for n in names:
        pd.testing.assert_frame_equal(
            _plain(pd.read_parquet(ingested / "data" / "collected" / f"{n}.parquet")), _plain(alone[n])
        )


def _verdicts(proj) -> tuple[bool, list[dict]]:
    import json

    got = json.loads((proj / "reports" / "validate.json").read_text())
    return got["ok"], [
        {k: r[k] for k in ("table", "expectation", "column", "success", "unexpected_count", "examples", "error")}
        | {k: round(r[k], 6) if isinstance(r[k], float) else r[k] for k in ("unexpected_percent", "observed")}
        for r in got["results"]
    ]


@pytest.mark.parametrize("broken", [False, True])
def test_the_contract_a_row_group_per_task_gives_the_verdicts_of_the_whole_tables(ingested, broken):
    """`validate` on Dask checks impressions and histories a row group per task and merges
    the results (contracts.merge): every check's verdict, counts, share, observed value and
    examples as on the whole tables, when the data passes and when it fails."""
    params = yaml.safe_load((ingested / "params.yaml").read_text())
    saved = yaml.safe_dump(params, sort_keys=False)
    if broken:  # the expected range starts 2 days late, and the CTR band is below the data's
        params["world"]["start"] = "2026-11-04T00:00:00Z"
        params["validate"]["ctr_max"] = 0.02
    params["ingest"]["chunk_lines"] = 97  # many row groups
    (ingested / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        sh(ingested, "newsrec", "ingest")
        set_params(ingested, "engine", kind="pandas")
        sh(ingested, "newsrec", "validate", check=False)
        alone = _verdicts(ingested)
        set_params(ingested, "engine", kind="dask", workers=2)
        res = sh(ingested, "newsrec", "validate", check=False)
        assert "row groups checked" in res.stderr + res.stdout
        assert _verdicts(ingested) == alone
        assert alone[0] is not broken
        if broken:
            failed = {(r["table"], r["expectation"]) for r in alone[1] if not r["success"]}
            assert ("impressions", "ExpectColumnValuesToBeBetween") in failed
            assert ("impressions", "ExpectColumnMeanToBeBetween") in failed
            assert res.returncode != 0 and "Traceback" not in res.stderr
    finally:
        (ingested / "params.yaml").write_text(saved)
        sh(ingested, "newsrec", "ingest")
