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
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.io import read_json, write_json
from newsrec.data.readers import live_days, requests
from newsrec.drift import SHOWN_K
from newsrec.predlog import log_days, read_log, write_outcomes
from newsrec.simulate import day_metrics
from newsrec.stages.advance import advance
from newsrec.stages.serve import status


@dataclass(frozen=True)
class Traffic:
    """reports/traffic.json"""

    days: list[str]
    requests: int
    shown: int
    ctr: float
    per_day: list[dict] = field(default_factory=list)


def _post(url: str, results: list, jobs: list[tuple[dict, pd.DataFrame]], lock: threading.Lock) -> None:
    """One reader thread: keep-alive requests until the jobs run out."""
    host, port = url.removeprefix("http://").split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    while True:
        with lock:
            if not jobs:
                break
            req, rows = jobs.pop()
        c.request("POST", "/recommend", json.dumps(req), {"content-type": "application/json"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"{url}/recommend answered {r.status}: {body[:300]!r}")
        results.append((json.loads(body), rows))
    c.close()


def _ask(url: str, batch: list[tuple[dict, pd.DataFrame]], clients: int) -> pd.DataFrame:
    """Send an hour's requests from `clients` readers at once; the candidate rows with what
    the service answered (request id, rank, engagement, score, model version)."""
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
    parts = []
    for resp, rows in results:
        items = pd.DataFrame(resp["items"]).assign(rank=lambda d: np.arange(1, len(d) + 1))
        parts.append(
            rows.merge(items, on="news_id", how="inner").assign(
                request_id=resp["request_id"], model_version=resp["model_version"]
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _wait_for(url: str, as_of: pd.Timestamp, workers: int, timeout: float = 60) -> None:
    """Until every worker of the service reads the store as of `as_of`."""
    seen, deadline = {}, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if st := status(url):
            seen[st["worker"]] = pd.Timestamp(st["features_as_of"]) if st["features_as_of"] else None
            if len(seen) >= workers and all(v == as_of for v in seen.values()):
                return
        time.sleep(0.05)
    raise TimeoutError(f"the service at {url} did not pick up the online store as of {as_of} ({seen})")


_SEEN: dict = {}  # log files already read by _wait_logged (each is written whole, once)


def _wait_logged(paths: Paths, day: str, ids: set[str], timeout: float = 60) -> None:
    """Until the service's prediction log holds every response of `ids` (it flushes every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logged = read_log(paths.predictions, day, day, columns=["request_id"], cache=_SEEN)
        if not len(ids - set(logged["request_id"] if len(logged) else [])):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{paths.predictions}: responses of {day} missing from the log after {timeout:.0f} s")


def _store_for(paths: Paths, start: pd.Timestamp, say: Say):
    """The store to advance. The one the `feast` stage built stays as built: the readers
    advance a copy of it. A store already past `start` (the day is lived again) is
    replaced by a new copy, and the log and outcomes of those days are cleared."""
    from newsrec.adapters.feast import FeatureStore, current, fork, switch

    built = read_json(paths.feast)["store"]
    store = FeatureStore(paths.feature_repo, paths.online)
    as_of = pd.Timestamp(store.state()["as_of"])
    if current(paths.online).name != built and as_of <= start:
        return store
    if as_of > start:
        again = [d for d in log_days(paths.predictions) if d >= f"{start:%Y-%m-%d}"]
        for root in (paths.predictions, paths.outcomes):
            for d in again:
                shutil.rmtree(root / f"date={d}", ignore_errors=True)
        say(
            f"living from {start:%Y-%m-%d} again: the store restarts from the one `feast` built; log of {again} cleared"
        )
    switch(paths.online, fork(paths.online, built), keep=(built,))
    store = FeatureStore(paths.feature_repo, paths.online)
    if (built_as_of := pd.Timestamp(store.state()["as_of"])) > start:
        raise ValueError(
            f"the online store `feast` built is as of {built_as_of}, after {start}: run the pipeline first"
        )
    return store


def traffic(
    p: Params,
    paths: Paths,
    url: str,
    days: int = 1,
    first: int = 0,
    scenario: str = "none",
    shock_day: int = 0,
    clients: int = 4,
    say: Say | None = None,
) -> Traffic:
    """Live days first .. first + days - 1 (after the logged ones) through the service at
    `url`, `scenario` switched on from live day `shock_day`."""
    say = say or progress("traffic")
    if p.ingest.source != "sim":
        say(
            f"no live days for ingest.source {p.ingest.source}: the readers are the simulated world's; "
            f"send your own requests to {url}/recommend and record what readers clicked with newsrec.predlog.write_outcomes"
        )
        return Traffic([], 0, 0, float("nan"))
    w = p.simulate.live_world(p.world, scenario, shock_day)
    step = pd.Timedelta(hours=p.features.advance_hours)
    start = pd.Timestamp(w.start) + pd.Timedelta(days=w.days + first)
    store = _store_for(paths, start, say)
    per_day, total = [], []
    for d, frame in live_days(w, first, days):
        t0, secs = time.monotonic(), {"advance": 0.0, "requests": 0.0, "log": 0.0}
        day0 = pd.Timestamp(w.start) + pd.Timedelta(days=w.days + d)
        by_hour: dict[int, list] = {}
        for job in requests(frame):  # each reader's request, in the hour it arrives
            by_hour.setdefault(int((job[1]["time"].iloc[0] - day0) // step), []).append(job)
        served = []
        for h in range(int(pd.Timedelta(days=1) / step)):
            s = time.monotonic()
            advance(p, paths, store, day0 + h * step, say=lambda m: None)
            _wait_for(url, day0 + h * step, p.serve.workers)
            secs["advance"] += time.monotonic() - s
            batch = by_hour.get(h, [])
            if not batch:
                continue
            s = time.monotonic()
            got = _ask(url, batch, clients)
            write_outcomes(paths.outcomes, got.rename(columns={"time": "request_time"}))
            secs["requests"] += time.monotonic() - s
            s = time.monotonic()
            _wait_logged(paths, f"{day0:%Y-%m-%d}", set(got["request_id"]))
            secs["log"] += time.monotonic() - s
            served.append(got)
        rows = pd.concat(served, ignore_index=True)
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
