"""A scratch project trained once per test session: the chain up to the promotion gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from scratch import SMALL_SPLIT, SMALL_TRAIN, SMALL_WORLD, make_project, sh


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory) -> Path:
    proj = make_project(
        tmp_path_factory.mktemp("train") / "proj", world=SMALL_WORLD, trainset=SMALL_SPLIT, train=SMALL_TRAIN
    )
    sh(proj, "dvc", "repro", "promote")
    return proj


@pytest.fixture(scope="session")
def prefect():
    """Prefect's test harness: one temporary API server for the whole test session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
