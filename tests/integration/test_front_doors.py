"""Expected failures print one line that says why and what to do, exit non-zero, and show
no traceback, through every front door: the CLI (a project with no registered model yet),
make and the Prefect flows (a refused contract, no champion after the gate refused the first
model)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from mind_fixture import write_mind
from scratch import ROOT, env_for, make_project, sh


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


def prefect_env(tmp_path) -> dict[str, str]:
    """A flow run as `python -m flows.<name>` starts Prefect's temporary server: its own home,
    the start-up time `make` gives it, no telemetry."""
    return {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def make(proj, target: str, **extra: str) -> subprocess.CompletedProcess:
    """`make <target>` in a scratch project, with this environment (no `make install`)."""
    cmd = ["make", "-C", str(proj), "-f", str(ROOT / "Makefile"), "-o", "install", target]
    return subprocess.run(cmd, env=env_for(proj, **extra), capture_output=True, text=True, timeout=900)


def reason(res: subprocess.CompletedProcess, code: int, starts: str) -> str:
    """The one line an expected failure ends with (before make's own), after no traceback."""
    out = res.stdout + res.stderr
    assert res.returncode == code and "Traceback" not in out, out[-4000:]
    # make's own lines: `make:`, or `make[1]:` when the tests run under `make test`
    lines = [line for line in res.stderr.splitlines() if line.strip() and not re.match(r"make(\[\d+\])?: ", line)]
    assert lines[-1].startswith(starts), out[-4000:]
    assert sum(line.startswith(starts.split(": ")[0] + ": error: ") for line in lines) == 1, out[-4000:]
    return lines[-1]


def test_the_pipeline_flow_reports_the_failed_stage_s_own_line():
    from flows.pipeline import why

    out = (
        "Running stage 'validate':\n> newsrec validate\n[validate 5.3s] FAILED impressions.clicked: CTR ...\n"
        "newsrec validate: error: the data contract refused the tables: FAILED impressions.clicked: CTR ...\n"
        "ERROR: failed to reproduce 'validate': failed to run: newsrec validate, exited with 1\n"
    )
    assert why("validate", out, 255) == (
        "stage validate: the data contract refused the tables: FAILED impressions.clicked: CTR ... "
        "(nothing after it ran)"
    )
    crashed = "Traceback (most recent call last):\nKeyError: 'x'\nERROR: failed to reproduce 'train'\n"
    assert why("train", crashed, 255) == (
        "stage train: its command exited 255; its output above says why (nothing after it ran)"
    )


def test_a_refused_contract_ends_the_pipeline_flow_in_one_line(tmp_path):
    """`make pipeline` on data the contract refuses: the stage's own line (`newsrec validate`
    exits 1), then the flow's, last; no traceback."""
    proj = make_project(tmp_path / "proj", validate={"ctr_min": 0.9})  # no CTR reaches 90%: refused
    sh(proj, "newsrec", "source", "mind", str(write_mind(tmp_path / "MIND")))  # no world to simulate
    res = make(proj, "pipeline", **prefect_env(tmp_path))
    refused = "the data contract refused the tables: FAILED impressions.clicked: CTR is in the plausible band"
    line = reason(res, 2, f"pipeline: error: stage validate: {refused}")
    assert line.endswith("if the data is right (nothing after it ran)")
    assert f"newsrec validate: error: {refused}" in res.stderr and "newsrec validate, exited with 1" in res.stderr


def test_no_champion_after_the_gate_refused_the_first_model_is_one_line(bare, tmp_path):
    """What `make demo` ends with when the gate refuses the first model: its deploy step is
    `make deploy`'s command."""
    why = "does not beat popularity on ndcg@10: 0.4855 vs 0.4236 (gain +0.0619, needs > +5.0000)"
    (bare / "reports").mkdir()
    promoted = {"model": "newsrec-ranker", "version": "1", "promoted": False, "reasons": [why, "no champion yet"]}
    (bare / "reports/promote.json").write_text(json.dumps(promoted | {"champion": None}))
    says = f"newsrec-ranker has no champion: the gate refused v1 ({why}); see reports/model_card.md"
    reason(make(bare, "deploy", **prefect_env(tmp_path)), 2, f"deploy: error: {says}")
