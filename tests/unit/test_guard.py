"""The service's front door (services/guard.py) around a small ASGI app that answers the way
BentoML does: content type, body size, API key, concurrency, error shapes, the OpenAPI patch."""

import asyncio
import json

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from services.guard import Guard, normalized, patched_openapi

DOC = {
    "openapi": "3.0.2",
    "paths": {
        "/recommend": {"post": {"responses": {"200": {"description": "ok"}}}},
        "/readyz": {"get": {"responses": {"200": {"description": "ok"}}}},
    },
    "components": {"schemas": {"Out": {"type": "object", "properties": {"why": {"type": "string", "default": None}}}}},
}


async def recommend(request):
    body = await request.json()
    if body.get("shape") == "list":  # BentoML's 4xx from an exception
        return JSONResponse([{"error": "request_time is before the oldest event"}], status_code=400)
    if body.get("shape") == "fields":  # BentoML's validation error
        return JSONResponse({"error": "1 validation error", "detail": [{"loc": ["k"], "msg": "too big"}]}, 400)
    if body.get("sleep"):
        await asyncio.sleep(body["sleep"])
    return JSONResponse({"ok": len(json.dumps(body))})


async def docs(request):
    return JSONResponse(DOC)


def client(monkeypatch, key: str | None = None, **kw) -> TestClient:
    if key:
        monkeypatch.setenv("NEWSREC_API_KEY", key)
    else:
        monkeypatch.delenv("NEWSREC_API_KEY", raising=False)
    app = Starlette(routes=[Route("/recommend", recommend, methods=["POST"]), Route("/docs.json", docs)])
    opts = {"max_body_bytes": 2_000, "max_concurrency": 4} | kw
    return TestClient(Guard(app, routes=("/recommend",), **opts))


def error_of(r) -> dict:
    body = r.json()
    assert set(body) == {"error", "detail"} and all(isinstance(v, str) for v in body.values()), body
    return body


