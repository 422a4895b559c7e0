"""Progress lines on stderr, prefixed with the stage and the seconds since it started."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Say = Callable[[str], None]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(stage: str) -> Say:
    """A printer that prefixes each line with the stage and the seconds since it started."""
    t0 = time.monotonic()
    return lambda msg: say(f"[{stage} {time.monotonic() - t0:6.1f}s] {msg}")
