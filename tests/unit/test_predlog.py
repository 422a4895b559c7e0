"""The prediction log: off the request path, date-partitioned, nothing half-written."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from newsrec.predlog import PredictionLog, Rows, frame_of, log_files, losses, read_log, read_part


def _rec(i, day="2026-11-05"):
    return {
        "request_time": pd.Timestamp(f"{day} 10:00", tz="UTC") + pd.Timedelta(seconds=i),
        "user_id": f"U{i}",
        "news_id": f"N{i}",
        "score": i / 10,
    }


def test_records_land_in_date_partitions(tmp_path):
    log = PredictionLog(tmp_path, batch=3)
    for i in range(7):
        assert log.append(_rec(i, "2026-11-05" if i < 5 else "2026-11-06"))
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-11-05", "date=2026-11-06"]
    df = read_log(tmp_path)
    assert len(df) == 7 and log.written == 7 and log.dropped == 0
    assert len(read_log(tmp_path, "2026-11-06", "2026-11-06")) == 2


def _response(i: int, n: int, as_of) -> Rows:
    """A response's rows as the request path hands them over (a frame of one response is
    what the service used to log, the reference below)."""
    return Rows(
        {
            "news_id": np.array([f"N{i}-{j}" for j in range(n)], dtype=object),
            "score": np.arange(n) / 10 + i,
            "rank": np.arange(1, n + 1, dtype=np.int64),
            "shown": np.arange(n) < 2,
            "request_id": f"r{i}",
            "request_time": pd.Timestamp(datetime(2026, 11, 5, 23, 59, i % 60, tzinfo=UTC) + timedelta(hours=i % 2)),
            "fallback": i % 3 == 0,
            "features_as_of": as_of,
        },
        n,
    )


def test_responses_laid_out_at_once_equal_a_frame_per_response(tmp_path):
    stamp = pd.Timestamp("2026-11-05 22:00", tz="UTC").as_unit("ns")
    rows = [_response(i, n, stamp if i % 2 else pd.NaT) for i, n in enumerate([3, 1, 4, 0, 2])]
    one_by_one = pd.concat(
        [
            pd.DataFrame(
                {**r.columns, "features_as_of": np.repeat(pd.to_datetime([r.columns["features_as_of"]], utc=True), r.n)}
            )
            for r in rows
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(frame_of(rows), one_by_one)
    assert str(frame_of(rows)["request_time"].dtype) == "datetime64[us, UTC]"
    log = PredictionLog(tmp_path, batch=1_000)
    for r in rows:
        assert log.append(r)
    log.close()
    got = read_log(tmp_path).sort_values(["request_id", "rank"], ignore_index=True)
    assert log.written == 10 and sorted(p.name for p in tmp_path.iterdir()) == ["date=2026-11-05", "date=2026-11-06"]
    want = one_by_one.sort_values(["request_id", "rank"], ignore_index=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    for f in log_files(tmp_path):  # each part as pandas reads it, whole or some columns
        pd.testing.assert_frame_equal(read_part(f), pd.read_parquet(f))
        cols = ["request_time", "request_id", "features_as_of"]
        pd.testing.assert_frame_equal(read_part(f, cols), pd.read_parquet(f, columns=cols))


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path):
    log = PredictionLog(tmp_path, max_queue=2, batch=10_000, interval_s=60, idle_s=0.01)
    # a stuck disk: the writer's first write waits until released, holding what it took;
    # the queue (2) behind it fills up
    release, stuck, write = threading.Event(), threading.Event(), log._flush
    log._flush = lambda items: (stuck.set(), release.wait(60), write(items))[2]
    assert log.append(_rec(0))
    assert stuck.wait(10), "the writer never took the first record"
    accepted = 1 + sum(log.append(_rec(i)) for i in range(1, 50))  # never blocks the caller
    assert accepted == 3 and log.dropped == 47
    frame = pd.DataFrame([_rec(i, "2026-11-06") for i in range(3)])  # a response's rows: each row counts
    assert not log.append(frame) and log.dropped == 50
    release.set()
    log.close()
    assert log.written == 3
    assert log.by_day["2026-11-06"]["dropped"] == 3
    # on disk beside the log, per day of request, for monitoring to read
    assert losses(tmp_path, ["2026-11-05"]) == {"dropped": 47, "failed": 0, "quarantined": 0, "lost": 0}
    assert losses(tmp_path)["dropped"] == 50


def test_a_pause_in_traffic_writes_what_is_held_long_before_the_interval(tmp_path):
    log = PredictionLog(tmp_path, batch=10_000, interval_s=60, idle_s=0.05)
    for i in range(5):
        log.append(_rec(i))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp_path.rglob("part-*.parquet")):
        time.sleep(0.01)
    assert len(read_log(tmp_path)) == 5  # written in the pause, not after interval_s
    log.close()
    assert log.written == 5


KILLED = """
import sys, time, pandas as pd
from newsrec.predlog import PredictionLog
log = PredictionLog(sys.argv[1], batch=100, interval_s=0.05)
i = 0
while True:
    log.append({"request_time": pd.Timestamp("2026-11-05", tz="UTC"), "i": i, "pad": "x" * 200})
    i += 1
    if i % 100 == 0:
        time.sleep(0.01)
