"""`newsrec source`: point the pipeline at the simulator or at a MIND directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from newsrec.config import ConfigError, Paths
from newsrec.console import say
from newsrec.data.canonical import find_splits
from newsrec.params_file import set_value


def source(
    paths: Paths, name: Literal["sim", "mind"], mind_dir: str | None = None, params_file: Path | None = None
) -> Path:
    """Set ingest.source; for MIND, copy the split folders of `mind_dir` into data/raw/mind.
    Returns the raw folder the pipeline will read."""
    dest = paths.raw_source(name)
    if name == "mind":
        if not mind_dir:
            raise ConfigError("SOURCE=mind needs MIND_DIR=<directory with behaviors.tsv and news.tsv>")
        given = Path(mind_dir).expanduser().resolve()
        raw = paths.raw_source(name).parent.resolve()
        if given == raw or raw in given.parents:
            raise ConfigError(
                f"MIND_DIR {mind_dir} is inside {raw}, which the pipeline rewrites: keep your MIND files elsewhere"
            )
        splits = find_splits(given)
        shutil.rmtree(dest, ignore_errors=True)
        for split, d in splits:
            (dest / split).mkdir(parents=True, exist_ok=True)
            for f in ("news.tsv", "behaviors.tsv", "feedback.tsv"):
                if (d / f).exists():
                    shutil.copyfile(d / f, dest / split / f)
        say(f"copied {', '.join(n for n, _ in splits)} from {mind_dir} -> {dest}")
    set_value(params_file or paths.root / "params.yaml", "ingest", "source", name)
    say(f"params.yaml: ingest.source = {name}")
    return dest
