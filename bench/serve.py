"""Serving latency and throughput, one run, 100 candidates per request, loopback HTTP:

- floor: in-process Feast online read + scoring (newsrec.recommend.Ranker), no HTTP;
- ours:  `bentoml serve` of services/recommender.py, features fetched by the service;
- peer:  `mlflow models serve` of the same model version, features sent in the request.

Needs `make demo` first (a champion and a materialized online store).
Latency: one client, so the ratio to the floor is the cost of HTTP and the framework.
Throughput: `--clients` concurrent connections against one worker per server.
Memory: the service's resident memory (all its processes) after 1k and after 100k requests.
Overload (ours, with params serve.workers and serve.max_concurrency as they are):
- capacity: first a closed loop over 4, 8, 16, 32, 64 connections, `--capacity-seconds` each,
  until two steps in a row are not 3% above the best so far (its median req/s: what a saturated
  server sustains when each client waits for its answer); then the open loop, which the 80%
  and 2x runs use, at 0.5, 0.6, ... 1.2 x that figure, `--capacity-seconds` each, up to the
  first rate not answered in full (any 503 or error), and twice halving the gap to the last
  rate that was: capacity is the highest open-loop rate answered in full. (An open-loop
  request costs the server more CPU than a saturated closed-loop one, so the closed-loop
  figure overstates what arrivals at a fixed rate can be served at: 80% of it was about 90%
  of the open-loop capacity, and the 80% run shed.)
- 80%: open loop (requests due at a fixed rate, whatever the answers) at 80% of capacity for
  `--overload-seconds`: requests sent, errors (any answer but 200, a connection error, or no
  answer within 35 s), p50/p99, and the resident memory of the server and its workers sampled
  every second: start, end, max and the least-squares slope in MB/min (flat: the slope
  times the run's length within 2% of the start). Targets: 0 errors, flat memory;
- 2x: open loop at twice capacity for `--overload-2x-seconds`: 200s, 503s (shed over
  serve.max_concurrency), other errors, the p99 of the 200s and its ratio to the p99 at 80%
  (target <= 3x), and whether the worker processes (children of `bentoml serve`) are the
  same before and after.
The machine's speed is probed around each run (the in-process floor's p50 over 200 requests,
the server idle) and printed: on a shared machine it can drift between measuring capacity and
loading it, which changes what "80%" is.
The load comes from `--overload-procs` client processes, each sending its share of the rate
over keep-alive connections (asyncio, raw HTTP/1.1), at most `--overload-connections` in all
(default 4 x workers x serve.max_concurrency, at least 256, so the client can hold more in flight
than the service admits and the limit is really reached at 2x). The connections each process
opens first are spread evenly over the workers (GET /status/ names the worker a connection
reached): the workers share one listening socket, and connections opened together often all
reach one of them, which would halve the capacity measured. Each latency runs from the
request's due time, so a client that falls behind adds to the latency instead of hiding it
(no coordinated omission). The client processes ask for nice -5 where allowed: they need
little CPU, but on time. Each run also reports the client's own lag (send time - due time),
its peak connections, and where the machine's CPU went (server, client, other processes, in
cores, with the load average): other work on the machine takes CPU from the server during a
run that capacity, measured before it, did not account for, and the figures are only as
good as the machine is quiet. A per-second timeline (due, 503s, p99) is saved with the result.

Against an earlier model (`--against REV`): the project at commit REV (its code, its features
and its champion, trained by its own pipeline in a worktree: common.earlier) served beside
ours, the same requests, 3 rounds of each alternately (1 client for latency, `--clients` for
throughput); the medians compared. Target for a new model: p50 and throughput no more than 10%
worse.

Usage: python bench/serve.py [--requests 1000] [--clients 4] [--leak-requests 100000]
           [--no-overload] [--overload-seconds 60] [--overload-2x-seconds 30] [--capacity-seconds 8]
           [--overload-procs 2] [--overload-connections 0] [--against REV]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import http.client
import json
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, earlier, save_result

from newsrec.procs import free_port, wait_http
from newsrec.stages.serve import api_headers

BIN = Path(sys.executable).parent


def load(port: int, path: str, bodies: list[bytes], clients: int) -> dict:
    """Send every body once over `clients` keep-alive connections; latency per request."""
    lat: list[float] = []
    lock, it = threading.Lock(), iter(bodies)

    def worker() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                body = next(it, None)
            if body is None:
                return
            t = time.perf_counter()
            c.request("POST", path, body, api_headers())
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
            with lock:
                lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "rps": len(a) / wall}


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a server and all its worker processes."""
    import psutil

    root = psutil.Process(pid)
    return sum(q.memory_info().rss for q in [root, *root.children(recursive=True)]) / 2**20


def start(cmd: list[str], env: dict, port: int, ready: str, log: Path) -> subprocess.Popen:
    out = log.open("wb")
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}{ready}", 240, cmd[0], log)
    return p


def stop(p: subprocess.Popen) -> None:
    p.terminate()
    p.wait(120)


