"""The prediction log: every response's request, features and scores, appended off the
request path through a bounded queue and written as date-partitioned parquet files.

Each flush writes a new file under date=YYYY-MM-DD/ to a temporary name and renames it,
so a killed process loses at most the records not yet flushed and never corrupts a file
that was already written. When the queue is full, records are dropped and counted.

Nothing stops the writer: a write that fails (disk full, a file where a folder should be)
is retried, then the batch goes to the quarantine folder beside the log (or, if that
fails too, is lost), counted either way. Until a write succeeds again the log is not
`healthy` (the service's /readyz says so); while it is not, it tries a small write every
second, so it recovers by itself when the fault goes.

The rows a writer dropped, failed to write, quarantined or lost are counted per day of
their request in <quarantine>/_counts/<writer>.json, so monitoring can say what its window
misses (`losses`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from newsrec.collect import utc
from newsrec.data.io import atomic_file, write_json

LOSSES = ("dropped", "failed", "quarantined", "lost")


@dataclass(frozen=True)
class Rows:
    """A response's rows for the log, as columns: an array per column (a value per row), or
    one value for every row (the request's id, its user, its times). The request path hands
    them over as they are and the writer lays out the rows of many responses at once
    (`frame_of`): a frame per response cost a request about 2 ms."""

    columns: dict[str, object]
    n: int

    def __len__(self) -> int:
        return self.n

    def frame(self) -> pd.DataFrame:
        return frame_of([self])


def frame_of(rows: list[Rows]) -> pd.DataFrame:
    """The rows of `rows` as one frame, in order; each column's type is the one a frame of
    a single response gives it (a time keeps its first value's unit, UTC; NaT where None)."""
    n = np.fromiter((r.n for r in rows), np.int64, len(rows))
    out = {}
    for name, first in rows[0].columns.items():
        values = [r.columns[name] for r in rows]
        if isinstance(first, np.ndarray):
            out[name] = np.concatenate(values) if len(values) > 1 else first
        elif first is None or first is pd.NaT or isinstance(first, pd.Timestamp):
            times = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
            if isinstance(first, pd.Timestamp):  # its unit and its UTC object, as a frame of it would
                times = times.as_unit(first.unit).tz_convert(first.tz or "UTC")
            out[name] = times.repeat(n)
        else:
            out[name] = np.repeat(np.array(values, dtype=object if isinstance(first, str) else None), n)
    return pd.DataFrame(out)


class PredictionLog:
    """A background writer; `append` never blocks the caller. Under load it writes a file
    every `interval_s` (or `batch` rows); when the traffic pauses for `idle_s` it writes
    what it holds (it looks every half `idle_s`), so a burst of responses is in the log
    soon after its end.

    Counters, in rows: `written`, `dropped` (queue full), `failed` (rows whose write
    failed), of them `quarantined` (kept in the quarantine folder) and `lost`; `on_failed(n)`
    and `on_dropped(n)` are called with each count as it happens (the service's metrics).
    `by_day`: the losses per day of request, also kept on disk (see `losses`)."""

    RETRIES = (0.05, 0.25)  # seconds before each retry of a failed write
    PROBE_S = 1.0  # while not healthy, a test write this often

    def __init__(
        self,
        root: Path,
        max_queue: int = 10_000,
        batch: int = 500,
        interval_s: float = 2.0,
        idle_s: float = 0.05,
        quarantine: Path | None = None,
        on_failed: Callable[[int], None] | None = None,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.root, self.batch, self.interval, self.idle = Path(root), batch, interval_s, idle_s
        self.quarantine = Path(quarantine) if quarantine else quarantine_of(self.root)
        self.on_failed, self.on_dropped = on_failed, on_dropped
        # Appended to by the request threads and drained by the writer every half `idle_s`:
        # an append wakes no thread (a queue.Queue woke the writer on every response, a
        # switch of the interpreter lock per request); only a full batch or close wakes it.
        self._q: deque = deque()
        self.max_queue = max_queue
        self._appended = time.monotonic()  # the last append's time: the writer's pause
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self.dropped = self.written = self.failed = self.quarantined = self.lost = 0
        self.by_day: dict[str, dict[str, int]] = {}
        self._counts = self.quarantine / COUNTS / f"{os.getpid()}-{time.time_ns()}.json"
        self._counted = threading.Lock()
        self._dirty = False
        self.healthy, self.error = True, None
        self._probed, self._failed_at = 0.0, self.root
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, rows: dict | pd.DataFrame | Rows) -> bool:
        """Queue one record (a flat dict with a `request_time`) or a response's rows (a frame
        or Rows with that column); False if it was dropped."""
        if len(self._q) < self.max_queue:
            self._q.append(rows)
            self._appended = time.monotonic()
            if len(self._q) >= self.batch:
                self._wake.set()
            return True
        days = _days(rows)
        self.dropped += len(days)
        for d in days:
            self._count(d, dropped=1)
        _call(self.on_dropped, len(days))
        return False

    def _count(self, day: str, **n: int) -> None:
        with self._counted:
            c = self.by_day.setdefault(day, dict.fromkeys(LOSSES, 0))
            for k, v in n.items():
                c[k] += v
            self._dirty = True

    def _save_counts(self) -> None:
        """The per-day losses to disk (the writer thread; a failure is retried next time)."""
        with self._counted:
            if not self._dirty:
                return
            counts, self._dirty = {d: dict(c) for d, c in self.by_day.items()}, False
        try:
            write_json(self._counts, counts)
        except OSError:
            self._dirty = True

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued and stop the writer (call on shutdown)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        pending: list[dict | pd.DataFrame | Rows] = []
        rows, last = 0, time.monotonic()
        while True:
            self._wake.wait(self.idle / 2)
            self._wake.clear()
            stopping = self._stop.is_set()
            idle = not self._q and time.monotonic() - self._appended >= self.idle
            while self._q:
                item = self._q.popleft()
                pending.append(item)
                rows += 1 if isinstance(item, dict) else len(item)
            due = rows >= self.batch or time.monotonic() - last >= self.interval
            if pending and (due or idle or stopping):
                self._flush(pending)
                pending, rows, last = [], 0, time.monotonic()
            elif not self.healthy and time.monotonic() - self._probed >= self.PROBE_S:
                self._probe()
            if self._dirty:
                self._save_counts()
            if stopping and not self._q:
                break

    def _flush(self, items: list[dict | pd.DataFrame | Rows]) -> None:
        """Write the items, a file per day; whatever fails is counted, never raised."""
        n = sum(1 if isinstance(i, dict) else len(i) for i in items)
        try:
            frames = [i for i in items if isinstance(i, pd.DataFrame)]
            if responses := [i for i in items if isinstance(i, Rows)]:
                frames.append(frame_of(responses))
            if records := [i for i in items if isinstance(i, dict)]:
                frames.append(pd.DataFrame.from_records(records))
            df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            # the day of each row as a number, formatted once per day (strftime per row held
            # the interpreter lock for a noticeable share of a loaded worker's time)
            day = pd.to_datetime(df["request_time"], utc=True).dt.floor("D")
        except Exception as e:  # rows that cannot be laid out: nothing to retry
            self._failed(n, e, quarantined=False, day="unknown")
            return
        if (bad := day.isna().to_numpy()).any():  # no time, no day: those rows alone are lost
            self._failed(int(bad.sum()), ValueError("rows without a request_time"), quarantined=False, day="unknown")
            df, day = df[~bad], day[~bad]
        ok = not bad.any()
        for t, part in df.groupby(day, sort=True):
            d = f"{t:%Y-%m-%d}"
            self._seq += 1
            name = f"date={d}/part-{os.getpid()}-{time.time_ns()}-{self._seq:06d}.parquet"
            error = self._write(self.root / name, part, self.RETRIES)
            if error is None:
                self.written += len(part)
            else:
                ok = False
                self._failed_at = (self.root / name).parent
                kept = self._write(self.quarantine / name, part, ()) is None
                self._failed(len(part), error, quarantined=kept, day=d)
        if ok:  # healthy again only when a whole flush was written
            self.healthy, self.error = True, None

    @staticmethod
    def _write(path: Path, part: pd.DataFrame, retries: tuple[float, ...]) -> Exception | None:
        """Write `part` to `path` atomically, retrying after each of `retries` seconds; the last error."""
        for wait in (*retries, None):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_file(path) as tmp:
                    part.to_parquet(tmp, index=False)
                return None
            except Exception as e:  # OSError mostly; pyarrow raises its own types too
                error = e
                if wait is not None:
                    time.sleep(wait)
        return error

    def _failed(self, n: int, error: Exception, quarantined: bool, day: str) -> None:
        self._count(day, failed=n, quarantined=n if quarantined else 0, lost=0 if quarantined else n)
        self.failed += n
        self.quarantined += n if quarantined else 0
        self.lost += 0 if quarantined else n
        self.healthy, self.error = False, f"{type(error).__name__}: {error}"
        self._probed = time.monotonic()
        _call(self.on_failed, n)

    def _probe(self) -> None:
        """A small write where the last write failed: healthy again if it succeeds."""
        self._probed = time.monotonic()
        probe = self._failed_at / f".probe-{os.getpid()}"
        try:
            self._failed_at.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
            self.healthy, self.error = True, None
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"


def _call(f: Callable[[int], None] | None, n: int) -> None:
    if f is not None:
        try:
            f(n)
        except Exception:  # a metrics callback must not stop the writer
            pass


def _days(rows: dict | pd.DataFrame | Rows) -> list[str]:
    """The request day of each row of a record or a response ("unknown" where it has none)."""
    try:
        if isinstance(rows, Rows):
            return _days({"request_time": rows.columns.get("request_time")}) * rows.n
        t = rows["request_time"] if isinstance(rows, pd.DataFrame) else pd.Series([rows.get("request_time")])
        return pd.to_datetime(t, utc=True).dt.strftime("%Y-%m-%d").fillna("unknown").tolist()
    except Exception:  # a row without a readable time still counts
        return ["unknown"] * (1 if isinstance(rows, dict) else len(rows))


COUNTS = "_counts"  # in the quarantine folder: each writer's losses per day


def losses(root: Path, days: list[str] | None = None) -> dict[str, int]:
    """The rows every writer of the log at `root` dropped, failed to write, quarantined or
    lost, summed over `days` (every day if None); a counts file that cannot be read is skipped."""
    out = dict.fromkeys(LOSSES, 0)
    for f in sorted((quarantine_of(root) / COUNTS).glob("*.json")):
        try:
            counts = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        for d, c in counts.items():
            if days is None or d in days:
                for k in LOSSES:
                    out[k] += int(c.get(k, 0))
    return out


def quarantine_of(root: Path) -> Path:
    """The folder beside a log where the rows or files it could not keep go."""
    return Path(root).with_name(f"{Path(root).name}.quarantine")


class CorruptLogError(ValueError):
    """A log file that cannot be read; its path is in the message."""


def log_days(root: Path) -> list[str]:
    """The days (YYYY-MM-DD) that have logged files, oldest first."""
    return sorted(f.name.split("=", 1)[1] for f in Path(root).glob("date=*") if any(f.glob("part-*.parquet")))


def log_files(root: Path, start: str | None = None, end: str | None = None) -> list[Path]:
    """The log's files of the days start..end (inclusive, YYYY-MM-DD; all days if None), in order."""
    files = []
    for folder in sorted(Path(root).glob("date=*")):
        d = folder.name.split("=", 1)[1]
        if (start is None or d >= start) and (end is None or d <= end):
            files += _parts(folder)
    return files


_LISTED: dict = {}  # per day folder: its modification time, its part files, and whether that listing holds
SETTLED_NS = 1_000_000_000  # a listing made this long after the folder last changed holds until it changes


def _parts(folder: Path) -> list[Path]:
    """The day folder's part files, in order. Listed once while the folder stays as it is:
    its modification time is the same, and it was listed well after that time. (A file
    system's clock is coarse: two files added within one of its ticks leave the same time,
    so a listing made in the tick of the last change is made again.) A past day's folder,
    with the most files, is then listed once; the day being written, each time."""
    try:
        changed = folder.stat().st_mtime_ns
    except FileNotFoundError:
        return []
    hit = _LISTED.get(folder)
    if hit is not None and hit[0] == changed and hit[2]:
        return hit[1]
    now = time.time_ns()
    files = sorted(folder / n for n in os.listdir(folder) if n.startswith("part-") and n.endswith(".parquet"))
    _LISTED[folder] = (changed, files, now - changed > SETTLED_NS)
    return files


def read_part(f: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One part file, as pd.read_parquet gives it, read on the calling thread: a part is a
    flush of the log (tens to thousands of rows), where pyarrow's thread pool costs more
    than it saves (2.4 against 4.8 ms a file on the live loop's log). Read as one file, not
    through read_table's dataset layer: 1.3 against 2.6 ms a file, the same frame."""
    return pq.ParquetFile(f).read(columns=columns, use_threads=False).to_pandas(use_threads=False)


def read_log(
    root: Path,
    start: str | None = None,
    end: str | None = None,
    columns: list[str] | None = None,
    cache: dict | None = None,
    files: list[Path] | None = None,
    quarantined: list[str] | None = None,
) -> pd.DataFrame:
    """The logged rows of the days start..end (inclusive, YYYY-MM-DD); all days if None.
    With `cache` (a dict kept by the caller), a file read once is not read again: files are
    only ever added, each written whole. `files`: these of its files instead of the days'.
    With `quarantined` (a list), a file that cannot be read is moved to the quarantine
    folder beside the log and named in the list, and the rest is read.
    Raises CorruptLogError naming the first file that
    cannot be read."""
    files = log_files(root, start, end) if files is None else files
    frames = []
    for f in files:
        if cache is not None and (f, tuple(columns or ())) in cache:
            frames.append(cache[f, tuple(columns or ())])
            continue
        try:
            frames.append(read_part(f, columns))
        except Exception as e:  # pyarrow raises several types for a damaged file
            why = f"{f}: cannot be read ({type(e).__name__}: {e})"
            if quarantined is None:
                raise CorruptLogError(why) from None
            aside = quarantine_of(Path(root)) / f.parent.name / f.name
            aside.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, aside)
            quarantined.append(f"{why}; moved to {aside}")
            continue
        if cache is not None:
            cache[f, tuple(columns or ())] = frames[-1]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


OUTCOMES = ["request_id", "news_id", "clicked", "request_time", "rating", "rating_time"]


def write_outcomes(root: Path, outcomes: pd.DataFrame) -> None:
    """What readers did with served items (request_id, news_id, clicked, request_time, and
    a star rating with its time where they gave one), date-partitioned like the log, each
    file written atomically."""
    outcomes = outcomes.assign(
        rating=outcomes["rating"] if "rating" in outcomes else np.nan,
        rating_time=pd.to_datetime(outcomes["rating_time"] if "rating_time" in outcomes else pd.NaT, utc=True),
    )
    day = utc(outcomes["request_time"]).dt.floor("D")  # each day formatted once, not each row
    for d, part in outcomes.groupby(day, sort=True):
        folder = Path(root) / f"date={d:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(folder / f"part-{os.getpid()}-{time.time_ns()}.parquet") as tmp:
            part[OUTCOMES].astype({"rating": "float64"}).to_parquet(tmp, index=False)
