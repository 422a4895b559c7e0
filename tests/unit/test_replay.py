"""Traffic from logged impressions: requests of the last day in time order, and the clicks
on what the service showed."""

import pandas as pd

from newsrec.replay import outcomes, replay, requests_from


def _imps() -> pd.DataFrame:
    t = pd.Timestamp("2026-11-08 10:00", tz="UTC")
    rows = [  # impression, user, time, candidate, position, clicked
        (1, "U1", t - pd.Timedelta(days=1), "N1", 0, 1),
        (1, "U1", t - pd.Timedelta(days=1), "N2", 1, 0),
        (2, "U2", t + pd.Timedelta(hours=2), "N3", 0, 0),
        (2, "U2", t + pd.Timedelta(hours=2), "N4", 1, 1),
        (3, "U3", t, "N5", 0, 1),
        (3, "U3", t, "N6", 1, 0),
        (4, "U4", t, "N7", 0, None),
    ]
    return pd.DataFrame(rows, columns=["impression_id", "user_id", "time", "news_id", "position", "clicked"])


def test_requests_are_the_last_days_labeled_impressions_in_time_order():
    got = list(requests_from(_imps(), n=10))
    assert [r["user_id"] for r, _ in got] == ["U3", "U2"]  # day before and unlabeled left out
    req, clicks = got[0]
    assert req == {"user_id": "U3", "candidates": ["N5", "N6"], "k": 10, "request_time": "2026-11-08T10:00:00+00:00"}
    assert clicks == {"N5": 1, "N6": 0}
    assert len(list(requests_from(_imps(), n=1))) == 1
    assert [r["user_id"] for r, _ in requests_from(_imps(), n=10, last_days=2)] == ["U1", "U3", "U2"]


def test_outcomes_are_the_clicks_on_what_was_shown():
    resp = {
        "request_id": "r1",
        "request_time": "2026-11-08T10:00:00+00:00",
        "items": [{"news_id": "N6"}, {"news_id": "N9"}],
    }
    out = outcomes(resp, {"N5": 1, "N6": 1})
    assert out[["news_id", "clicked"]].values.tolist() == [["N6", 1], ["N9", 0]]  # unseen id: no click
    assert (out["request_id"] == "r1").all()


def test_replay_sends_every_request_and_reports_progress():
    seen, ticks = [], []

    def recommend(req):
        seen.append(req["user_id"])
        return {
            "request_id": req["user_id"],
            "request_time": req["request_time"],
            "items": [{"news_id": c} for c in reversed(req["candidates"])][:1],
        }

    out = replay(requests_from(_imps(), n=10), recommend, ticks.append)
    assert seen == ["U3", "U2"] and ticks == [1, 2]
    assert out[["request_id", "news_id", "clicked"]].values.tolist() == [["U3", "N6", 0], ["U2", "N4", 1]]
    assert replay(iter([]), recommend).empty