"""


def test_a_killed_writer_leaves_only_complete_files(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path)])
    deadline = time.monotonic() + 120  # a loaded machine imports pandas slowly: wait for the first flush
    while time.monotonic() < deadline and p.poll() is None and not any(tmp_path.rglob("part-*.parquet")):
        time.sleep(0.1)
    time.sleep(0.5)  # then kill it mid-stream, while it keeps writing
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    files = list(tmp_path.rglob("*.parquet"))
    assert files, "the writer flushed nothing before it was killed"
    for f in files:
        assert len(pd.read_parquet(f)) > 0  # every file under its final name is whole


def test_a_failing_write_is_retried_quarantined_counted_and_the_writer_recovers(tmp_path):
    root = tmp_path / "predictions"
    root.mkdir()
    (root / "date=2026-11-05").write_text("a file where the day's folder goes")  # every write there fails
    failed = []
    log = PredictionLog(root, batch=10_000, interval_s=60, idle_s=0.02, on_failed=failed.append)
    log.PROBE_S = 0.1
    for i in range(4):
        log.append(_rec(i))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and log.failed < 4:
        time.sleep(0.02)
    assert log.failed == 4 and log.quarantined == 4 and log.lost == 0 and sum(failed) == 4
    assert not log.healthy and "date=2026-11-05" in log.error and log.alive()
    assert len(read_log(tmp_path / "predictions.quarantine")) == 4  # the rows are kept aside, whole
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and losses(root)["failed"] < 4:
        time.sleep(0.02)
    assert losses(root, ["2026-11-05"]) == {"dropped": 0, "failed": 4, "quarantined": 4, "lost": 0}
    assert losses(root, ["2026-11-04"]) == {"dropped": 0, "failed": 0, "quarantined": 0, "lost": 0}
    (root / "date=2026-11-05").unlink()  # the fault goes: the writer finds out by itself
    while time.monotonic() < deadline and not log.healthy:
        time.sleep(0.02)
    assert log.healthy and log.error is None
    log.append(_rec(9))
    log.close()
    assert log.written == 1 and read_log(root)["user_id"].tolist() == ["U9"]


def test_rows_nowhere_to_go_are_lost_and_counted_and_bad_rows_never_stop_the_writer(tmp_path):
    (tmp_path / "log").write_text("x")
    (tmp_path / "log.quarantine").write_text("x")  # neither the log nor its quarantine can be written
    log = PredictionLog(tmp_path / "log", batch=1, interval_s=60, idle_s=0.02)
    log.RETRIES = ()
    log.append(_rec(0))
    log.append({"no": "request_time"})  # cannot be laid out by day
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and log.failed < 2:
        time.sleep(0.02)
    assert log.failed == 2 and log.lost == 2 and log.quarantined == 0 and log.alive()
    log.close()


def test_a_flush_with_one_day_that_cannot_be_written_is_not_healthy(tmp_path):
    (tmp_path / "date=2026-11-05").write_text("x")  # that day fails, the next one is fine
    log = PredictionLog(tmp_path, batch=2, interval_s=60, idle_s=5)
    log.RETRIES = ()
    log.append(_rec(0, "2026-11-05"))
    log.append(_rec(1, "2026-11-06"))  # the batch is full: one flush, both days
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and log.written + log.failed < 2:
        time.sleep(0.02)
    assert log.written == 1 and log.failed == 1 and not log.healthy
    log.close()


def test_a_file_that_cannot_be_read_is_set_aside_named_and_the_rest_read(tmp_path):
    import pytest

    from newsrec.predlog import CorruptLogError

    log = PredictionLog(tmp_path / "log", batch=2)
    for i in range(2):
        log.append(_rec(i))
    log.close()
    bad = tmp_path / "log" / "date=2026-11-05" / "part-0-0-000000.parquet"
    bad.write_bytes(b"PAR1 not parquet")
    with pytest.raises(CorruptLogError, match="part-0-0-000000.parquet: cannot be read"):
        read_log(tmp_path / "log")
    named: list[str] = []
    rows = read_log(tmp_path / "log", quarantined=named)
    assert len(rows) == 2 and len(named) == 1 and "part-0-0-000000.parquet" in named[0]
    assert (tmp_path / "log.quarantine" / "date=2026-11-05" / bad.name).exists() and not bad.exists()
    assert len(read_log(tmp_path / "log")) == 2  # set aside once, read cleanly after


def test_a_row_without_a_time_is_counted_lost_and_the_rest_of_its_flush_written(tmp_path):
    log = PredictionLog(tmp_path / "log", batch=10_000, interval_s=60, idle_s=0.02)
    log.append(pd.DataFrame([_rec(0), {**_rec(1), "request_time": pd.NaT}]))
    log.close()
    assert log.written == 1 and log.lost == 1 and log.by_day["unknown"]["lost"] == 1
    assert read_log(tmp_path / "log")["user_id"].tolist() == ["U0"]


def test_the_log_files_are_listed_again_whenever_a_day_may_have_changed(tmp_path):
    """A day's listing is kept only while its folder is unchanged and was listed well after its
    last change: files added at once after a listing are seen, on a quiet day and a busy one."""
    from newsrec.predlog import log_files

    day = tmp_path / "date=2026-11-05"
    day.mkdir()
    (day / "part-1.parquet").write_bytes(b"")
    old = time.time() - 3600
    os.utime(day, (old, old))  # a past day, settled
    assert [f.name for f in log_files(tmp_path)] == ["part-1.parquet"]
    assert [f.name for f in log_files(tmp_path)] == ["part-1.parquet"]  # from the listing kept
    for n in (2, 3):  # the day being written: each file seen at once, the clock's tick or not
        (day / f"part-{n}.parquet").write_bytes(b"")
        (day / "other.tmp").write_bytes(b"")
        assert [f.name for f in log_files(tmp_path)] == [f"part-{i}.parquet" for i in range(1, n + 1)]
    (day / "part-1.parquet").unlink()  # set aside
    assert [f.name for f in log_files(tmp_path)] == ["part-2.parquet", "part-3.parquet"]


def test_outcomes_land_in_the_partition_of_their_request_day_whatever_the_time_type(tmp_path):
    from newsrec.predlog import OUTCOMES, write_outcomes

    utc = pd.to_datetime(["2026-11-05 23:59:59", "2026-11-06 00:00:00", "2026-11-05 00:00:00"], utc=True)
    for i, times in enumerate([utc, utc.tz_convert("Europe/Berlin"), utc.strftime("%Y-%m-%dT%H:%M:%SZ")]):
        root = tmp_path / str(i)
        write_outcomes(
            root,
            pd.DataFrame({"request_id": ["a", "b", "c"], "news_id": "N", "clicked": [1, 0, 1], "request_time": times}),
        )
        assert sorted(p.name for p in root.iterdir()) == ["date=2026-11-05", "date=2026-11-06"]
        got = read_log(root).sort_values("request_id", ignore_index=True)
        assert got.columns.tolist() == OUTCOMES and got["request_id"].tolist() == ["a", "b", "c"]
        assert (got["request_time"] == pd.Series(utc)).all()
        assert read_log(root, "2026-11-06", "2026-11-06")["request_id"].tolist() == ["b"]
