"""`newsrec traffic`: the simulated readers of the live days call the running service.

Hour by hour (features.advance_hours) the online store moves forward first (`advance`),
the service picks the update up, then that hour's readers ask for their candidates
ranked and click on what they see (data/outcomes); the service logs every response
(data/predictions). reports/traffic.json keeps, per day, what the readers got and what the
oracle (the true click probability and quality, blended the same way) would have given
them. Living a day again starts from a copy of the store the `feast` stage built.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.canonical import article_categories
from newsrec.data.io import read_json, write_json
from newsrec.data.readers import live_days, requests
from newsrec.drift import SHOWN_K
from newsrec.predlog import log_days, log_files, read_log, write_outcomes
from newsrec.simulate import day_metrics
from newsrec.stages.advance import advance
from newsrec.stages.serve import api_headers


@dataclass(frozen=True)
class Traffic:
    """reports/traffic.json"""

    days: list[str]
    requests: int
    shown: int
    ctr: float
    per_day: list[dict] = field(default_factory=list)


RETRY_503_S = 120  # how long a reader keeps retrying a request the service sheds (503)


def _post(url: str, results: list, jobs: list[tuple[dict, np.ndarray]], lock: threading.Lock) -> None:
    """One reader thread: keep-alive requests until the jobs run out. A request the service
    sheds (503: overloaded, on a busy machine) is sent again after its Retry-After, as a
    well-behaved client does, for up to RETRY_503_S seconds; any other answer but 200 stops."""
    host, port = url.removeprefix("http://").split(":")
    c, headers = http.client.HTTPConnection(host, int(port), timeout=60), api_headers()
    while True:
        with lock:
            if not jobs:
                break
            req, rows = jobs.pop()
        give_up = time.monotonic() + RETRY_503_S
        while True:
            c.request("POST", "/recommend", json.dumps(req), headers)
            r = c.getresponse()
            body = r.read()
            if r.status != 503 or time.monotonic() > give_up:
                break
            time.sleep(min(float(r.getheader("retry-after") or 1), 1.0) * (0.5 + random.random()))
        if r.status != 200:
            raise RuntimeError(f"{url}/recommend answered {r.status}: {body[:300]!r}")
        results.append((json.loads(body), rows))
    c.close()


def _ask(url: str, batch: list[tuple[dict, np.ndarray]], clients: int, frame: pd.DataFrame) -> pd.DataFrame:
    """Send an hour's requests (each with its rows' positions in the day's `frame`) from
    `clients` readers at once; the candidate rows with what the service answered (request
    id, rank, engagement, score, model version)."""
    results, lock, jobs = [], threading.Lock(), list(reversed(batch))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _post(url, results, jobs, lock)
        except BaseException as e:  # the first failure stops the hour, and says why
            errors.append(e)
            with lock:
                jobs.clear()

    threads = [threading.Thread(target=run) for _ in range(min(clients, len(batch)) or 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0] if isinstance(errors[0], RuntimeError) else RuntimeError(f"{url}: {errors[0]}")
    if not results:
        return pd.DataFrame()
    items = pd.DataFrame.from_records(
        [
            {**item, "rank": r, "request_id": resp["request_id"], "model_version": resp["model_version"], "_i": i}
            for i, (resp, _) in enumerate(results)
            for r, item in enumerate(resp["items"], start=1)
        ]
    )
    # each request's candidate rows, numbered by response
    rows = frame.iloc[np.concatenate([pos for _, pos in results])].reset_index(drop=True)
    rows.insert(0, "_i", np.repeat(np.arange(len(results)), [len(pos) for _, pos in results]))
    return rows.merge(items, on=["_i", "news_id"], how="inner").drop(columns="_i")


_PROBES: dict[str, dict[int, http.client.HTTPConnection]] = {}  # per service: a keep-alive connection per worker


def _statuses(url: str, workers: int) -> dict[int, dict]:
    """GET /status/ of every worker: one keep-alive connection each (a connection stays with
    the worker that accepted it), new connections opened until each worker has one."""
    conns, out = _PROBES.setdefault(url, {}), {}
    host, port = url.removeprefix("http://").split(":")

    def ask(c: http.client.HTTPConnection) -> dict:
        c.request("GET", "/status/")
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise ValueError(f"/status/ answered {r.status}")
        return json.loads(body)

    for w, c in list(conns.items()):
        try:
            out[w] = ask(c)
        except (OSError, ValueError, http.client.HTTPException):
            c.close()
            del conns[w]
    for _ in range(4 * workers if len(conns) < workers else 0):
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            st = ask(c)
        except (OSError, ValueError, http.client.HTTPException):
            c.close()
            break
        if st["worker"] in conns:
            c.close()
            continue
        conns[st["worker"]], out[st["worker"]] = c, st
        if len(conns) >= workers:
            break
    return out


def _wait_for(url: str, as_of: pd.Timestamp, workers: int, timeout: float = 60) -> None:
    """Until every worker of the service reads the store as of `as_of`."""
    seen, deadline = {}, time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w, st in _statuses(url, workers).items():
            seen[w] = pd.Timestamp(st["features_as_of"]) if st["features_as_of"] else None
        if len(seen) >= workers and all(v == as_of for v in seen.values()):
            return
        time.sleep(0.01)
    raise TimeoutError(f"the service at {url} did not pick up the online store as of {as_of} ({seen})")


_SEEN: dict = {}  # the request ids of each log file read by _wait_logged (each is written whole, once)


def _wait_logged(paths: Paths, day: str, ids: set[str], timeout: float = 60) -> None:
    """Until the service's prediction log holds every response of `ids` (it writes when the traffic pauses)."""
    deadline, missing = time.monotonic() + timeout, set(ids)
    while time.monotonic() < deadline:
        for f in log_files(paths.predictions, day, day):
            if f not in _SEEN:
                _SEEN[f] = set(read_log(paths.predictions, columns=["request_id"], files=[f])["request_id"])
            missing = {r for r in missing if r not in _SEEN[f]}
        if not missing:
            return
        time.sleep(0.005)
    raise TimeoutError(f"{paths.predictions}: responses of {day} missing from the log after {timeout:.0f} s")


