"""The DVC pipeline end to end in a scratch copy of the project: world -> ingest -> collect -> validate,
a no-op second run, the MIND source, and corrupt input stopping it with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mind_fixture import write_mind
from scratch import TINY_WORLD, make_project, sh


@pytest.fixture()
def project(tmp_path) -> Path:
    return make_project(tmp_path / "proj", world=TINY_WORLD)


def test_sim_pipeline_is_reproducible_and_skips_when_unchanged(project):
    first = sh(project, "dvc", "repro", "validate")
    assert "Running stage 'world'" in first.stdout and "Running stage 'validate'" in first.stdout
    assert "checks passed" in first.stderr
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"world", "ingest", "collect", "validate"}
    assert lock["stages"]["ingest"]["params"]["params.yaml"]["ingest"]["source"] == "sim"
    second = sh(project, "dvc", "repro", "validate")
    # only collect runs again (the served traffic is a stream); it found none, so nothing after it runs
    ran = {line.split("'")[1] for line in second.stdout.splitlines() if line.startswith("Running stage")}
    assert ran == {"collect"}, second.stdout
    sh(project, "dvc", "push", "-q")
    assert any((project / "dvc-remote").rglob("*"))
    status = sh(project, "git", "status", "--porcelain", "--ignored", "data").stdout
    assert "!! data/" in status  # data stays out of git


def test_mind_source_then_corrupt_input(project, tmp_path):
    mind = write_mind(tmp_path / "MIND")
    sh(project, "newsrec", "source", "mind", str(mind))
    assert "source: mind" in (project / "params.yaml").read_text()
    run = sh(project, "dvc", "repro", "validate")
    assert "Running stage 'world'" not in run.stdout  # the simulator is not upstream of real data
    assert "{'train': 30, 'dev': 30, 'test': 30}" in run.stderr
    # a malformed line: stops at ingest with file and line, validate does not run
    f = project / "data/raw/mind/dev/behaviors.tsv"
    f.write_text(f.read_text() + "31\tU1\tyesterday\t\tN1000-1\n")
    bad = sh(project, "dvc", "repro", "validate", check=False)
    assert bad.returncode != 0
    assert "dev/behaviors.tsv: line 31: time 'yesterday'" in bad.stderr
    assert "fix the line in your MIND files" in bad.stderr and "Traceback" not in bad.stderr
    assert "Running stage 'validate'" not in bad.stdout


def test_failed_contract_stops_the_pipeline(project, tmp_path):
    mind = write_mind(tmp_path / "MIND")
    for news in mind.rglob("news.tsv"):  # unknown categories: the contract must refuse them
        news.write_text(news.read_text().replace("\tsports\t", "\tastrology\t"))
    sh(project, "newsrec", "source", "mind", str(mind))
    bad = sh(project, "dvc", "repro", "promote", check=False)  # what `make demo` asks for
    assert bad.returncode != 0
    assert "Running stage 'validate'" in bad.stdout and "Running stage 'features'" not in bad.stdout
    assert not (project / "data/features").exists()
    assert "FAILED news.category: every category is a known one" in bad.stderr
    assert "astrology" in bad.stderr
    assert (project / "reports/data_docs/index.html").exists()


def test_a_code_change_makes_exactly_the_stages_that_run_it_stale(project):
    """dvc.yaml's code deps at work: editing the contracts makes validate (and features,
    which builds its category layout from them) stale, not world or ingest."""
    sh(project, "dvc", "repro", "validate")
    contracts = project / "src/newsrec/contracts.py"
    contracts.write_text(contracts.read_text() + "\n# an edit\n")
    status = sh(project, "dvc", "status").stdout
    stale = {line.strip().rstrip(":") for line in status.splitlines() if line and not line.startswith("\t")}
    assert {"validate", "features"} <= stale, status
    assert not {"world", "ingest"} & stale, status
