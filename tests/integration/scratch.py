"""A scratch copy of the project in a temporary folder, and a runner for its commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def env_for(cwd: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NEWSREC_ROOT": str(cwd), **extra}


def sh(cwd: Path, *args: str, check: bool = True, timeout: int = 900, **extra: str) -> subprocess.CompletedProcess:
    env = env_for(cwd, **extra)
    res = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{args} exited {res.returncode}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def make_project(dest: Path, **sections) -> Path:
    """Copy what the pipeline needs; `sections` update params.yaml (e.g. world={...})."""
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "feature_repo", dest / "feature_repo", ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / f, dest / f)
    shutil.copytree(ROOT / ".dvc", dest / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, values in sections.items():
        params[key].update(values)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(dest, "git", "init", "-q")
    return dest


def assert_join_equals_feast(project: Path) -> None:
    """The in-process join of a project's feature tables gives its Feast training set, row for row."""
    import numpy as np
    import pandas as pd

    from newsrec.features.join import as_of
    from newsrec.features.spec import MODEL_FEATURES, VIEWS

    feast = pd.read_parquet(project / "data/trainset/trainset.parquet")
    tables = {v.table: pd.read_parquet(project / "data/features" / f"{v.table}.parquet") for v in VIEWS}
    ent = feast[["impression_id", "user_id", "news_id", "event_timestamp", "clicked"]].assign(
        request_time=feast["event_timestamp"].astype("int64") / 1e6
    )
    ours = as_of(ent, tables)
    assert len(ours) == len(feast) and (ours["news_id"].to_numpy() == feast["news_id"].to_numpy()).all()
    for c in MODEL_FEATURES:
        a, b = ours[c].to_numpy(np.float64, na_value=np.nan), feast[c].to_numpy(np.float64, na_value=np.nan)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=c)


METRIC_KEYS = {"auc", "mrr", "ndcg@5", "ndcg@10"}  # each ranker's entry in reports/metrics.json
TINY_WORLD = dict(n_users=300, n_articles=300, impressions_per_day=200, days=3, backlog_days=1)
SMALL_WORLD = dict(n_users=600, n_articles=500, impressions_per_day=500, days=5, backlog_days=1)
SMALL_SPLIT = dict(train_days=3, valid_days=1, test_days=1)
SMALL_TRAIN = dict(max_iter=100)
