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
        (["source", "mind", "data/raw/mind"], "which the pipeline rewrites: keep your MIND files elsewhere"),
    ],
)
def test_a_refusal_is_one_line(bare, args, says):
    res = sh(bare, "newsrec", *args, check=False)
    assert res.returncode == 2 and says in res.stderr
    assert "Traceback" not in res.stderr
    assert [line for line in res.stderr.splitlines() if line.startswith("newsrec ")] == [
        next(line for line in res.stderr.splitlines() if says in line)
    ]


def test_make_clean_keeps_logged_traffic_and_your_mind_copy_unless_told(bare):
    import subprocess

    kept = ["data/predictions/date=2026-11-09/part-1.parquet", "data/outcomes/date=2026-11-09/part-1.parquet"]
    kept += ["data/predictions.quarantine/date=2026-11-09/part-2.parquet", "data/raw/mind/train/news.tsv"]
    gone = ["data/canonical/news.parquet", "data/features/users.parquet", "data/raw/sim/world.json", "reports/x.json"]
    for f in kept + gone:
        (bare / f).parent.mkdir(parents=True, exist_ok=True)
        (bare / f).write_text("x")
    make = ["make", "-s", "-C", str(bare), "-f", str(ROOT / "Makefile"), "clean"]
    out = subprocess.run(make, capture_output=True, text=True, check=True).stdout
    assert [f for f in kept if (bare / f).exists()] == kept and not [f for f in gone if (bare / f).exists()]
    assert "make clean ALL=1 removes them" in out
    subprocess.run([*make, "ALL=1"], capture_output=True, text=True, check=True)
    assert not (bare / "data").exists() and not (bare / "reports").exists()
