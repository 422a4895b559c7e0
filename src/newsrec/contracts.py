"""The data contracts on the canonical tables, as plain data.

Each Check names a Great Expectations 1.x expectation class and its arguments; the GX
adapter (adapters/gx.py) runs them. The views below add the few derived columns that
the checks read, so every rule is a stock expectation and Data Docs stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from newsrec.config import Params
from newsrec.data import schema, vocab
from newsrec.data.world import span


@dataclass(frozen=True)
class Check:
    table: str
    expectation: str  # a class name in great_expectations.expectations
    kwargs: dict = field(default_factory=dict)
    why: str = ""

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


@dataclass(frozen=True)
class CheckResult:
    check: Check
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: object = None
    examples: list = field(default_factory=list)
    error: str | None = None


def time_range(p: Params) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC range every timestamp must fall in, for the configured source."""
    if p.ingest.source == "sim":
        lo, hi = span(p.world)
        return lo, hi + timedelta(days=p.world.live_days + 1)  # the live days, collected; feedback after the click
    return pd.Timestamp(p.validate_.mind_time_min), pd.Timestamp(p.validate_.mind_time_max)


def known_categories(p: Params) -> list[str]:
    return sorted(set(vocab.CATEGORIES) | set(vocab.MIND_CATEGORIES) | set(p.validate_.known_categories))


def _ts_checks(table: str, column: str, lo: pd.Timestamp, hi: pd.Timestamp) -> list[Check]:
    return [
        Check(table, "ExpectColumnValuesToNotBeNull", {"column": column}, f"every row has a {column}"),
        Check(
            table,
            "ExpectColumnValuesToBeInSet",
            {"column": f"{column}_zone", "value_set": ["UTC"]},
            f"{column} is stored as a UTC timestamp",
        ),
        Check(
            table,
            "ExpectColumnValuesToBeBetween",
            {"column": column, "min_value": lo.isoformat(), "max_value": hi.isoformat()},
            f"{column} falls in the expected range {lo:%Y-%m-%d} .. {hi:%Y-%m-%d}",
        ),
    ]


# Columns that views() appends to a canonical table for the checks to read.
DERIVED = {"impressions": ["time_zone", "unknown_news_id"], "histories": ["time_zone"], "feedback": ["time_zone"]}


def _type_name(t: pa.DataType) -> str:
    """The name GX's pandas type check accepts for a canonical arrow type."""
    if pa.types.is_timestamp(t):
        return "Timestamp"
    if pa.types.is_list(t):
        return "list"  # views() turns arrow lists into python lists
    if pa.types.is_string(t):
        return "str"
    return str(t)  # int8, int16, int32, int64 (nullable ints are read as pandas Int*)


def _schema_checks(table: str) -> list[Check]:
    s = schema.TABLES[table]
    out = [
        Check(
            table,
            "ExpectTableColumnsToMatchOrderedList",
            {"column_list": s.names + DERIVED.get(table, [])},
            f"{table} has the canonical columns",
        )
    ]
    return out + [
        Check(
            table,
            "ExpectColumnValuesToBeOfType",
            {"column": f.name, "type_": _type_name(f.type)},
            f"{f.name} is of type {f.type}",
        )
        for f in s
    ]


def _not_null(table: str, *cols: str) -> list[Check]:
    return [Check(table, "ExpectColumnValuesToNotBeNull", {"column": c}, f"{c} is never null") for c in cols]