def _store_for(paths: Paths, start: pd.Timestamp, say: Say):
    """The store to advance. The one the `feast` stage built stays as built: the readers
    advance a copy of it. A store already past `start` (the day is lived again) is
    replaced by a new copy, and the log and outcomes of those days are cleared."""
    from newsrec.adapters.feast import FeatureStore, current, fork, switch

    built = read_json(paths.feast)["store"]
    store = FeatureStore(paths.feature_repo, paths.online)
    as_of = pd.Timestamp(store.state()["as_of"])
    if current(paths.online) != built and as_of <= start:
        return store
    if as_of > start:
        again = [d for d in log_days(paths.predictions) if d >= f"{start:%Y-%m-%d}"]
        for root in (paths.predictions, paths.outcomes):
            for d in again:
                shutil.rmtree(root / f"date={d}", ignore_errors=True)
        say(
            f"living from {start:%Y-%m-%d} again: the store restarts from the one `feast` built; log of {again} cleared"
        )
    switch(paths.online, fork(paths.feature_repo, paths.online, built), keep=(built,))
    store = FeatureStore(paths.feature_repo, paths.online)
    if (built_as_of := pd.Timestamp(store.state()["as_of"])) > start:
        raise ValueError(
            f"the online store `feast` built is as of {built_as_of}, after {start}: the pipeline has trained on "
            "that day (data/collected); leave out --first to live the next day it has not"
        )
    return store


def unlived(paths: Paths, live_start: pd.Timestamp) -> int:
    """The first live day the pipeline has not trained on: 0, or the day after the last one
    collected from the log (the store `feast` built is up to date with it)."""
    from newsrec.adapters.feast import home_of

    state = home_of(paths.online).state(read_json(paths.feast)["store"]) or {}
    return days_into(pd.Timestamp(state["as_of"]), live_start) if state.get("as_of") else 0


def days_into(as_of: pd.Timestamp, live_start: pd.Timestamp) -> int:
    """How many live days (from `live_start`) a store up to date with `as_of` has begun."""
    return max(0, math.ceil((as_of - live_start) / pd.Timedelta(days=1)))


