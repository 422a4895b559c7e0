"""Stage `ingest`: the configured source's MIND files -> canonical parquet tables."""

from __future__ import annotations

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.canonical import IngestSummary, ingest_dir
from newsrec.data.mind import MalformedInputError


def ingest(p: Params, paths: Paths, say: Say | None = None) -> IngestSummary:
    """Read data/raw/<ingest.source> (chunked) into data/canonical, atomically."""
    say = say or progress("ingest")
    try:
        s = ingest_dir(paths.raw_source(p.ingest.source), paths.canonical, p.ingest.chunk_lines, say)
    except MalformedInputError as e:
        if p.ingest.source != "mind":
            raise
        hint = "data/raw/mind is a copy: fix the line in your MIND files, then `make data SOURCE=mind MIND_DIR=<dir>`"
        raise MalformedInputError(e.path, e.line, f"{e.what}; {hint}") from None
    say(
        f"{s.news:,} news, {sum(s.splits.values()):,} impressions {s.splits}, {s.candidates:,} candidate "
        f"rows, {s.clicks:,} clicks, {s.feedback:,} ratings -> {paths.canonical}"
    )
    return s