def checks(p: Params) -> list[Check]:
    """The whole contract for the configured source, thresholds from params."""
    v, (lo, hi) = p.validate_, time_range(p)
    known = v.min_known_news_fraction
    out: list[Check] = []
    out += _schema_checks("news") + _not_null("news", "news_id", "category", "title")
    out += [
        Check("news", "ExpectColumnValuesToBeUnique", {"column": "news_id"}, "news ids are unique"),
        Check(
            "news",
            "ExpectColumnValuesToBeInSet",
            {"column": "category", "value_set": known_categories(p)},
            "every category is a known one (validate.known_categories adds more)",
        ),
    ]
    out += _schema_checks("impressions") + _not_null("impressions", "impression_id", "user_id", "news_id")
    out += _ts_checks("impressions", "time", lo, hi)
    out += [
        Check("impressions", "ExpectTableRowCountToBeBetween", {"min_value": 1}, "there are impressions"),
        Check(
            "impressions",
            "ExpectColumnValuesToBeInSet",
            {"column": "clicked", "value_set": [0, 1]},
            "labels are 0 or 1 (null where the source has no labels)",
        ),
        Check(
            "impressions",
            "ExpectColumnMeanToBeBetween",
            {"column": "clicked", "min_value": v.ctr_min, "max_value": v.ctr_max},
            f"CTR is in the plausible band {v.ctr_min:.0%} .. {v.ctr_max:.0%}",
        ),
        Check(
            "impressions",
            "ExpectColumnValuesToBeNull",
            {"column": "unknown_news_id", "mostly": known},
            f"at least {known:.0%} of candidate ids are known news (news.tsv; validate.min_known_news_fraction)",
        ),
    ]
    out += _schema_checks("histories") + _not_null("histories", "impression_id", "user_id")
    out += _ts_checks("histories", "time", lo, hi)
    out += [
        Check("histories", "ExpectColumnValuesToBeUnique", {"column": "impression_id"}, "impression ids are unique"),
        Check(
            "histories",
            "ExpectColumnValuesToBeBetween",
            {"column": "n_candidates", "min_value": 1},
            "every impression has at least one candidate",
        ),
        Check(
            "histories",
            "ExpectColumnValuesToBeBetween",
            {"column": "n_clicks", "min_value": 1},
            "every labeled impression has at least one click",
        ),
        Check(
            "history_ids",
            "ExpectColumnValuesToBeNull",
            {"column": "unknown_news_id", "mostly": known},
            f"at least {known:.0%} of history ids are known news (news.tsv; validate.min_known_news_fraction)",
        ),
    ]
    out += _schema_checks("feedback") + _not_null("feedback", "impression_id", "user_id", "news_id", "rating")
    out += _ts_checks("feedback", "time", lo, hi)
    out += [
        Check(
            "feedback",
            "ExpectColumnValuesToBeBetween",
            {"column": "rating", "min_value": v.rating_min, "max_value": v.rating_max},
            f"ratings are {v.rating_min} .. {v.rating_max} stars",
        )
    ]
    return out


def _zone(df: pd.DataFrame, col: str) -> None:
    tz = getattr(df[col].dtype, "tz", None) if col in df else None
    df[f"{col}_zone"] = str(tz) if tz is not None else "none"


