"""What makes a training unique: the bytes of its data, its parameters and the model code."""

import hashlib
import json

from newsrec.lineage import dvc_hashes, training_key


def test_training_key_is_the_sha256_of_data_params_and_code(tmp_path):
    data, code = tmp_path / "trainset.parquet", tmp_path / "model.py"
    data.write_bytes(b"rows")
    code.write_bytes(b"def fit(): ...")
    params = {"seed": 7, "lr": 0.08}
    expected = hashlib.sha256(b"rows" + json.dumps(params, sort_keys=True).encode() + b"def fit(): ...").hexdigest()
    assert training_key(data, params, code) == expected
    assert training_key(data, {"lr": 0.08, "seed": 7}, code) == expected  # key order does not matter


def test_training_key_changes_with_each_input(tmp_path):
    data, code = tmp_path / "d", tmp_path / "c.py"
    data.write_bytes(b"rows")
    code.write_bytes(b"v1")
    base = training_key(data, {"seed": 7}, code)
    assert training_key(data, {"seed": 8}, code) != base
    code.write_bytes(b"v2")
    assert training_key(data, {"seed": 7}, code) != base
    code.write_bytes(b"v1")
    data.write_bytes(b"rows!")
    assert training_key(data, {"seed": 7}, code) != base


def test_dvc_hashes_read_the_lock(tmp_path):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  ingest:\n    outs:\n    - path: data/canonical\n      md5: abc.dir\n"
    )
    assert dvc_hashes(tmp_path, ["data/canonical", "data/features"]) == {
        "data/canonical": "abc.dir",
        "data/features": "",
    }
    assert dvc_hashes(tmp_path / "nowhere", ["x"]) == {"x": ""}
