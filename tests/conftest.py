"""Shared fixtures: a tiny simulated world, a tiny MIND directory, their canonical tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from mind_fixture import write_mind
from worlds import tiny_world

from newsrec.config import Params, World

ROOT = Path(__file__).resolve().parents[1]

# The test files that share the session's trained project (tests/integration/conftest.py).
# Under pytest-xdist they run on one worker, in file order, so the project is trained once and
# its model history is theirs alone; every other test is scheduled on its own.
TRAINED_PROJECT_FILES = ("tests/integration/test_service_http.py", "tests/integration/test_training.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    # xdist's own `--dist loadgroup` does not group under pytest 9.2 (it renames a node id
    # through an attribute pytest no longer reads), so the grouping is a scheduler of ours.
    from xdist.scheduler import LoadScopeScheduling

    class TrainedProjectScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "trained_project" if nodeid.split("::")[0] in TRAINED_PROJECT_FILES else nodeid

    return TrainedProjectScheduling(config, log)


def pytest_collection_modifyitems(items):
    stray = [
        i.nodeid
        for i in items
        if "trained_project" in getattr(i, "fixturenames", ()) and i.nodeid.split("::")[0] not in TRAINED_PROJECT_FILES
    ]
    if stray:
        raise pytest.UsageError(
            f"{stray[0]} uses trained_project: add its file to TRAINED_PROJECT_FILES in tests/conftest.py"
        )


@pytest.fixture(scope="session")
def world_params() -> World:
    return tiny_world()


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory, world_params) -> Path:
    from newsrec.data.simulator import simulate

    out = tmp_path_factory.mktemp("sim") / "sim"
    simulate(world_params, out)
    return out


@pytest.fixture(scope="session")
def sim_canonical(tmp_path_factory, sim_dir) -> Path:
    from newsrec.data.canonical import ingest_dir

    out = tmp_path_factory.mktemp("canon") / "canonical"
    ingest_dir(sim_dir, out)
    return out


@pytest.fixture(scope="session")
def sim_params(world_params) -> Params:
    return Params(world=world_params)


@pytest.fixture()
def mind_dir(tmp_path) -> Path:
    return write_mind(tmp_path / "mind")
