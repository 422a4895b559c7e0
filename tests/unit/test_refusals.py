"""Expected failures read as one line: the flows' logs drop the traceback of an expected
failure and only of one; a refused contract, a refused first model and an observed value
read as a person would write them."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from flows import QuietExpected, Refused
from newsrec.config import Paths
from newsrec.contracts import Check, CheckResult, summarize
from newsrec.data.io import write_json
from newsrec.gates import Decision


def _logged(exc: Exception) -> logging.LogRecord:
    """The record Prefect's run logger makes of a failed run: the exception attached."""
    try:
        raise exc
    except Exception:
        return logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, "failed: %r", (exc,), sys.exc_info())


@pytest.mark.parametrize(
    "exc, expected",
    [
        (ValueError("newsrec-ranker has no champion yet"), True),
        (Refused("stage validate: the data contract refused the tables"), True),
        (FileNotFoundError("reports/train.json"), True),
        (TimeoutError("no retraining run finished"), True),
        (KeyError("a bug"), False),
        (ZeroDivisionError("a bug"), False),
    ],
)
def test_only_an_expected_failure_loses_its_traceback(exc, expected):
    record = _logged(exc)
    assert QuietExpected().filter(record)  # the line itself always stays
    text = logging.Formatter().format(record)
    assert text.startswith("failed: ") and repr(exc) in text
    assert ("Traceback" not in text) == expected


def test_a_refused_contract_ends_with_its_first_failed_check_and_what_to_do(tmp_path):
    from newsrec.stages.validate import refusal

    line = refusal(Decision(False, ["FAILED news.category: ...", "FAILED impressions.clicked: ..."]), Paths(tmp_path))
    assert line.startswith("the data contract refused the tables: FAILED news.category: ... (and 1 more); ")
    assert "every check is in reports/validate.json and the Data Docs" in line and line.endswith("if the data is right")
    assert "\n" not in line


def test_no_champion_says_why_the_gate_refused_the_model(tmp_path):
    from newsrec.stages.package import no_champion

    paths = Paths(tmp_path)
    assert no_champion("newsrec-ranker", paths) == "newsrec-ranker has no champion yet: run `make promote` first"
    refused = [
        "does not beat popularity on ndcg@10: 0.4855 vs 0.4236 (gain +0.0619, needs > +5.0000)",
        "no champion yet",
    ]
    write_json(
        paths.promote,
        {"model": "newsrec-ranker", "version": "1", "promoted": False, "reasons": refused, "champion": None},
    )
    line = no_champion("newsrec-ranker", paths)
    assert line.startswith(f"newsrec-ranker has no champion: the gate refused v1 ({refused[0]}); see ")
    assert "; see reports/model_card.md, then improve the model" in line and line.endswith("and run `make promote`")
    assert "no champion yet" not in line


def test_an_observed_value_reads_as_a_number():
    check = Check("impressions", "ExpectColumnMeanToBeBetween", {"column": "clicked"}, "CTR is in the plausible band")
    (line,) = summarize([CheckResult(check, False, observed=np.float64(0.08495145631067962))])
    assert (
        line
        == "FAILED impressions.clicked: CTR is in the plausible band [ExpectColumnMeanToBeBetween]: observed 0.08495"
    )