# --- overload: capacity, then open-loop load at 80% and at 2x of it ------------------------------
# The load comes from client processes (multiprocessing, spawned), each with its own event loop
# and keep-alive connections written and read as raw HTTP/1.1, so the client costs little CPU
# beside the server. Request j of an open-loop run is due at start + j / rate (process i sends
# j = i, i + N, ...); its latency runs from that due time, not from when it left, so a late
# client or a full pool shows up in the latency instead of hiding it (no coordinated omission).

IDLE_S = 3.0  # a pooled connection idle longer is closed, not reused (uvicorn closes at 5 s)
DRAIN_S = 35.0  # after the last send, how long answers are awaited (the service times out at 30 s)
CAPACITY_RAMP = (4, 8, 16, 32, 64)  # concurrent connections, closed loop, total over the processes
RISE = 1.03  # a step must beat the best so far by 3% for throughput to count as still rising
FLAT = 2  # steps in a row that do not: the ramp stops
MIN_CONNS = 256  # the open-loop connection cap is at least this (503s come back slowly on a busy machine)
CLIENT_NICE = -5  # the client processes' scheduling priority, where allowed (else unchanged)


def http_requests(port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    """Each body as a complete keep-alive HTTP/1.1 request."""
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    head += [f"{k}: {v}" for k, v in api_headers().items()]
    return [("\r\n".join([*head, f"Content-Length: {len(b)}"]) + "\r\n\r\n").encode() + b for b in bodies]


async def _answer(reader) -> tuple[int, bool, bytes]:
    """Read one response: its status, whether the connection stays open, and its body."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readexactly(2)
    return status, headers.get("connection", "").lower() != "close", body


class _Pool:
    """Keep-alive connections, most recently used first, at most `cap` open at once."""

    def __init__(self, port: int, cap: int) -> None:
        self.port, self.cap = port, cap
        self.idle: list[tuple] = []
        self.open = self.peak = 0
        self.waiting: collections.deque = collections.deque()

    async def _connect(self) -> tuple:
        try:
            return await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            self._free()
            raise

    async def get(self) -> tuple:
        while self.idle:
            reader, writer, used = self.idle.pop()
            if not reader.at_eof() and time.monotonic() - used < IDLE_S:
                return reader, writer
            self.drop(writer)
        if self.open < self.cap:
            self.open += 1
            self.peak = max(self.peak, self.open)
            return await self._connect()
        slot = asyncio.get_running_loop().create_future()
        self.waiting.append(slot)
        conn = await slot
        return conn if conn is not None else await self._connect()

    async def balanced(self, per_worker: int, workers: int, tries: int = 50) -> dict[str, int]:
        """Open connections until each of the `workers` holds `per_worker` of them, asking each
        new one which worker it reached (GET /status/); the others are closed. BentoML's workers
        share one listening socket, and connections opened together often all reach one."""
        kept: dict[int, list] = {}
        for _ in range(tries * per_worker * workers):
            if len(kept) == workers and all(len(c) == per_worker for c in kept.values()):
                break
            conn = await self.get()
            conn[1].write(f"GET /status/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode())
            status, keep, body = await _answer(conn[0])
            w = json.loads(body)["worker"] if status == 200 else None
            if keep and w is not None and len(kept.get(w, [])) < per_worker and (w in kept or len(kept) < workers):
                kept.setdefault(w, []).append(conn)
            else:
                self.drop(conn[1])
        for conns in kept.values():
            for conn in conns:
                self.put(conn)
        return {str(w): len(c) for w, c in sorted(kept.items())}

    def put(self, conn: tuple) -> None:
        if self.waiting:
            self.waiting.popleft().set_result(conn)
        else:
            self.idle.append((*conn, time.monotonic()))

    def drop(self, writer) -> None:
        writer.close()
        self._free()

    def _free(self) -> None:
        if self.waiting:  # the slot goes to the next in line, who opens a connection in it
            self.waiting.popleft().set_result(None)
        else:
            self.open -= 1


async def _send(pool: _Pool, req: bytes, due: float, out: list) -> None:
    """One request: (status or 0 for a connection error, latency from `due`, lag of the send, `due`)."""
    conn, lag = None, 0.0
    try:
        conn = await pool.get()
        lag = time.monotonic() - due
        conn[1].write(req)
        status, keep, _ = await _answer(conn[0])
    except (OSError, EOFError, ValueError, IndexError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        status, keep = 0, False
    out.append((status, time.monotonic() - due, lag, due))
    if conn is not None:
        pool.put(conn) if keep else pool.drop(conn[1])


async def _open_loop(job: dict, pool: _Pool, start: float) -> list:
    out: list = []
    reqs, rate, i, n = job["requests"], job["rate"], job["index"], job["procs"]
    tasks = []
    for j in range(i, int(rate * job["seconds"]), n):
        due = start + j / rate
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.ensure_future(_send(pool, reqs[j % len(reqs)], due, out)))
    _, pending = await asyncio.wait(tasks, timeout=DRAIN_S) if tasks else (None, ())
    for t in pending:
        t.cancel()
    return out + [(-1, DRAIN_S, 0.0, start)] * len(pending)  # -1: no answer in time


async def _closed_loop(job: dict, pool: _Pool, start: float) -> list:
    out: list = []
    reqs, end = job["requests"], start + job["seconds"]

    async def client(k: int) -> None:
        while (now := time.monotonic()) < end:
            await _send(pool, reqs[k % len(reqs)], now, out)
            k += job["conns"]

    await asyncio.sleep(max(0.0, start - time.monotonic()))
    await asyncio.gather(*(client(k) for k in range(job["conns"])))
    return out


async def _client_run(job: dict, said, connect, go, start_at) -> dict:
    pool = _Pool(job["port"], job["cap"])
    loop = asyncio.get_running_loop()
    said.put("up")
    await loop.run_in_executor(None, connect.wait)  # every process up: connect close to the start
    per_worker = -(-job["conns"] // job["workers"])
    by_worker = await pool.balanced(per_worker, job["workers"])
    said.put("connected")
    await loop.run_in_executor(None, go.wait)
    run = _open_loop if job["kind"] == "open" else _closed_loop
    cpu0 = time.process_time()
    out = await run(job, pool, start_at.value)
    elapsed = time.monotonic() - start_at.value
    return {
        "out": out,
        "peak_conns": pool.peak,
        "cpu_s": time.process_time() - cpu0,
        "elapsed_s": elapsed,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "by_worker": by_worker,
    }


def _client(job: dict, said, connect, go, start_at) -> None:
    """A client process: one run, its rows put on `said` last. It asks to be scheduled ahead of
    the server (nice CLIENT_NICE, where allowed): it needs little CPU, but needs it on time."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, CLIENT_NICE)
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    said.put(run(_client_run(job, said, connect, go, start_at)))


def _hear(said, ps: list, timeout: float) -> list:
    """One message from each client process; an error as soon as one of them has died."""
    got, deadline = [], time.monotonic() + timeout
    while len(got) < len(ps):
        try:
            got.append(said.get(timeout=1))
        except queue.Empty:
            if dead := [p.exitcode for p in ps if p.exitcode not in (None, 0)]:
                raise RuntimeError(f"a load client process exited ({dead}); see its traceback above") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"the load client processes did not answer in {timeout:.0f} s") from None
    return got


