"""Which live day `newsrec traffic` lives when it is not told: the first one the pipeline has
not trained on, read from the time the built store is up to date with."""

from __future__ import annotations

import pandas as pd
import pytest

from newsrec.stages.traffic import days_into

START = pd.Timestamp("2026-11-09", tz="UTC")


@pytest.mark.parametrize(
    ("as_of", "days"),
    [
        ("2026-11-07T00:00:00", 0),  # built on the logged days only
        ("2026-11-09T00:00:00", 0),  # up to the first live day: it is still to live
        ("2026-11-10T00:00:00", 1),  # live day 0 served and collected: live day 1 next
        ("2026-11-12T00:00:00", 3),
        ("2026-11-10T05:00:00", 2),  # part of live day 1 in the store: the next whole day
    ],
)
def test_the_next_live_day_is_the_first_the_store_has_not_begun(as_of, days):
    assert days_into(pd.Timestamp(as_of, tz="UTC"), START) == days


def test_an_hours_answers_join_their_requests_rows_from_the_days_frame():
    """_ask against a real HTTP server that ranks each request's candidates its own way: every
    candidate row gets its request's answer, as the keyed concat (the reference) gives it."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import numpy as np

    from newsrec.data.readers import requests
    from newsrec.stages.traffic import _ask

    class Ranking(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 -- http.server's name
            req = json.loads(self.rfile.read(int(self.headers["content-length"])))
            ids = sorted(req["candidates"], reverse=len(req["candidates"]) % 2 == 0)
            body = json.dumps(
                {
                    "request_id": f"r-{req['user_id']}",
                    "model_version": "3",
                    "items": [{"news_id": n, "engagement": 0.1 * i, "score": 1.0 - 0.1 * i} for i, n in enumerate(ids)],
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    rng = np.random.default_rng(0)
    parts = []
    for u in range(40):
        ids = [f"N{j}" for j in rng.choice(30, int(rng.integers(1, 12)), replace=False)]
        parts.append(
            pd.DataFrame({"impression_id": u, "news_id": ids, "user_id": f"U{u}", "p_click": rng.random(len(ids))})
        )
    # the day's rows, impressions interleaved as a day's frame may hold them
    frame = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=1, ignore_index=True)
    frame["time"] = pd.Timestamp("2026-11-05 10:00", tz="UTC")
    batch = list(requests(frame))
    assert [r["user_id"] for r, _ in batch] == list(dict.fromkeys(frame["user_id"]))  # first-seen order
    for req, pos in batch:
        assert (frame["user_id"].iloc[pos] == req["user_id"]).all() and req["k"] == len(pos)
        assert req["candidates"] == frame["news_id"].iloc[pos].tolist()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ranking)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = _ask(f"http://127.0.0.1:{server.server_address[1]}", batch, 4, frame)
    finally:
        server.shutdown()
    key = ["user_id", "news_id"]
    want = frame
    assert len(got) == len(want) and got[key].drop_duplicates().shape[0] == len(want)
    got = got.sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got[want.columns], want.sort_values(key, ignore_index=True))
    assert (got["request_id"] == "r-" + got["user_id"]).all() and (got["model_version"] == "3").all()
    for _, g in got.groupby("user_id"):  # ranks follow the answer's order of that request
        ids = sorted(g["news_id"], reverse=len(g) % 2 == 0)
        assert g.set_index("news_id").loc[ids, "rank"].tolist() == list(range(1, len(g) + 1))


@pytest.mark.parametrize("span_h", [0, 1, 3])
def test_a_log_files_rows_by_hour_are_what_a_groupby_gives(tmp_path, span_h):
    import numpy as np

    from newsrec.stages.advance import _hourly

    rng = np.random.default_rng(span_h)
    start = pd.Timestamp("2026-11-05 10:00", tz="UTC")
    times = start + pd.to_timedelta(np.sort(rng.integers(0, 3600 * (span_h + 1), 50)), "s")
    df = pd.DataFrame({"request_id": [f"r{i}" for i in range(50)], "request_time": times, "score": rng.random(50)})
    (tmp_path / "date=2026-11-05").mkdir()
    f = tmp_path / "date=2026-11-05" / "part-1.parquet"
    df.to_parquet(f, index=False)
    got = _hourly(f)
    want = {f"{h:%Y-%m-%dT%H}": p.reset_index(drop=True) for h, p in df.groupby(df["request_time"].dt.floor("h"))}
    assert list(got) == list(want) and len(got) == len(set(times.floor("h")))
    for k in want:
        pd.testing.assert_frame_equal(got[k], want[k])