def test_json_passes_and_another_content_type_gets_415_naming_it(monkeypatch):
    c = client(monkeypatch)
    assert c.post("/recommend", json={"user_id": "U1"}).json() == {"ok": 17}
    r = c.post("/recommend", content=b"user_id=U1", headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 415 and "multipart/form-data" in error_of(r)["detail"]
    r = c.post("/recommend", content=b"{}", headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200


def test_a_body_over_the_limit_gets_413_with_or_without_a_length(monkeypatch):
    c = client(monkeypatch)
    big = json.dumps({"user_id": "x" * 3_000}).encode()
    r = c.post("/recommend", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "serve.max_body_bytes" in error_of(r)["detail"]
    chunked = c.post("/recommend", content=iter([big[:1500], big[1500:]]), headers={"content-type": "application/json"})
    assert chunked.status_code == 413


def test_error_bodies_come_in_the_documented_shape(monkeypatch):
    c = client(monkeypatch)
    r = c.post("/recommend", json={"shape": "list"})
    assert r.status_code == 400 and error_of(r)["error"].startswith("request_time")
    r = c.post("/recommend", json={"shape": "fields"})
    assert r.status_code == 400 and error_of(r)["detail"] == "k: too big"
    assert json.loads(normalized(b"not json at all")) == {"error": "not json at all", "detail": ""}


def test_the_api_key_guards_the_route_when_set(monkeypatch):
    c = client(monkeypatch, key="s3cret")
    assert c.post("/recommend", json={}).status_code == 401
    assert c.post("/recommend", json={}, headers={"x-api-key": "wrong"}).status_code == 401
    assert c.post("/recommend", json={}, headers={"x-api-key": "s3cret"}).status_code == 200
    assert c.post("/recommend", json={}, headers={"authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize("limit", [1, 2])
def test_requests_over_the_concurrency_limit_get_503_and_retry_after(monkeypatch, limit):
    import threading

    c = client(monkeypatch, max_concurrency=limit)
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(c.post("/recommend", json={"sleep": 0.5}))) for _ in range(limit + 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in got)
    assert codes.count(200) == limit and codes.count(503) == 2
    shed = next(r for r in got if r.status_code == 503)
    assert shed.headers["retry-after"] == "1" and error_of(shed)["error"] == "overloaded"
    assert c.post("/recommend", json={}).status_code == 200  # the slots come back


@pytest.mark.parametrize(
    "deadline, hold, codes, why",
    [
        # the first holds the thread 0.3 s: the queue behind it stands, each wait over the target is shed
        ({"target_ms": 25, "max_wait_ms": 1_000}, 0.3, [200, 503, 503, 503], "the queue has stood"),
        # a burst (0.1 s) that the worker drains within the interval: served, though over the target
        ({"target_ms": 25, "max_wait_ms": 1_000, "interval_ms": 1_000}, 0.1, [200, 200, 200, 200], None),
        # no standing queue within the interval, but a wait over max_wait_ms: shed
        ({"target_ms": 25, "max_wait_ms": 100, "interval_ms": 60_000}, 0.3, [200, 503, 503, 503], "max_wait_ms"),
    ],
)
def test_the_worker_sheds_a_standing_queue_and_serves_a_burst(deadline, hold, codes, why):
    """As in BentoML: the API runs on one worker thread (a capacity limiter of 1), in a copy of
    the request's context, and asks its Deadline first. One request holds the thread; three
    more arrive behind it."""
    import functools
    import threading
    import time

    import anyio

    from services.guard import Deadline

    limiter, d = [], Deadline(**deadline)

    def work(hold: float):
        late = d.overdue()
        if late is not None:
            return late
        time.sleep(hold)
        return JSONResponse({"ok": 1})

    async def queued(request):
        limiter or limiter.append(anyio.CapacityLimiter(1))
        return await anyio.to_thread.run_sync(
            functools.partial(work, (await request.json())["hold"]), limiter=limiter[0]
        )

    app = Starlette(routes=[Route("/recommend", queued, methods=["POST"])])
    got = []
    # one event loop for every request (the limiter belongs to it), as in a server's worker
    with TestClient(Guard(app, routes=("/recommend",), max_body_bytes=2_000, max_concurrency=8)) as c:
        c.post("/recommend", json={"hold": 0})  # a request that did not wait: the queue drained now
        first = threading.Thread(target=lambda: got.append(c.post("/recommend", json={"hold": hold})))
        first.start()
        time.sleep(0.01)  # the first holds the thread
        rest = [threading.Thread(target=lambda: got.append(c.post("/recommend", json={"hold": 0}))) for _ in range(3)]
        for t in rest:
            t.start()
        for t in [first, *rest]:
            t.join(timeout=10)
        assert sorted(r.status_code for r in got) == codes
        if why:
            shed = next(r for r in got if r.status_code == 503)
            assert shed.headers["retry-after"] == "1" and why in error_of(shed)["detail"]
        time.sleep(0.15)
        assert c.post("/recommend", json={"hold": 0}).status_code == 200  # drained: served again
    assert d.overdue() is None  # outside a request: nothing to judge


def test_the_openapi_document_declares_the_guards_statuses_and_nullable_fields(monkeypatch):
    doc = client(monkeypatch).get("/docs.json").json()
    assert {"401", "413", "415", "503"} <= set(doc["paths"]["/recommend"]["post"]["responses"])
    assert "503" in doc["paths"]["/readyz"]["get"]["responses"]
    assert doc["components"]["schemas"]["Out"]["properties"]["why"]["nullable"] is True
    assert patched_openapi(json.loads(json.dumps(DOC)), ())["paths"]["/recommend"]["post"]["responses"].keys() == {
        "200"
    }


def test_serving_beyond_this_machine_needs_a_key_or_an_explicit_yes(monkeypatch):
    from newsrec.stages.serve import check_exposure

    monkeypatch.delenv("NEWSREC_API_KEY", raising=False)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_exposure(host)
    with pytest.raises(ValueError, match="NEWSREC_API_KEY is not set"):
        check_exposure("0.0.0.0")
    check_exposure("0.0.0.0", allow_without_key=True)
    monkeypatch.setenv("NEWSREC_API_KEY", "k")
    check_exposure("0.0.0.0")


def test_request_time_before_the_store_or_far_ahead_of_the_clock_is_refused():
    from datetime import UTC, datetime

    from newsrec.recommend import BadRequest, check_time

    now, oldest = datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    check_time(None, oldest, now, 24)
    check_time(datetime(2026, 11, 9, 10), oldest, now, 24)  # a past-dated replay: served
    check_time(datetime(2026, 12, 3, 23, tzinfo=UTC), oldest, now, 24)
    for t, why in ((datetime(1, 1, 1), "oldest event"), (datetime(9999, 12, 31, tzinfo=UTC), "serve.max_future_skew")):
        with pytest.raises(BadRequest, match=f"request_time .*{why}"):
            check_time(t, oldest, now, 24)


def test_the_queue_target_in_params_serves_bursts_at_80_percent_and_bounds_2x_in_the_queue_model():
    """bench/shedding.py runs Deadline.judge on a simulated queue (Poisson arrivals over the
    workers, lognormal service times): with params' serve section, an open loop at 80% of
    capacity sheds nothing, and at 2x the answered p99 stays within 3x of the 80% one; a
    target of 10 service times would shed the bursts of an 80% load."""
    import importlib.util
    import pathlib

    from newsrec.config import load_params

    root = pathlib.Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("shedding", root / "bench" / "shedding.py")
    shedding = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shedding)
    serve = load_params(root / "params.yaml").serve
    model = {"capacity": 210.0, "workers": serve.workers, "cv": 0.35, "shed_ms": 3.3}
    model["max_concurrency"] = serve.max_concurrency

    def runs(load: float, target: float, seconds: float) -> list[dict]:
        return [shedding.simulate(load, target, serve.max_wait_ms, seconds=seconds, seed=s, **model) for s in range(5)]

    at_80 = runs(0.8, serve.queue_target_services, 60)
    assert [r["shed"] for r in at_80] == [0] * 5
    at_2x = runs(2.0, serve.queue_target_services, 30)
    assert all(r["shed"] > r["requests"] / 3 for r in at_2x)  # the overload is shed
    p99 = {k: sum(r["p99_ms"] for r in v) / len(v) for k, v in (("80", at_80), ("2x", at_2x))}
    assert p99["2x"] <= 3 * p99["80"], p99
    assert sum(r["shed"] for r in runs(0.8, 10, 60)) > 0


def test_the_queue_target_follows_the_workers_time_per_request():
    """With target_services the target is so many of the worker's mean service times: it
    shrinks as requests get faster, so the same wait is shed on a fast worker and served on
    a slow one."""
    from services.guard import Deadline

    d = Deadline(100, 1_000, target_services=10)  # first guess: 10 ms a request, a 100 ms target
    assert d.target == pytest.approx(0.1)
    for _ in range(200):
        d.served(0.002)
    assert d.target == pytest.approx(0.02, rel=0.01)
    d.drained = 0.0  # no wait under the target for a long time: a standing queue
    assert d.judge(0.05, now=10.0) == "the queue has stood"
    for _ in range(200):
        d.served(0.02)
    d.drained = 0.0
    assert d.judge(0.05, now=10.0) is None  # 0.05 s is under 10 requests of 20 ms
    assert Deadline(100, 1_000).target == pytest.approx(0.1)  # without target_services: fixed


def test_while_the_queue_stands_a_request_with_too_much_work_ahead_is_refused_at_the_door(monkeypatch):
    """Deadline.at_door: only while the queue stands, and only past the target's worth of work
    ahead; through the Guard, the refused request never reaches the API."""
    import time

    from services.guard import Deadline

    d = Deadline(100, 1_000, target_services=10)  # 10 ms a request: a 100 ms target
    d.drained = 0.0
    assert d.at_door(5, now=10.0) is None  # 50 ms of work ahead: admitted
    assert "20 requests ahead" in d.at_door(20, now=10.0)
    assert d.at_door(20, now=0.05) is None  # the queue drained 50 ms ago: not standing
    assert Deadline(100, 1_000).at_door(1_000, now=1e9) is None  # a fixed target: never at the door

    d.drained, d.service = time.monotonic() - 60, 0.001  # a standing queue of 1 ms requests
    c = client(monkeypatch, max_concurrency=64, deadline=d)
    assert c.post("/recommend", json={"a": 1}).status_code == 200  # none ahead: admitted
    c.app.active = 11  # eleven in the worker: 11 ms of work, over the 10 ms target
    r = c.post("/recommend", json={"a": 1})
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and "queue has stood" in error_of(r)["detail"]


def test_after_a_shed_the_door_refuses_more_than_the_target_ahead_until_the_worker_empties():
    """Under overload a request at the head waits under the target now and then, and the
    queue counts as draining again; the door then stays shut to requests with more than the
    target's work ahead (from the shed at take-up) until one finds the worker empty."""
    from services.guard import Deadline

    d = Deadline(100, 1_000, target_services=10)  # 10 ms a request: a 100 ms target
    now = 50.0
    assert d.judge(0.05, now) is None  # waited under the target: the queue drains
    assert d.at_door(12, now) is None  # 120 ms ahead, but draining and nothing shed: admitted
    d.drained = now - 1.0  # then no wait under the target for a second: a standing queue
    assert d.judge(0.2, now) == "the queue has stood" and d.shut
    assert d.judge(0.05, now) is None  # the head waited under the target: draining again ...
    assert "the worker is shedding" in d.at_door(12, now)  # ... but the door stays shut
    assert d.at_door(9, now) is None  # 90 ms ahead: under the target, admitted
    assert d.at_door(0, now) is None and not d.shut  # the worker empty: the door opens
    assert d.at_door(12, now) is None
