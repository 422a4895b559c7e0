"""The in-process as-of join, and the join a day per task on Dask, equal Feast's training set
at full size (the default world)."""

from __future__ import annotations

import pytest
from scratch import assert_join_equals_feast, assert_same_training_set, make_project, set_params, sh


@pytest.mark.slow
def test_pandas_and_dask_joins_equal_feast_on_the_default_world(tmp_path):
    """The same on the default world (about 420k candidate rows): rows in == rows out and
    every value equal at full size, not only on the small test world; in one process, and a
    day per task on a Dask LocalCluster (`newsrec trainset`, engine.kind: dask)."""
    import pandas as pd

    proj = make_project(tmp_path / "proj")
    sh(proj, "dvc", "repro", "trainset", timeout=1800)
    assert_join_equals_feast(proj)
    feast = pd.read_parquet(proj / "data" / "trainset" / "trainset.parquet")
    set_params(proj, "engine", kind="dask", workers=2)
    sh(proj, "newsrec", "trainset", timeout=1800)
    assert (proj / "data" / "trainset" / "trainset.parquet").is_dir()
    assert_same_training_set(pd.read_parquet(proj / "data" / "trainset" / "trainset.parquet"), feast)
