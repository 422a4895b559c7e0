"""Expected failures at the CLI print one line that says why and what to do, exit
non-zero, and show no traceback: a project with no registered model yet."""

from __future__ import annotations

import shutil

import pytest
from scratch import ROOT, sh


@pytest.fixture()
def bare(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


@pytest.mark.parametrize(
    "args, says",
    [
        (["rollback"], "no previous champion to roll back to"),
        (["package", "--no-build"], "has no champion yet: run `make promote` first"),
        (["source", "mind"], "SOURCE=mind needs MIND_DIR="),
    ],
)
def test_a_refusal_is_one_line(bare, args, says):
    res = sh(bare, "newsrec", *args, check=False)
    assert res.returncode == 2 and says in res.stderr
    assert "Traceback" not in res.stderr
    assert [line for line in res.stderr.splitlines() if line.startswith("newsrec ")] == [
        next(line for line in res.stderr.splitlines() if says in line)
    ]
