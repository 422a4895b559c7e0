"""The in-process as-of join equals Feast's training set at full size (the default world)."""

from __future__ import annotations

import pytest
from scratch import assert_join_equals_feast, make_project, sh


@pytest.mark.slow
def test_pandas_join_equals_feast_on_the_default_world(tmp_path):
    """The same on the default world (about 420k candidate rows): rows in == rows out and
    every value equal at full size, not only on the small test world."""
    proj = make_project(tmp_path / "proj")
    sh(proj, "dvc", "repro", "trainset", timeout=1800)
    assert_join_equals_feast(proj)
