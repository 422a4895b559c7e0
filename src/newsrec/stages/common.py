"""Helpers shared by the stage commands: progress lines and JSON reports."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(stage: str):
    """A printer that prefixes each line with the stage and the seconds since it started."""
    t0 = time.monotonic()
    return lambda msg: say(f"[{stage} {time.monotonic() - t0:6.1f}s] {msg}")


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path):
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; run the stage that writes it first")
    return json.loads(path.read_text())
