"""Serving latency and throughput, one run, 100 candidates per request, loopback HTTP:

- floor: in-process Feast online read + scoring (newsrec.serving.Ranker), no HTTP;
- ours:  `bentoml serve` of services/recommender.py, features fetched by the service;
- peer:  `mlflow models serve` of the same model version, features sent in the request.

Needs `make demo` first (a champion and a materialized online store).
Usage: python bench/serve.py [--requests 2000] [--clients 8]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str, timeout: float = 240) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"server on {port} not ready after {timeout} s")


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
            c.request("POST", path, body, {"content-type": "application/json"})
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    os.environ.setdefault("NEWSREC_ROOT", str(ROOT))
    from newsrec.adapters import mlflow as ml
    from newsrec.adapters.serving import ArticleCache, load_ranker
    from newsrec.config import Paths, load_params
    from newsrec.features import fill_defaults
    from newsrec.serving import RecommendRequest

    p, paths = load_params(), Paths()
    ml.configure(paths.root, p.train.experiment)
    version = ml.alias_version(p.train.model_name, ml.CHAMPION)
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{p.train.model_name}/{version}"))
    ranker = load_ranker(local, version, p.ranking)
    cache = ArticleCache(paths.feature_repo, p.serve.freshest_n, p.serve.cache_seconds)
    users = pd.read_parquet(paths.features / "users.parquet", columns=["user_id"])["user_id"].unique()
    rng = np.random.default_rng(0)
    ids = cache.table().index.to_numpy()
    reqs = [{"user_id": str(rng.choice(users)), "candidates": rng.choice(ids, 100, replace=False).tolist(), "k": 10}
            for _ in range(a.requests)]
    # floor: the same work in-process
    lat, peer_bodies = [], []
    for r in reqs:
        t = time.perf_counter()
        req = RecommendRequest(**r)
        news, unknown = cache.lookup(req.candidates)
        _, scored = ranker.recommend(req, cache.user(req.user_id), news, unknown)
        lat.append(time.perf_counter() - t)
        if len(peer_bodies) < len(reqs):
            x, _ = fill_defaults(scored, ranker.defaults)
            peer_bodies.append(json.dumps({"dataframe_split": x.to_dict(orient="split")}).encode())
    f = np.array(lat) * 1000
    res = {"floor": {"p50_ms": float(np.percentile(f, 50)), "p99_ms": float(np.percentile(f, 99)),
                     "rps": len(f) / f.sum() * 1000}}
    print("floor", res["floor"], flush=True)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    port = free_port()
    ours = subprocess.Popen([str(BIN / "bentoml"), "serve", "services.recommender:Recommender", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, "/readyz")
        res["ours"] = load(port, "/recommend", [json.dumps(r).encode() for r in reqs], a.clients)
    finally:
        ours.terminate()
        ours.wait(60)
    print("ours", res["ours"], flush=True)
    port = free_port()
    peer = subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", str(local), "--env-manager", "local",
                             "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, "/ping")
        res["peer"] = load(port, "/invocations", peer_bodies, a.clients)
    finally:
        peer.terminate()
        peer.wait(60)
    print("peer", res["peer"], flush=True)
    print(f"\n{a.requests} requests x 100 candidates, {a.clients} clients on loopback (one run)")
    print(f"{'':>28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, label in (("floor", "in-process floor"), ("ours", "newsrec (BentoML + Feast)"),
                        ("peer", "mlflow models serve")):
        r = res[name]
        print(f"{label:>28} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['rps']:>8.1f}")
    print(f"\nours p50 / floor p50: {res['ours']['p50_ms'] / res['floor']['p50_ms']:.2f}x (target <= 2x)")
    print(f"ours throughput / peer throughput: {res['ours']['rps'] / res['peer']['rps']:.2f}x (target >= 1x)")
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / f"serve-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
