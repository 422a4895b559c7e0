"""Progress lines on stderr, prefixed with the stage and the seconds since it started, and
which failures the front doors report in one line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable

Say = Callable[[str], None]
# `run(fn, items)`: fn over the items, the results in their order, wherever the front door
# runs a stage's parts (a Dask cluster: newsrec.adapters.dask.runner; Prefect tasks: flows.parts)
Run = Callable[[Callable, Iterable], list]

# Failures a person fixes from one line: bad params (ConfigError is a ValueError), a refused
# contract or gate, a malformed input line, a missing file, a wait that ran out, a store that
# cannot be reached (ConnectionError: the MLflow tracking store, say). Every front
# door (the CLI, the flows) prints their message without a traceback; anything else keeps it.
EXPECTED: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, TimeoutError, ConnectionError)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(stage: str) -> Say:
    """A printer that prefixes each line with the stage and the seconds since it started."""
    t0 = time.monotonic()
    return lambda msg: say(f"[{stage} {time.monotonic() - t0:6.1f}s] {msg}")
