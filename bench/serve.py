"""Serving latency and throughput, one run, 100 candidates per request, loopback HTTP:

- floor: in-process Feast online read + scoring (newsrec.recommend.Ranker), no HTTP;
- ours:  `bentoml serve` of services/recommender.py, features fetched by the service;
- peer:  `mlflow models serve` of the same model version, features sent in the request.

Needs `make demo` first (a champion and a materialized online store).
Latency: one client, so the ratio to the floor is the cost of HTTP and the framework.
Throughput: `--clients` concurrent connections against one worker per server.
Memory: the service's resident memory (all its processes) after 1k and after 100k requests.

Usage: python bench/serve.py [--requests 1000] [--clients 4] [--leak-requests 100000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, save_result

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


def row(label: str, r: dict) -> str:
    return f"{label:>42} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['rps']:>8.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000, help="per latency/throughput run")
    ap.add_argument("--clients", type=int, default=4, help="concurrent keep-alive connections for throughput")
    ap.add_argument("--leak-requests", type=int, default=100_000, help="0 skips the memory check")
    a = ap.parse_args()
    os.environ.setdefault("NEWSREC_ROOT", str(ROOT))
    # the floor does the service's work the service's way: one OpenMP thread per scoring call
    # (set before scikit-learn loads); the mlflow peer runs as a user starts it, without this
    os.environ["OMP_NUM_THREADS"] = "1"
    from newsrec.adapters.feast import OnlineFeatures
    from newsrec.adapters.mlflow import load_model_dir
    from newsrec.bootstrap import context
    from newsrec.features.request import fill_defaults
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
    lat, peer_bodies = [], []
    for r in reqs:
        t = time.perf_counter()
        req = RecommendRequest(**r)
        news, unknown = cache.lookup(req.candidates)
        _, scored = ranker.recommend(req, cache.user(req.user_id), news, unknown)
        lat.append(time.perf_counter() - t)
        x, _ = fill_defaults(scored, ranker.defaults)
        peer_bodies.append(json.dumps({"dataframe_split": x.to_dict(orient="split")}).encode())
    f = np.array(lat) * 1000
    res: dict = {
        "config": vars(a),
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
    print(f"\n{a.requests} requests x 100 candidates per run, loopback, one run; ours with serve.workers={w}")
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
    print(f"\nours p50 / floor p50 (1 client): {res['ratios']['p50_vs_floor']:.2f}x (target <= 2x)")
    for k in sorted({1, w}):
        print(
            f"ours / mlflow models serve with {k} worker(s), throughput at {a.clients} clients: "
            f"{res['ratios'][f'rps_vs_peer_{k}_workers']:.2f}x (target >= 1x)"
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
    save_result("serve", res)


if __name__ == "__main__":
    main()
