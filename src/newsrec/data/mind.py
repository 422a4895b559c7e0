"""Read MIND-format files (news.tsv, behaviors.tsv, optional feedback.tsv) in chunks.

Parsing is vectorised with pyarrow; when a chunk holds anything malformed, the chunk's
lines are re-read one by one to name the file, the line and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MIND_TIME = "%m/%d/%Y %I:%M:%S %p"
_TIME_RE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)$")
_ID_RE = re.compile(r"^[^\s-]+$")
_TOKEN_RE = re.compile(r"^[^\s-]+(-[01])?$")


class MalformedInputError(ValueError):
    """A source file has a line that does not fit the MIND format."""

    def __init__(self, path: Path, line: int, what: str) -> None:
        super().__init__(f"{path}: line {line}: {what}")
        self.path, self.line, self.what = path, line, what


@dataclass
class Behaviors:
    """A chunk of behaviors.tsv, parsed; `first_line` is the file line of row 0."""

    first_line: int
    impression_id: pa.Array
    user_id: pa.Array
    time: pa.Array  # timestamp[us, UTC]
    history: pa.ListArray
    candidates: pa.ListArray  # news ids
    clicked: pa.ListArray | None  # int8 labels, None for an unlabeled chunk


def _lines(path: Path, chunk_lines: int) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding="utf-8", newline="\n") as f:
        buf, start = [], 1
        for i, line in enumerate(f, 1):
            buf.append(line.rstrip("\n").rstrip("\r"))
            if len(buf) == chunk_lines:
                yield start, buf
                buf, start = [], i + 1
        if buf:
            yield start, buf


def _check_behaviors_line(path: Path, n: int, line: str) -> None:
    """The line-level rules of behaviors.tsv; raises naming the first broken one."""
    cols = line.split("\t")
    if len(cols) != 5:
        raise MalformedInputError(path, n, f"expected 5 tab-separated columns, found {len(cols)}")
    imp, user, time, hist, cands = cols
    if not imp.isdigit():
        raise MalformedInputError(path, n, f"impression id {imp!r} is not a whole number")
    if not _ID_RE.match(user):
        raise MalformedInputError(path, n, f"user id {user!r} is empty or has spaces")
    if not _TIME_RE.match(time):
        raise MalformedInputError(path, n, f"time {time!r} is not like 11/15/2019 8:55:22 AM")
    for tok in hist.split():
        if not _ID_RE.match(tok):
            raise MalformedInputError(path, n, f"history id {tok!r} is not a news id")
    labeled = set()
    for tok in cands.split():
        if not _TOKEN_RE.match(tok):
            raise MalformedInputError(path, n, f"candidate {tok!r} is not <news_id> or <news_id>-<0|1>")
        labeled.add("-" in tok)
    if len(labeled) > 1:
        raise MalformedInputError(path, n, "candidates mix labeled and unlabeled entries")


def _locate(path: Path, first: int, lines: list[str], checker) -> MalformedInputError:
    for i, line in enumerate(lines):
        checker(path, first + i, line)
    return MalformedInputError(path, first, "chunk could not be parsed")


def _split_ws(arr: pa.Array) -> pa.ListArray:
    return pc.split_pattern_regex(pc.utf8_trim_whitespace(arr), r"\s+")


def _drop_empty(lists: pa.ListArray) -> pa.ListArray:
    flat = pc.list_flatten(lists)
    keep = pc.not_equal(flat, "")
    parent = pc.list_parent_indices(lists).to_numpy()
    kept = keep.to_numpy(zero_copy_only=False)
    counts = np.bincount(parent[kept], minlength=len(lists)).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32()), flat.filter(keep))


def per_list_sum(lists: pa.ListArray, values: np.ndarray) -> np.ndarray:
    """Sum of `values` (one per flattened element) within each list; 0 for empty lists."""
    parents = pc.list_parent_indices(lists).to_numpy()
    return np.bincount(parents, weights=np.asarray(values, dtype=np.float64), minlength=len(lists)).astype(np.int64)


def _columns(lines: list[str], n: int) -> list[pa.Array]:
    """A chunk's tab-separated columns; ValueError unless every line has `n` (the chunk is
    then re-read line by line to name the broken one)."""
    cols = pc.split_pattern(pa.array(lines, pa.string()), "\t")
    if not pc.all(pc.equal(pc.list_value_length(cols), n)).as_py():
        raise ValueError("columns")
    return [pc.list_element(cols, i) for i in range(n)]


def _all_match(col: pa.Array, pattern: str, what: str) -> None:
    if not pc.all(pc.match_substring_regex(col, pattern)).as_py():
        raise ValueError(what)


def _mind_time(col: pa.Array) -> pa.Array:
    time = pc.strptime(col, format=MIND_TIME, unit="us", error_is_null=True)
    if time.null_count or not pc.all(pc.match_substring_regex(col, _TIME_RE.pattern)).as_py():
        raise ValueError("time")
    return time


def _parse_behaviors(path: Path, first: int, lines: list[str]) -> Behaviors:
    col = _columns(lines, 5)
    _all_match(col[0], r"^\d+$", "id")
    _all_match(col[1], r"^[^\s-]+$", "user")
    time = _mind_time(col[2])
    hist, tokens = _drop_empty(_split_ws(col[3])), _drop_empty(_split_ws(col[4]))
    flat_h, flat_t = pc.list_flatten(hist), pc.list_flatten(tokens)
    if len(flat_h) and not pc.all(pc.match_substring_regex(flat_h, _ID_RE.pattern)).as_py():
        raise ValueError("history")
    if len(flat_t) and not pc.all(pc.match_substring_regex(flat_t, _TOKEN_RE.pattern)).as_py():
        raise ValueError("token")
    has_label = pc.match_substring(flat_t, "-").to_numpy(zero_copy_only=False)
    n_cand = np.diff(tokens.offsets.to_numpy())
    n_lab = per_list_sum(tokens, has_label)
    if np.any((n_lab > 0) & (n_lab < n_cand)):
        raise ValueError("mixed")
    labeled = bool(n_lab.sum() > 0)
    if labeled and np.any((n_lab == 0) & (n_cand > 0)):
        raise MalformedInputError(
            path,
            first + int(np.argmax((n_lab == 0) & (n_cand > 0))),
            "unlabeled candidates in a file of labeled impressions",
        )
    parts = pc.split_pattern(flat_t, "-", max_splits=1)
    ids = pc.list_element(parts, 0)
    cand = pa.ListArray.from_arrays(tokens.offsets, ids)
    clicked = None
    if labeled:
        lab = pc.cast(pc.list_element(parts, 1), pa.int8())
        clicked = pa.ListArray.from_arrays(tokens.offsets, lab)
    return Behaviors(first, pc.cast(col[0], pa.int64()), col[1], pc.assume_timezone(time, "UTC"), hist, cand, clicked)


def read_behaviors(path: Path, chunk_lines: int = 200_000) -> Iterator[Behaviors]:
    """Parse behaviors.tsv chunk by chunk; raise MalformedInputError naming the line."""
    for first, lines in _lines(path, chunk_lines):
        try:
            yield _parse_behaviors(path, first, lines)
        except MalformedInputError:
            raise
        except (ValueError, pa.ArrowException):
            raise _locate(path, first, lines, _check_behaviors_line) from None


def _check_news_line(path: Path, n: int, line: str) -> None:
    cols = line.split("\t")
    if len(cols) not in (5, 8):
        raise MalformedInputError(path, n, f"expected 8 tab-separated columns, found {len(cols)}")
    if not _ID_RE.match(cols[0]):
        raise MalformedInputError(path, n, f"news id {cols[0]!r} is empty or has spaces")
    if not cols[1].strip():
        raise MalformedInputError(path, n, "category is empty")


def read_news(path: Path) -> pa.Table:
    """news.tsv -> (news_id, category, subcategory, title, abstract)."""
    rows: list[list[str]] = []
    for first, lines in _lines(path, 200_000):
        for i, line in enumerate(lines):
            if not line:
                raise MalformedInputError(path, first + i, "empty line")
            _check_news_line(path, first + i, line)
            rows.append(line.split("\t")[:5])
    names = ["news_id", "category", "subcategory", "title", "abstract"]
    return pa.table({k: pa.array([r[j] for r in rows], pa.string()) for j, k in enumerate(names)})


def _check_feedback_line(path: Path, n: int, line: str) -> None:
    cols = line.split("\t")
    if len(cols) != 5:
        raise MalformedInputError(path, n, f"expected 5 tab-separated columns, found {len(cols)}")
    if not cols[0].isdigit():
        raise MalformedInputError(path, n, f"impression id {cols[0]!r} is not a whole number")
    if not _TIME_RE.match(cols[3]):
        raise MalformedInputError(path, n, f"time {cols[3]!r} is not like 11/15/2019 8:55:22 AM")
    if not re.match(r"^-?\d+$", cols[4]):
        raise MalformedInputError(path, n, f"rating {cols[4]!r} is not a whole number")


def _parse_feedback(lines: list[str]) -> pa.Table:
    col = _columns(lines, 5)
    _all_match(col[0], r"^\d+$", "id")
    _all_match(col[4], r"^-?\d+$", "rating")
    time = _mind_time(col[3])
    return pa.table(
        {
            "impression_id": pc.cast(col[0], pa.int64()),
            "user_id": col[1],
            "news_id": col[2],
            "time": pc.assume_timezone(time, "UTC"),
            "rating": pc.cast(col[4], pa.int32()),
        }
    )


def read_feedback(path: Path, chunk_lines: int = 200_000) -> pa.Table:
    """feedback.tsv (header line, then impression_id user_id news_id time rating), parsed a
    chunk at a time; raise MalformedInputError naming the line."""
    parts = []
    for first, lines in _lines(path, chunk_lines):
        if first == 1:  # the header
            lines, first = lines[1:], 2
        if not lines:
            continue
        try:
            parts.append(_parse_feedback(lines))
        except (ValueError, pa.ArrowException):
            raise _locate(path, first, lines, _check_feedback_line) from None
    if parts:
        return pa.concat_tables(parts)
    empty = {"impression_id": pa.int64(), "user_id": pa.string(), "news_id": pa.string(), "rating": pa.int32()}
    return pa.table({k: pa.array([], t) for k, t in empty.items()}).add_column(
        3, "time", pa.array([], pa.timestamp("us", tz="UTC"))
    )