def drive(job: dict, procs: int, on_start=None) -> dict:
    """Run `job` in `procs` client processes started together; every request's row, merged."""
    mp = multiprocessing.get_context("spawn")
    said, connect, go, start_at = mp.Queue(), mp.Event(), mp.Event(), mp.Value("d", 0.0)
    ps = [
        mp.Process(target=_client, args=({**job, "index": i, "procs": procs}, said, connect, go, start_at), daemon=True)
        for i in range(procs)
    ]
    for p in ps:
        p.start()
    try:
        _hear(said, ps, 120)
        connect.set()
        _hear(said, ps, 120)
        start_at.value = time.monotonic() + 0.5
        go.set()
        if on_start is not None:
            on_start(start_at.value)
        parts = _hear(said, ps, job["seconds"] + DRAIN_S + 120)
    finally:
        for p in ps:
            p.join(30)
            if p.is_alive():
                p.kill()
    rows = np.array([r for part in parts for r in part["out"]], dtype=float).reshape(-1, 4)
    return {
        "status": rows[:, 0].astype(int),
        "latency_ms": rows[:, 1] * 1000,
        "lag_ms": rows[:, 2] * 1000,
        "due_s": rows[:, 3] - start_at.value,
        "peak_conns": sum(part["peak_conns"] for part in parts),
        "client_cpu_s": sum(part["cpu_s"] for part in parts),
        "elapsed_s": max(part["elapsed_s"] for part in parts),
        "client_nice": max(part["nice"] for part in parts),
        "conns_by_worker": dict(sum((collections.Counter(part["by_worker"]) for part in parts), collections.Counter())),
    }


def capacity(port: int, reqs: list[bytes], procs: int, seconds: float, server: int, nworkers: int) -> dict:
    """Closed loop over more and more connections until throughput stops rising. Capacity is
    the median req/s of the steps: the rate the server sustains once saturated. (The best
    step is an optimistic peak: on 2 cores the first, least contended step can run 10-15%
    above what more connections then sustain, and 80% of that peak is past saturation.)"""
    steps: dict[str, float] = {}
    others: dict[str, float] = {}
    best, flat = 0.0, 0
    for conns in CAPACITY_RAMP:
        per = max(nworkers, conns // procs // nworkers * nworkers)  # as many on each worker
        job = {"kind": "closed", "port": port, "requests": reqs, "seconds": seconds, "conns": per, "cap": per}
        job["workers"] = nworkers
        share = CpuShare(server)
        r = drive(job, procs, lambda start: (time.sleep(max(0.0, start - time.monotonic())), share.begin()))
        cpu = share.end(r["client_cpu_s"])
        rps = float((r["status"] == 200).sum() / r["elapsed_s"])  # every answer is in, the last late
        steps[str(per * procs)], others[str(per * procs)] = rps, cpu["others"]
        print(
            f"  capacity, {per * procs} connections (closed loop, by worker {r['conns_by_worker']}): {rps:.1f} req/s "
            f"(server {cpu['server']:.2f} cores, by worker {cpu['by_worker']}, other processes {cpu['others']:.2f})",
            flush=True,
        )
        flat = flat + 1 if rps < best * RISE else 0
        best = max(best, rps)
        if flat == FLAT:
            break
    return {"rps": float(np.median(list(steps.values()))), "best_rps": best, "steps": steps, "others_cores": others}


DRIFT_WARN = 0.10  # the machine slower or faster by more than this around the 80% run than at capacity: said
SUSTAIN_STEPS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)  # open-loop rates, x the closed-loop capacity
SUSTAIN_HALVINGS = 2  # then the step between the last rate sustained and the first not, twice


