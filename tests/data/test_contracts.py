"""Every data-contract check passes on good data and fails on a table corrupted for it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from newsrec import contracts
from newsrec.data.canonical import read_table
from newsrec.data.schema import TABLES
from newsrec.gates import validation_decision

gx = pytest.importorskip("newsrec.adapters.gx")


@pytest.fixture(scope="module")
def clean(sim_canonical):
    return {n: read_table(sim_canonical / f"{n}.parquet") for n in TABLES}


def run(tables, params, only=None, docs=None):
    checks = [c for c in contracts.checks(params) if only is None or c.table in only]
    return gx.run_checks(contracts.views(tables), checks, docs)


def failed(results):
    return {(r.check.table, r.check.expectation, r.check.column) for r in results if not r.success}


def test_clean_tables_pass_and_data_docs_are_written(clean, sim_params, tmp_path):
    results = run(clean, sim_params, docs=tmp_path / "docs")
    assert len(results) == len(contracts.checks(sim_params)) and not failed(results)
    assert validation_decision(results).ok
    assert (tmp_path / "docs" / "index.html").exists()


def _set(table, col, value, rows=slice(0, 3)):
    def f(t):
        df = t[table]
        df[col] = df[col].astype(object)
        df.loc[df.index[rows], col] = value

    return f


def _tz(table):
    def f(t):
        t[table]["time"] = t[table]["time"].dt.tz_convert("Europe/Paris")

    return f


def _shift(table):
    def f(t):
        t[table].loc[t[table].index[:3], "time"] += pd.Timedelta(days=400)

    return f


def _unknown(table, col, frac=0.05):
    def f(t):
        df = t[table]
        n = max(1, int(len(df) * frac))
        if col == "history":
            df[col] = [list(h) + ["N999999"] * 3 for h in df[col]]
        else:
            df.loc[df.index[:n], col] = "N999999"

    return f


def _drop(table, col):
    def f(t):
        t[table] = t[table].drop(columns=[col])

    return f


def _empty(table):
    def f(t):
        t[table] = t[table].iloc[0:0]

    return f


def _dup(table, col):
    def f(t):
        t[table].loc[t[table].index[1], col] = t[table][col].iloc[0]

    return f


def _all(table, col, value):
    def f(t):
        t[table][col] = t[table][col].where(t[table][col].isna(), value)

    return f


N, I, H, F = "news", "impressions", "histories", "feedback"
CASES = {
    "news columns": (_drop(N, "abstract"), [(N, "ExpectTableColumnsToMatchOrderedList", None)]),
    "impressions columns": (_drop(I, "position"), [(I, "ExpectTableColumnsToMatchOrderedList", None)]),
    "histories columns": (_drop(H, "n_clicks"), [(H, "ExpectTableColumnsToMatchOrderedList", None)]),
    "feedback columns": (_drop(F, "rating"), [(F, "ExpectTableColumnsToMatchOrderedList", None)]),
    "duplicate news id": (_dup(N, "news_id"), [(N, "ExpectColumnValuesToBeUnique", "news_id")]),
    "duplicate impression id": (_dup(H, "impression_id"), [(H, "ExpectColumnValuesToBeUnique", "impression_id")]),
    "unknown category": (_set(N, "category", "astrology"), [(N, "ExpectColumnValuesToBeInSet", "category")]),
    "no impressions": (_empty(I), [(I, "ExpectTableRowCountToBeBetween", None)]),
    "label outside 0/1": (_set(I, "clicked", 2), [(I, "ExpectColumnValuesToBeInSet", "clicked")]),
    "CTR too high": (_all(I, "clicked", 1), [(I, "ExpectColumnMeanToBeBetween", "clicked")]),
    "CTR zero": (_all(I, "clicked", 0), [(I, "ExpectColumnMeanToBeBetween", "clicked")]),
    "unknown candidate ids": (_unknown(I, "news_id"), [(I, "ExpectColumnValuesToBeNull", "unknown_news_id")]),
    "unknown history ids": (_unknown(H, "history"), [("history_ids", "ExpectColumnValuesToBeNull", "unknown_news_id")]),
    "impression without candidates": (
        _set(H, "n_candidates", 0),
        [(H, "ExpectColumnValuesToBeBetween", "n_candidates")],
    ),
    "labeled impression without click": (_set(H, "n_clicks", 0), [(H, "ExpectColumnValuesToBeBetween", "n_clicks")]),
    "rating out of range": (_set(F, "rating", 9), [(F, "ExpectColumnValuesToBeBetween", "rating")]),
}
for table, cols in {
    N: ["news_id", "category", "title"],
    I: ["impression_id", "user_id", "news_id", "time"],
    H: ["impression_id", "user_id", "time"],
    F: ["impression_id", "user_id", "news_id", "rating", "time"],
}.items():
    for col in cols:
        CASES[f"null {table}.{col}"] = (_set(table, col, None), [(table, "ExpectColumnValuesToNotBeNull", col)])
for table in (I, H, F):
    CASES[f"{table}.time not UTC"] = (_tz(table), [(table, "ExpectColumnValuesToBeInSet", "time_zone")])
    CASES[f"{table}.time out of range"] = (_shift(table), [(table, "ExpectColumnValuesToBeBetween", "time")])


@pytest.mark.parametrize("case", list(CASES))
def test_corruption_fails_its_check(clean, sim_params, case):
    mutate, expected = CASES[case]
    tables = {k: v.copy() for k, v in clean.items()}
    mutate(tables)
    tables_hit = {e[0] if e[0] != "history_ids" else H for e in expected} | {e[0] for e in expected}
    results = run(tables, sim_params, only=tables_hit)
    assert set(expected) <= failed(results), failed(results)
    decision = validation_decision(results)
    assert not decision.ok and any(e[1] in r for r in decision.reasons for e in expected)


def _wrong_type(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype) or s.dtype == object:
        return pd.Series(np.arange(len(s)), index=s.index)  # strings, lists, times -> ints
    return s.astype(str)  # ints -> strings


def test_wrong_types_fail_their_type_checks(clean, sim_params):
    tables = {k: v.apply(_wrong_type) for k, v in clean.items()}
    bad = failed(run(tables, sim_params))
    typed = {
        (c.table, c.expectation, c.column)
        for c in contracts.checks(sim_params)
        if c.expectation == "ExpectColumnValuesToBeOfType"
    }
    assert len(typed) == sum(len(s) for s in TABLES.values())
    assert typed <= bad, typed - bad
