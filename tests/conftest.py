"""Shared fixtures: a tiny simulated world, a tiny MIND directory, their canonical tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from mind_fixture import write_mind
from worlds import tiny_world

from newsrec.config import Params, World

ROOT = Path(__file__).resolve().parents[1]


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