def traffic(
    p: Params,
    paths: Paths,
    url: str,
    days: int = 1,
    first: int | None = None,
    scenario: str = "none",
    shock_day: int = 0,
    clients: int = 4,
    say: Say | None = None,
) -> Traffic:
    """Live days first .. first + days - 1 (after the logged ones) through the service at
    `url`, `scenario` switched on from live day `shock_day`. Without `first`: from the first
    live day the pipeline has not trained on (a day served and collected is not lived again
    on a model that learned from it)."""
    say = say or progress("traffic")
    if p.ingest.source != "sim":
        say(
            f"no live days for ingest.source {p.ingest.source}: the readers are the simulated world's; "
            f"send your own requests to {url}/recommend and record what readers clicked with newsrec.predlog.write_outcomes"
        )
        return Traffic([], 0, 0, float("nan"))
    w = p.simulate.live_world(p.world, scenario, shock_day)
    step = pd.Timedelta(hours=p.features.advance_hours)
    if first is None:
        first = unlived(paths, pd.Timestamp(w.start) + pd.Timedelta(days=w.days))
        if first + days > w.live_days:
            raise ValueError(
                f"the pipeline has trained on live days 0..{first - 1} (data/collected) and the world has "
                f"{w.live_days} (world.live_days): ask for fewer days, or start over with `make clean ALL=1` "
                "(it removes the logged traffic too)"
            )
        if first:
            say(f"from live day {first}: the days before are served, collected and in the training data")
    start = pd.Timestamp(w.start) + pd.Timedelta(days=w.days + first)
    store = _store_for(paths, start, say)
    categories = article_categories(paths, p.ingest.source)
    per_day, total = [], []
    for d, frame in live_days(w, first, days):
        t0, secs = time.monotonic(), {"advance": 0.0, "requests": 0.0, "log": 0.0}
        parts = dict.fromkeys(("collect", "build", "push", "pickup"), 0.0)  # the advance's, summed
        day0 = pd.Timestamp(w.start) + pd.Timedelta(days=w.days + d)
        by_hour: dict[int, list] = {}
        for job in requests(frame):  # each reader's request, in the hour it arrives
            by_hour.setdefault(int((frame["time"].iat[job[1][0]] - day0) // step), []).append(job)
        served = []
        for h in range(int(pd.Timedelta(days=1) / step)):
            s = time.monotonic()
            moved = advance(p, paths, store, day0 + h * step, say=lambda m: None)
            s1 = time.monotonic()
            _wait_for(url, day0 + h * step, p.serve.workers)
            secs["advance"] += time.monotonic() - s
            for k, v in (moved.seconds | {"pickup": time.monotonic() - s1}).items():
                parts[k] += v
            batch = by_hour.get(h, [])
            if not batch:
                continue
            s = time.monotonic()
            got = _ask(url, batch, clients, frame)
            write_outcomes(paths.outcomes, got.rename(columns={"time": "request_time"}))
            secs["requests"] += time.monotonic() - s
            s = time.monotonic()
            _wait_logged(paths, f"{day0:%Y-%m-%d}", set(got["request_id"]))
            secs["log"] += time.monotonic() - s
            served.append(got)
        rows = pd.concat(served, ignore_index=True)
        rows["category"] = rows["news_id"].map(categories)  # for the beyond-accuracy metrics of the day
        got = day_metrics(rows, p)
        oracle = got.pop("oracle")
        versions = sorted(rows["model_version"].unique().tolist())
        per_day.append(
            {
                "day": d,
                "date": f"{day0:%Y-%m-%d}",
                "requests": int(rows["request_id"].nunique()),
                "model_versions": versions,
            }
            | got
            | {
                "oracle": oracle,
                "seconds": {k: round(v, 1) for k, v in secs.items()} | {"day": round(time.monotonic() - t0, 1)},
                "advance_seconds": {k: round(v, 2) for k, v in parts.items()},
            }
        )
        total.append(rows)
        say(
            f"live day {d} ({day0:%Y-%m-%d}, {scenario}): {per_day[-1]['requests']:,} readers served by "
            f"v{'/v'.join(versions)}: ctr@10 {got['ctr@10']:.4f} ndcg@10 {got['ndcg@10']:.4f} quality@10 "
            f"{got['quality@10']:.3f} (oracle {oracle['ndcg@10']:.4f}) in {per_day[-1]['seconds']['day']:.0f} s"
        )
    rows = pd.concat(total, ignore_index=True)
    top = rows["rank"] <= SHOWN_K
    out = Traffic(
        [x["date"] for x in per_day],
        int(rows["request_id"].nunique()),
        int(top.sum()),
        float(rows.loc[top, "clicked"].mean()),
        per_day,
    )
    write_json(paths.traffic, asdict(out))
    return out