def sustained(
    port: int, reqs: list[bytes], closed_rps: float, seconds: float, procs: int, cap: int, server: int, nworkers: int
) -> dict:
    """The highest open-loop rate the server answers in full (every request 200, none shed):
    up the steps of SUSTAIN_STEPS x the closed-loop capacity until one is not sustained,
    then halving the gap. The 80% and 2x runs are open loop, where a request costs the server
    more CPU than in the saturated closed loop (measured here: about 10.3 against 8.5 ms),
    so the closed-loop figure overstates what an open-loop client can be served."""
    tried: dict[str, dict] = {}

    def holds(rate: float) -> bool:
        """Whether `rate` is answered in full (one try: a second try after a failed one would
        take the luckier of two minutes, and overstate the capacity)."""
        r = open_load(port, reqs, rate, seconds, procs, cap, server, nworkers)
        ok = r["errors"] == 0
        tried[f"{rate:.1f}"] = {k: r[k] for k in ("sent", "errors", "p50_ms", "p99_ms")} | {"sustained": ok}
        print(
            f"  open loop at {rate:.1f} req/s for {seconds:.0f} s: {r['sent']:,} sent, {r['errors']} errors, "
            f"p99 {r['p99_ms'] or float('nan'):.1f} ms -> {'sustained' if ok else 'not sustained'}",
            flush=True,
        )
        return ok

    best, worst = 0.0, None
    for x in SUSTAIN_STEPS:
        if holds(x * closed_rps):
            best = x * closed_rps
        else:
            worst = x * closed_rps
            break
    if worst is None:  # every step held: the highest is a floor of the capacity
        return {"rps": best, "tried": tried, "bounded": False}
    lo = best or worst / 2
    for _ in range(SUSTAIN_HALVINGS):
        mid = (lo + worst) / 2
        if holds(mid):
            lo = best = mid
        else:
            worst = mid
    return {"rps": best or lo, "tried": tried, "bounded": True, "first_not_sustained_rps": worst}


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by a server and each of its processes."""
    import psutil

    root = psutil.Process(pid)
    return {q.pid: sum(q.cpu_times()[:2]) for q in [root, *root.children(recursive=True)]}


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    import psutil

    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


class CpuShare:
    """Where the machine's CPU went over a run, in cores: the server, the client (its processes
    and this one) and every other program, whose share is taken from the server and the
    client alike."""

    def __init__(self, server: int) -> None:
        self.server = server

    def _now(self) -> tuple:
        return time.monotonic(), busy_cpu_s(), tree_cpu_s(self.server), time.process_time()

    def begin(self) -> None:
        self.t0 = self._now()

    def end(self, client_cpu_s: float) -> dict:
        t1 = self._now()
        wall, busy, own = t1[0] - self.t0[0], t1[1] - self.t0[1], t1[3] - self.t0[3]
        per = {pid: cpu - self.t0[2].get(pid, 0.0) for pid, cpu in t1[2].items()}
        srv = sum(per.values())
        return {
            "cores": os.cpu_count(),
            "server": srv / wall,
            "by_worker": [round(per[w] / wall, 2) for w in workers(self.server) if w in per],
            "client": (client_cpu_s + own) / wall,
            "others": max(0.0, busy - srv - client_cpu_s - own) / wall,
        }


def workers(pid: int) -> list[int]:
    """The pids of the server's worker processes (its children)."""
    import psutil

    return sorted(q.pid for q in psutil.Process(pid).children())


