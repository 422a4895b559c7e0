"""A scratch project trained once per test session: the chain up to the promotion gate."""
from __future__ import annotations

from pathlib import Path

import pytest
from scratch import SMALL_TRAIN, SMALL_WORLD, make_project, sh


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Path:
    proj = make_project(tmp_path_factory.mktemp("train") / "proj", world=SMALL_WORLD, train=SMALL_TRAIN)
    sh(proj, "dvc", "repro", "promote")
    return proj
