"""Per-day work as Prefect tasks on Prefect's DaskTaskRunner (flows.on_engine, a real
LocalCluster of 2 workers): the monitor flow judging every day from a first one gives each
night's decision of one process, and the collect flow writes the tables `dvc repro` writes,
which the pipeline flow then records in dvc.lock as `dvc repro` does."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from scratch import SMALL_SPLIT, SMALL_TRAIN, SMALL_WORLD, make_project, set_params, sh
from worlds import scored_log

# its tests share the module's project: one worker builds it once (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("days_on_dask")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A trained project whose training set its champion serves again 10 days later: five
    logged days, with outcomes."""
    proj = make_project(
        tmp_path_factory.mktemp("days") / "proj", world=SMALL_WORLD, trainset=SMALL_SPLIT, train=SMALL_TRAIN
    )
    sh(proj, "dvc", "repro", "promote")
    return proj, scored_log(proj, 10)


def _rounded(x):
    """Floats to 10 significant digits, in nested dicts too: a worker's BLAS (one thread) and a
    normal process's add in another order."""
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return float(f"{x:.10g}") if isinstance(x, float) else x


def _task_runs(prefix: str) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as c:
        runs = c.read_task_runs(  # Prefect 3.8's server refuses a null sort or limit
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=prefix)), sort=TaskRunSort.NAME_ASC, limit=200
        )
    return {r.name: r.state.type.value for r in runs}


def test_every_day_judged_as_a_task_on_dask_is_that_nights_decision(served, prefect, monkeypatch):
    from flows import on_engine
    from flows.monitor import monitor
    from newsrec.bootstrap import context
    from newsrec.stages.monitor import monitor as monitor_stage

    proj, days = served
    monkeypatch.setenv("NEWSREC_ROOT", str(proj))
    history = proj / "reports" / "monitor" / "decisions.jsonl"
    ctx = context(root=proj)
    for d in days:  # each night in its turn, in one process (this one: the CLI's stage, without its start-up)
        monitor_stage(ctx.params, ctx.paths, ctx.registry, d, say=lambda m: None)
    nights = [json.loads(x) for x in history.read_text().splitlines()]
    history.unlink()
    set_params(proj, "engine", kind="dask", workers=2)
    on_dask = on_engine(monitor)
    assert type(on_dask.task_runner).__name__ == "DaskTaskRunner"
    out = on_dask(first=days[0], end=days[-1], retrain="off")
    judged = [json.loads(x) for x in history.read_text().splitlines()]
    assert len(judged) == len(nights) == len(days) >= 4
    for night, day in zip(nights, judged, strict=True):
        summary = lambda d: json.loads(open(d.pop("summary")).read())  # noqa: E731
        a, b = summary(night), summary(day)
        assert day == night  # window, verdict, reasons, version, the drift's first day, losses
        for k in ("rows", "feature_drift", "score_drift", "performance"):  # to the last bits of BLAS
            assert _rounded(a[k]) == _rounded(b[k]), k
    assert out["window"] == [days[-1]] and out["status"] == "judged"
    runs = _task_runs("monitor-day-")
    assert all(runs.get(f"monitor-day-{d}") == "COMPLETED" for d in days), runs
    history.unlink()
    set_params(proj, "engine", kind="pandas")
    res = sh(proj, "newsrec", "monitor", "--from", days[0], "--end", days[-1])  # the CLI, one process
    assert f"{len(days)} day(s) {days[0]}..{days[-1]} judged" in res.stderr
    again = [json.loads(x) for x in history.read_text().splitlines()]
    bad = sh(proj, "newsrec", "monitor", "--from", "yesterday", check=False)  # not a day: one line
    assert bad.returncode == 2 and "not a day: give YYYY-MM-DD" in bad.stderr and "Traceback" not in bad.stderr
    assert [{**d, "summary": None} for d in again] == [{**d, "summary": None} for d in judged]


def test_the_days_collected_as_tasks_on_dask_are_what_dvc_repro_writes_and_records(served, prefect, monkeypatch):
    from flows import on_engine
    from flows.collect import collect
    from flows.pipeline import committed

    proj, days = served
    monkeypatch.setenv("NEWSREC_ROOT", str(proj))
    lock = lambda: yaml.safe_load((proj / "dvc.lock").read_text())["stages"]["collect"]  # noqa: E731
    folder = proj / "data" / "collected"
    sh(proj, "dvc", "repro", "--single-item", "collect")  # one process, through DVC
    alone, files = lock(), {f.name: f.read_bytes() for f in folder.iterdir()}
    shutil.rmtree(folder)
    set_params(proj, "engine", kind="dask", workers=2)
    got = on_engine(collect)()
    assert got["days"] == days and got["impressions"] > 1000
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == files  # byte for byte
    runs = _task_runs("collect-day-")
    assert all(runs.get(f"collect-day-{d}") == "COMPLETED" for d in days), runs
    lockfile = yaml.safe_load((proj / "dvc.lock").read_text())
    del lockfile["stages"]["collect"]  # the pipeline flow's record of the step, from nothing
    (proj / "dvc.lock").write_text(yaml.safe_dump(lockfile))
    assert committed("collect") == "ran"
    assert lock()["outs"] == alone["outs"] and lock()["deps"] == alone["deps"]
    set_params(proj, "engine", kind="pandas")
