from pathlib import Path

import pytest

from newsrec.config import ConfigError, Params, load_params
from newsrec.params_file import set_value

ROOT = Path(__file__).resolve().parents[2]


def test_project_params_load_and_match_defaults():
    p = load_params(ROOT / "params.yaml")
    assert p == Params()  # params.yaml documents the defaults; they must agree
    assert p.world.start.tzinfo is not None


def _write(tmp_path, text):
    f = tmp_path / "params.yaml"
    f.write_text(text)
    return f


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"world\.n_usres: unknown key"):
        load_params(_write(tmp_path, "world:\n  n_usres: 10\n"))


def test_unknown_stage_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"^params.yaml: trian: unknown key"):
        load_params(_write(tmp_path, "trian:\n  x: 1\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"world\.click_model\.base: .*valid number.*got 'high'"):
        load_params(_write(tmp_path, "world:\n  click_model:\n    base: high\n"))


def test_bad_choice_and_range(tmp_path):
    with pytest.raises(ConfigError, match=r"ingest\.source"):
        load_params(_write(tmp_path, "ingest:\n  source: kaggle\n"))
    with pytest.raises(ConfigError, match=r"validate\.ctr_max"):
        load_params(_write(tmp_path, "validate:\n  ctr_max: 2\n"))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(_write(tmp_path, "world: [\n"))


def test_set_value_keeps_comments(tmp_path):
    f = _write(
        tmp_path, "# top\ningest:  # stage\n  source: sim   # sim | mind\n  chunk_lines: 5\nother:\n  source: x\n"
    )
    set_value(f, "ingest", "source", "mind")
    assert (
        f.read_text()
        == "# top\ningest:  # stage\n  source: mind   # sim | mind\n  chunk_lines: 5\nother:\n  source: x\n"
    )
    with pytest.raises(KeyError):
        set_value(f, "ingest", "nothing", "1")


def test_the_smaller_configuration_overrides_only_hyperparameters(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.smaller\.max_leafs: unknown key"):
        load_params(_write(tmp_path, "train:\n  smaller:\n    max_leafs: 7\n"))
    with pytest.raises(ConfigError, match=r"train\.smaller: .*negative_rate: the same for both configurations"):
        load_params(_write(tmp_path, "train:\n  smaller:\n    negative_rate: 0.5\n"))
    with pytest.raises(ConfigError, match=r"train\.smaller\.max_iter: .*greater than or equal to 1"):
        load_params(_write(tmp_path, "train:\n  smaller:\n    max_iter: 0\n"))
    t = load_params(_write(tmp_path, "train:\n  max_iter: 200\n  smaller:\n    max_leaf_nodes: 7\n")).train
    assert t.smaller.overrides() == {"max_leaf_nodes": 7}
    assert (t.smaller_train().max_iter, t.smaller_train().max_leaf_nodes) == (200, 7)  # unset: the full one's