def open_load(
    port: int, reqs: list[bytes], rate: float, seconds: float, procs: int, cap: int, server: int, nworkers: int
) -> dict:
    """Open-loop load at `rate` req/s for `seconds`, the server's memory sampled each second."""
    samples: list[tuple[float, float]] = []
    stop_sampling = threading.Event()

    def sample(start: float) -> None:
        while not stop_sampling.is_set():
            try:
                samples.append((time.monotonic() - start, tree_rss_mb(server)))
            except Exception:  # a process of the tree went away between listing and reading it
                pass
            stop_sampling.wait(1.0)

    sampler: list[threading.Thread] = []

    def on_start(start: float) -> None:
        time.sleep(max(0.0, start - time.monotonic()))
        sampler.append(threading.Thread(target=sample, args=(start,), daemon=True))
        sampler[0].start()

    per = max(1, cap // procs)
    load0 = os.getloadavg()[0]
    job = {"kind": "open", "port": port, "requests": reqs, "rate": rate, "seconds": seconds, "cap": per}
    job |= {"conns": nworkers, "workers": nworkers}  # warm: one on each worker, more opened as needed
    share = CpuShare(server)
    try:
        r = drive(job, procs, lambda start: (on_start(start), share.begin()))
    finally:
        stop_sampling.set()
        for t in sampler:
            t.join()
    cpu = share.end(r["client_cpu_s"])
    s, lat = r["status"], r["latency_ms"]
    ok = lat[s == 200]
    res = {
        "rate": rate,
        "seconds": seconds,
        "sent": int(len(s)),
        "ok": int((s == 200).sum()),
        "shed_503": int((s == 503).sum()),
        "errors": int((s != 200).sum()),
        "other_errors": int(((s != 200) & (s != 503)).sum()),
        "by_status": {str(k): int(v) for k, v in zip(*np.unique(s, return_counts=True))},
        "p50_ms": float(np.percentile(ok, 50)) if len(ok) else None,
        "p99_ms": float(np.percentile(ok, 99)) if len(ok) else None,
        "p99_all_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "client_lag_p99_ms": float(np.percentile(r["lag_ms"], 99)) if len(s) else None,
        "client_peak_conns": r["peak_conns"],
        "client_conn_cap": per * procs,
        "client_nice": r["client_nice"],
        "client_warm_conns_by_worker": r["conns_by_worker"],
        "client_cpu_s": r["client_cpu_s"],
        "loadavg_1min": [load0, os.getloadavg()[0]],
        "cpu_cores": cpu,
        "timeline": timeline(r, seconds),
    }
    if samples:
        t, mb = np.array(samples).T
        res["rss_mb"] = {
            "start": float(mb[0]),
            "end": float(mb[-1]),
            "max": float(mb.max()),
            "slope_mb_per_min": float(np.polyfit(t / 60, mb, 1)[0]) if len(mb) > 1 else 0.0,
            "samples": len(mb),
        }
    return res


def timeline(r: dict, seconds: float) -> list[dict]:
    """Per second of due time: requests due, 503s, other errors, p99 of the 200s."""
    out = []
    for t in range(int(np.ceil(seconds))):
        sel = (r["due_s"] >= t) & (r["due_s"] < t + 1)
        s, lat = r["status"][sel], r["latency_ms"][sel]
        ok = lat[s == 200]
        out.append(
            {
                "t": t,
                "sent": int(sel.sum()),
                "503": int((s == 503).sum()),
                "other": int(((s != 200) & (s != 503)).sum()),
                "p99_ms": float(np.percentile(ok, 99)) if len(ok) else None,
            }
        )
    return out


def overload(
    port: int, bodies: list[bytes], a: argparse.Namespace, server: int, limit: int, nworkers: int, probe
) -> dict:
    """Capacity, then the 80% and 2x runs. `probe()` (the in-process floor's p50, ms, with the
    server idle) is taken before and after each: the machine's own speed can drift between
    measuring capacity and loading it (here by a third within minutes), and 80% of a capacity
    measured on a faster minute is more than 80% on a slower one."""
    reqs = http_requests(port, "/recommend", bodies)
    procs = a.overload_procs
    cap = a.overload_connections or max(MIN_CONNS, 4 * limit * nworkers)
    speed = {"before_capacity": probe()}
    closed = capacity(port, reqs, procs, a.capacity_seconds, server, nworkers)
    print(f"  closed-loop capacity (median of the steps): {closed['rps']:.1f} req/s", flush=True)
    cap_res = sustained(port, reqs, closed["rps"], a.capacity_seconds, procs, cap, server, nworkers)
    cap_res["closed"] = closed
    res: dict = {"capacity": cap_res, "client_procs": procs, "max_concurrency": limit, "workers": nworkers}
    print(f"  capacity (the highest open-loop rate sustained): {cap_res['rps']:.1f} req/s", flush=True)
    speed["before_80"] = probe()
    res["at_80"] = open_load(port, reqs, 0.8 * cap_res["rps"], a.overload_seconds, procs, cap, server, nworkers)
    print("  80% of capacity", {k: v for k, v in res["at_80"].items() if k != "timeline"}, flush=True)
    speed["after_80"] = probe()
    time.sleep(2)
    before = workers(server)
    res["at_2x"] = open_load(port, reqs, 2 * cap_res["rps"], a.overload_2x_seconds, procs, cap, server, nworkers)
    speed["after_2x"] = probe()
    res["floor_p50_ms"] = speed
    after = workers(server)
    p99_80, p99_2x = res["at_80"]["p99_ms"], res["at_2x"]["p99_ms"]
    res["at_2x"].update(
        {
            "p99_vs_80": p99_2x / p99_80 if p99_80 and p99_2x else None,
            "workers_before": before,
            "workers_after": after,
            "workers_survived": before == after,
        }
    )
    print("  2x capacity", {k: v for k, v in res["at_2x"].items() if k != "timeline"}, flush=True)
    return res


def row(label: str, r: dict) -> str:
    return f"{label:>42} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['rps']:>8.1f}"


def cpu_line(r: dict) -> str:
    c = r["cpu_cores"]
    return (
        f"  CPU during the run (cores of {c['cores']}): server {c['server']:.2f} (workers {c['by_worker']}), "
        f"client {c['client']:.2f}, "
        f"other processes {c['others']:.2f}; load average {r['loadavg_1min'][0]:.1f} -> {r['loadavg_1min'][1]:.1f}"
    )


def print_overload(o: dict) -> None:
    c, lo, hi = o["capacity"], o["at_80"], o["at_2x"]
    print(
        f"\noverload: {o['workers']} workers, serve.max_concurrency={o['max_concurrency']} per worker, "
        f"{o['client_procs']} client processes (nice {o['at_80']['client_nice']}), open loop, latency from each "
        "request's due time"
    )
    cl = c["closed"]
    steps = ", ".join(f"{k}: {v:.0f}" for k, v in cl["steps"].items())
    print(f"closed-loop capacity (median req/s over connections {steps}): {cl['rps']:.1f} req/s")
    tried = ", ".join(f"{k} {'yes' if v['sustained'] else 'no'}" for k, v in c["tried"].items())
    print(
        f"capacity, the highest open-loop rate answered in full (req/s sustained: {tried}): {c['rps']:.1f} req/s, "
        f"{c['rps'] / cl['rps']:.2f}x the closed-loop figure" + ("" if c["bounded"] else " (every step held: a floor)")
    )
    if sp := o.get("floor_p50_ms"):
        print(
            "machine speed (the in-process floor's p50, server idle): "
            + ", ".join(f"{k.replace('_', ' ')} {v:.2f} ms" for k, v in sp.items())
            + f"; before the 80% run / before capacity: {sp['before_80'] / sp['before_capacity']:.2f}x"
        )
        slower = max(sp["before_80"], sp["after_80"]) / sp["before_capacity"]
        faster = sp["before_capacity"] / min(sp["before_80"], sp["after_80"])
        if slower > 1 + DRIFT_WARN:
            print(
                f"  the machine was {slower:.2f}x slower around the 80% run than when capacity was measured: "
                "that run was above 80% of what the server could do then, and its errors say so"
            )
        if faster > 1 + DRIFT_WARN:
            print(
                f"  the machine was {faster:.2f}x faster around the 80% run than when capacity was measured: "
                "that run was below 80% of what the server could do then, so its p99 is low and the 2x ratio high"
            )
    print(
        f"80% ({lo['rate']:.1f} req/s, {lo['seconds']:.0f} s): sent {lo['sent']:,}, errors {lo['errors']} "
        f"(target 0), p50 {lo['p50_ms']:.1f} ms, p99 {lo['p99_ms']:.1f} ms; client send lag p99 "
        f"{lo['client_lag_p99_ms']:.1f} ms, {lo['client_peak_conns']} connections at most"
    )
    print(cpu_line(lo))
    if m := lo.get("rss_mb"):
        growth = m["slope_mb_per_min"] * lo["seconds"] / 60
        flat = abs(growth) <= 0.02 * m["start"]
        print(
            f"  server RSS (MB, all processes, {m['samples']} samples): start {m['start']:.0f}, end {m['end']:.0f}, "
            f"max {m['max']:.0f}, slope {m['slope_mb_per_min']:+.2f} MB/min "
            f"({'flat' if flat else 'NOT flat'}: {growth:+.1f} MB over the run; flat = within 2% of the start)"
        )
    ratio = hi["p99_vs_80"]
    print(
        f"2x ({hi['rate']:.1f} req/s, {hi['seconds']:.0f} s): sent {hi['sent']:,}, accepted (200) {hi['ok']:,}, "
        f"503 {hi['shed_503']:,}, other errors {hi['other_errors']}; accepted p50 {hi['p50_ms']:.1f} ms, "
        f"p99 {hi['p99_ms']:.1f} ms"
    )
    print(
        f"  p99 at 2x / p99 at 80%: {ratio:.2f}x (target <= 3x); workers alive: "
        f"{'yes' if hi['workers_survived'] else 'NO'} ({hi['workers_before']} -> {hi['workers_after']}); "
        f"client send lag p99 {hi['client_lag_p99_ms']:.1f} ms, "
        f"{hi['client_peak_conns']} of {hi['client_conn_cap']} connections at most"
    )
    print(cpu_line(hi))
    for name, r in (("80%", lo), ("2x", hi)):
        if r["client_peak_conns"] >= r["client_conn_cap"]:
            print(f"  {name}: the client used all its connections; requests waited in it (counted in latency)")
    if not hi["shed_503"]:
        print("  no request was shed: the limit was never reached (the client's connections bound the load)")


ROUNDS = 3  # --against: rounds of each model, alternating


def against(rev: str, port: int, bodies: list[bytes], clients: int, tmp: Path) -> dict:
    """The model of an earlier commit (its code, features and champion: common.earlier) served
    the same way beside ours; ROUNDS rounds of each, alternating, of the 1-client latency run and
    the `clients` throughput run; the medians and ours over theirs."""
    _, env = earlier(rev)
    env = {**env, "OMP_NUM_THREADS": "1", "NEWSREC_PREDICTIONS": str(tmp / "theirs-predictions")}
    their_port = free_port()
    cmd = ["bentoml", "serve", "services.recommender:Recommender", "--host", "127.0.0.1", "--port", str(their_port)]
    theirs = start([str(BIN / cmd[0]), *cmd[1:]], env, their_port, "/readyz", tmp / "theirs.log")
    runs: dict[str, list] = {"theirs": [], "ours": []}
    try:
        load(their_port, "/recommend", bodies[:200], clients)  # warm-up, as ours had
        for r in range(ROUNDS):
            for who, at in (("theirs", their_port), ("ours", port)):
                one, many = load(at, "/recommend", bodies, 1), load(at, "/recommend", bodies, clients)
                runs[who].append({"p50_ms": one["p50_ms"], "p99_ms": one["p99_ms"], "rps": many["rps"]})
                print(f"round {r + 1}, {who}: p50 {one['p50_ms']:.2f} ms, {many['rps']:.1f} req/s", flush=True)
    finally:
        stop(theirs)
    med = {w: {k: float(np.median([x[k] for x in v])) for k in ("p50_ms", "p99_ms", "rps")} for w, v in runs.items()}
    return {
        "rev": rev,
        "rounds": runs,
        "median": med,
        "p50_ratio": med["ours"]["p50_ms"] / med["theirs"]["p50_ms"],
        "rps_ratio": med["ours"]["rps"] / med["theirs"]["rps"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000, help="per latency/throughput run")
    ap.add_argument("--clients", type=int, default=4, help="concurrent keep-alive connections for throughput")
    ap.add_argument("--leak-requests", type=int, default=100_000, help="0 skips the memory check")
    ap.add_argument("--no-overload", action="store_true", help="skip capacity and the two overload runs")
    ap.add_argument("--overload-seconds", type=float, default=60, help="the open-loop run at 80%% of capacity")
    ap.add_argument("--overload-2x-seconds", type=float, default=30, help="the open-loop run at 2x capacity")
    ap.add_argument("--capacity-seconds", type=float, default=8, help="each closed-loop step of the capacity ramp")
    ap.add_argument("--overload-procs", type=int, default=2, help="client processes sending the overload")
    ap.add_argument("--against", help="an earlier commit whose model to serve beside ours, alternately (ROUNDS each)")
    ap.add_argument(
        "--overload-connections",
        type=int,
        default=0,
        help="open-loop connection cap, all processes (0: 4 x workers x serve.max_concurrency, at least 256)",
    )
    a = ap.parse_args()
    os.environ.setdefault("NEWSREC_ROOT", str(ROOT))
    # the floor does the service's work the service's way: one OpenMP thread per scoring call
    # (set before scikit-learn loads); the mlflow peer runs as a user starts it, without this
    os.environ["OMP_NUM_THREADS"] = "1"
    from newsrec.adapters.feast import OnlineFeatures
    from newsrec.adapters.mlflow import load_model_dir
    from newsrec.bootstrap import context
    from newsrec.features.request import fill_defaults
    from newsrec.profile import profile
    from newsrec.recommend import Ranker, RecommendRequest

    ctx = context()
    p, paths = ctx.params, ctx.paths
    version = ctx.registry.champion()
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{p.train.model_name}/{version}"))
    model, meta = load_model_dir(local)
    ranker = Ranker.of(model, version, meta, p.ranking)
    cache = OnlineFeatures(paths.feature_repo, paths.online, p.serve.freshest_n).snapshot
    users = pd.read_parquet(paths.features / "users.parquet", columns=["user_id"])["user_id"].unique()
    rng = np.random.default_rng(0)
    ids = cache.table.index.to_numpy()
    reqs = [
        {"user_id": str(rng.choice(users)), "candidates": rng.choice(ids, 100, replace=False).tolist(), "k": 10}
        for _ in range(a.requests)
    ]
    bodies = [json.dumps(r).encode() for r in reqs]

    # floor: the same work in-process, one request at a time (what one client sees without HTTP)
    def floor(some: list[dict], peer: list | None = None) -> np.ndarray:
        lat = []
        for r in some:
            t = time.perf_counter()
            req = RecommendRequest(**r)
            news, unknown = cache.lookup(req.candidates)
            _, scored = ranker.recommend(req, cache.user(req.user_id), news, unknown)
            lat.append(time.perf_counter() - t)
            if peer is not None:
                x, _ = fill_defaults(scored.frame(), ranker.defaults)
                peer.append(json.dumps({"dataframe_split": x.to_dict(orient="split")}).encode())
        return np.array(lat) * 1000

    peer_bodies: list[bytes] = []
    f = floor(reqs, peer_bodies)
    res: dict = {
        "config": vars(a),
        "profile": profile(),
        "store": cache.store.where if cache.store else None,
        "floor": {
            "p50_ms": float(np.percentile(f, 50)),
            "p99_ms": float(np.percentile(f, 99)),
            "rps": float(len(f) / f.sum() * 1000),
        },
    }
    print("floor", res["floor"], flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="newsrec-bench-"))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "NEWSREC_PREDICTIONS": str(tmp / "predictions")}
    port = free_port()
    ours = start(
        [str(BIN / "bentoml"), "serve", "services.recommender:Recommender", "--host", "127.0.0.1", "--port", str(port)],
        env,
        port,
        "/readyz",
        tmp / "ours.log",
    )
    try:
        res["ours_1"] = load(port, "/recommend", bodies, 1)
        print("ours, 1 client", res["ours_1"], flush=True)
        res["ours_n"] = load(port, "/recommend", bodies, a.clients)
        print(f"ours, {a.clients} clients", res["ours_n"], flush=True)
        if a.against:
            res["against"] = against(a.against, port, bodies, a.clients, tmp)
        if a.leak_requests:
            sent = 2 * len(bodies)
            res["memory_mb"] = {}
            for target in sorted({1_000, min(10_000, a.leak_requests), a.leak_requests}):
                while sent < target:
                    n = min(len(bodies), target - sent)
                    load(port, "/recommend", bodies[:n], a.clients)
                    sent += n
                    print(f"\r  memory check: {sent:,}/{a.leak_requests:,} requests", end="", flush=True)
                time.sleep(3)  # let the prediction log drain
                res["memory_mb"][str(target)] = tree_rss_mb(ours.pid)
            print("\nours, memory (MB) after N requests", res["memory_mb"], flush=True)
        if not a.no_overload:
            print("ours, overload", flush=True)
            res["overload"] = overload(
                port,
                bodies,
                a,
                ours.pid,
                p.serve.max_concurrency,
                p.serve.workers,
                lambda: float(np.percentile(floor(reqs[:200]), 50)),
            )
    finally:
        stop(ours)
    for workers in sorted({1, p.serve.workers}):  # mlflow's default, and as many workers as ours
        port = free_port()
        peer_env = {k: v for k, v in env.items() if k != "OMP_NUM_THREADS"}
        peer = start(
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                str(local),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(workers),
            ],
            peer_env,
            port,
            "/ping",
            tmp / "peer.log",
        )
        try:
            res[f"peer{workers}_1"] = load(port, "/invocations", peer_bodies, 1)
            res[f"peer{workers}_n"] = load(port, "/invocations", peer_bodies, a.clients)
        finally:
            stop(peer)
        print(f"peer, {workers} worker(s)", res[f"peer{workers}_1"], res[f"peer{workers}_n"], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    w = p.serve.workers
    print(
        f"\n{a.requests} requests x 100 candidates per run, loopback, one run, profile {res['profile']} "
        f"(online store: {res['store']}); ours with serve.workers={w}"
    )
    print(f"{'':>42} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    print(row("in-process floor, 1 client", res["floor"]))
    print(row(f"newsrec (BentoML+Feast, {w} workers), 1 client", res["ours_1"]))
    print(row(f"newsrec, {a.clients} clients", res["ours_n"]))
    for k in sorted({1, w}):
        print(row(f"mlflow models serve ({k} worker(s)), 1 client", res[f"peer{k}_1"]))
        print(row(f"mlflow models serve ({k} worker(s)), {a.clients} clients", res[f"peer{k}_n"]))
    res["ratios"] = {
        "p50_vs_floor": res["ours_1"]["p50_ms"] / res["floor"]["p50_ms"],
        **{f"rps_vs_peer_{k}_workers": res["ours_n"]["rps"] / res[f"peer{k}_n"]["rps"] for k in sorted({1, w})},
    }
    print(f"\nours p50 / floor p50 (1 client): {res['ratios']['p50_vs_floor']:.2f}x (target <= 1.5x)")
    for k in sorted({1, w}):
        print(
            f"ours / mlflow models serve with {k} worker(s), throughput at {a.clients} clients: "
            f"{res['ratios'][f'rps_vs_peer_{k}_workers']:.2f}x" + (" (target >= 2x)" if k == w else "")
        )
    if "memory_mb" in res:
        m = res["memory_mb"]
        print(
            f"memory after {a.leak_requests:,} / after 1,000 requests: {m[str(a.leak_requests)] / m['1000']:.2f}x "
            "(target <= 1x, no leak)"
        )
        if "10000" in m and a.leak_requests > 10_000:
            print(
                f"memory after {a.leak_requests:,} / after 10,000 requests: "
                f"{m[str(a.leak_requests)] / m['10000']:.2f}x (after the warm-up)"
            )
    if "against" in res:
        v, m = res["against"], res["against"]["median"]
        print(
            f"\nagainst the model of {v['rev']} (its code and features), {ROUNDS} rounds each, alternating, medians: "
            f"p50 {m['theirs']['p50_ms']:.2f} -> {m['ours']['p50_ms']:.2f} ms ({v['p50_ratio']:.2f}x), "
            f"throughput at {a.clients} clients {m['theirs']['rps']:.1f} -> {m['ours']['rps']:.1f} req/s "
            f"({v['rps_ratio']:.2f}x); target: no more than 10% worse (p50 <= 1.10x, throughput >= 0.91x)"
        )
    if "overload" in res:
        print_overload(res["overload"])
    save_result("serve", res)


if __name__ == "__main__":
    main()
