"""Expected failures read as one line: the flows' logs drop the traceback of an expected
failure and only of one; a refused contract and an observed value read as a person would
write them."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from flows import QuietExpected, Refused
from newsrec.config import Paths
from newsrec.contracts import Check, CheckResult, summarize
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


def test_an_observed_value_reads_as_a_number():
    check = Check("impressions", "ExpectColumnMeanToBeBetween", {"column": "clicked"}, "CTR is in the plausible band")
    (line,) = summarize([CheckResult(check, False, observed=np.float64(0.08495145631067962))])
    assert (
        line
        == "FAILED impressions.clicked: CTR is in the plausible band [ExpectColumnMeanToBeBetween]: observed 0.08495"
    )