def views(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The frames the checks run on: the canonical tables plus derived columns."""
    news, imps, hist, fb = (tables[k].copy() for k in ("news", "impressions", "histories", "feedback"))
    known = pd.Index(news["news_id"].dropna().unique()) if "news_id" in news else pd.Index([])
    for df in (imps, hist, fb):
        _zone(df, "time")
    if "news_id" in imps:
        imps["unknown_news_id"] = imps["news_id"].where(~imps["news_id"].isin(known))
    if "history" in hist:
        # arrow lists arrive as numpy arrays; anything else is left for the type check to report
        hist["history"] = [list(h) if isinstance(h, (np.ndarray, list)) else h for h in hist["history"]]
    ids = hist["history"].explode().dropna() if "history" in hist else pd.Series([], dtype=object)
    hids = pd.DataFrame({"news_id": ids.to_numpy()})
    hids["unknown_news_id"] = hids["news_id"].where(~hids["news_id"].isin(known))
    return {"news": news, "impressions": imps, "histories": hist, "history_ids": hids, "feedback": fb}


# the checks whose share of unexpected rows is of all the rows; the other column checks' is of
# the non-null ones (as Great Expectations counts them)
OF_ALL_ROWS = ("ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeNull")


def denominator(check: Check, frame: pd.DataFrame) -> int:
    """The rows a check's result on `frame` (a batch of its table's rows) counts: what
    `merge` weighs the batch by."""
    col = check.column
    if check.expectation in OF_ALL_ROWS or col is None or col not in frame:
        return len(frame)
    return int(frame[col].notna().sum())


def merge(parts: list[list[CheckResult]], weights: list[list[int]], examples: int = 5) -> list[CheckResult]:
    """Checks run a batch of rows at a time (each part: the same checks, in order), as one run
    on all the rows: unexpected rows summed and their share recomputed, `mostly` judged on
    the whole, a mean weighed by the batches' non-null rows, a row count summed, the first
    examples in row order. A check that needs every row at once (uniqueness) must not be
    among them: it runs on its column whole."""
    out = []
    for i, rs in enumerate(zip(*parts)):
        c, w = rs[0].check, [ws[i] for ws in weights]
        errors = [r.error for r in rs if r.error]
        if c.expectation == "ExpectColumnValuesToBeUnique":
            raise ValueError(f"{c.table}.{c.column}: uniqueness is not a check of a batch: run it on the whole column")
        if c.expectation == "ExpectTableRowCountToBeBetween":
            n = sum(int(r.observed or 0) for r in rs)
            lo, hi = c.kwargs.get("min_value"), c.kwargs.get("max_value")
            ok = (lo is None or n >= lo) and (hi is None or n <= hi)
            out.append(CheckResult(c, ok and not errors, observed=n, error=errors[0] if errors else None))
        elif c.expectation == "ExpectColumnMeanToBeBetween":
            seen = [(r.observed, k) for r, k in zip(rs, w) if r.observed is not None and k]
            mean = sum(float(m) * k for m, k in seen) / sum(k for _, k in seen) if seen else None
            lo, hi = c.kwargs.get("min_value"), c.kwargs.get("max_value")
            ok = mean is not None and (lo is None or mean >= lo) and (hi is None or mean <= hi)
            out.append(CheckResult(c, ok and not errors, observed=mean, error=errors[0] if errors else None))
        elif rs[0].unexpected_count is None:  # table checks (the columns): each batch must pass
            ok = all(r.success for r in rs)
            out.append(CheckResult(c, ok, observed=rs[0].observed, error=errors[0] if errors else None))
        else:
            bad, total = sum(r.unexpected_count or 0 for r in rs), sum(w)
            share = bad / total if total else 0.0
            mostly = c.kwargs.get("mostly", 1.0)
            ex = [e for r in rs for e in r.examples][:examples]
            out.append(
                CheckResult(
                    c, 1 - share >= mostly and not errors, bad, 100 * share, None, ex, errors[0] if errors else None
                )
            )
    return out


def _shown(x: object) -> str:
    """A value as a person reads it: 0.08495, not np.float64(0.08495145631067962)."""
    x = x.item() if isinstance(x, np.generic) else x
    return f"{x:.4g}" if isinstance(x, float) else repr(x)


def summarize(results: list[CheckResult], examples: int = 5) -> list[str]:
    """One readable line per failed check: which rule, how many rows, a few examples."""
    lines = []
    for r in results:
        if r.success:
            continue
        c = r.check
        where = f"{c.table}.{c.column}" if c.column else c.table
        how = (
            f"{r.unexpected_count:,} rows ({r.unexpected_percent:.2f}%)"
            if r.unexpected_count is not None
            else f"observed {_shown(r.observed)}"
            if r.observed is not None
            else r.error or "failed"
        )
        ex = f"; e.g. {', '.join(map(str, r.examples[:examples]))}" if r.examples else ""
        lines.append(f"FAILED {where}: {c.why} [{c.expectation}]: {how}{ex}")
    return lines


def as_records(results: list[CheckResult]) -> list[dict]:
    """JSON-ready results for reports/validate.json."""

    def clean(x):
        return (
            x.item()
            if isinstance(x, np.generic)
            else x
            if isinstance(x, (int, float, str, bool, type(None)))
            else str(x)
        )

    return [
        {
            "table": r.check.table,
            "expectation": r.check.expectation,
            "column": r.check.column,
            "why": r.check.why,
            "success": r.success,
            "unexpected_count": r.unexpected_count,
            "unexpected_percent": r.unexpected_percent,
            "observed": clean(r.observed),
            "examples": [clean(e) for e in r.examples],
            "error": r.error,
        }
        for r in results
    ]
