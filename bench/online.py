"""Feast online reads in process, Redis (the prod profile) against SQLite (local): the same
feature rows in both, one run.

- articles: 100 entities of the two article views (what the service reads for a new or
  advanced store);
- user: one user's row (what each request reads).

Needs `make demo` first (the local store, and the feature tables to build the Redis one
from). The Redis store is built by the `feast` stage itself, on the prod profile, into a
Redis of its own on a free port and a PostgreSQL database of its own (Feast's SQL registry;
the machine's PostgreSQL, `NEWSREC_PG_URL`), both removed after.

Usage: python bench/online.py [--reads 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import ROOT, save_result

from newsrec.procs import free_port


def timed(fn, n: int) -> dict:
    fn()  # warm
    t = []
    for _ in range(n):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1000)
    return {"p50_ms": float(np.percentile(t, 50)), "p99_ms": float(np.percentile(t, 99))}


def reads(root: Path, n: int) -> dict:
    from newsrec.adapters.feast import NEWS_VIEWS, FeatureStore
    from newsrec.features.spec import META_VIEW

    store = FeatureStore(root / "feature_repo", root / "data" / "feast")
    news = store.state()["news"]
    rng = np.random.default_rng(0)
    users = pd.read_parquet(root / "data" / "features" / "users.parquet", columns=["user_id"])["user_id"].unique()
    ids = [list(rng.choice(news, 100, replace=False)) for _ in range(n + 1)]
    who = list(rng.choice(users, n + 1))
    it_a, it_u = iter(ids), iter(who)
    return {
        "store": store.where,
        "articles_100": timed(lambda: store.online_rows(NEWS_VIEWS, META_VIEW.key, next(it_a)), n),
        "user": timed(lambda: store.online_user(next(it_u)), n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reads", type=int, default=300)
    a = ap.parse_args()
    root = Path(os.environ.get("NEWSREC_ROOT", ROOT)).resolve()
    os.environ["NEWSREC_ROOT"] = str(root)
    from newsrec.bootstrap import context
    from newsrec.profile import endpoints
    from newsrec.stages.feast import feast
    from newsrec.stages.up import psql

    res = {"local": reads(root, a.reads)}
    port, prefix = free_port(), f"newsrec_bench_{os.getpid()}"
    env = {"NEWSREC_PROFILE": "prod", "NEWSREC_REDIS": f"127.0.0.1:{port}", "NEWSREC_DB_PREFIX": prefix}
    ep = endpoints({**os.environ, **env})
    with tempfile.TemporaryDirectory() as tmp:
        redis = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        psql(ep, f'create database "{ep.databases["feast"]}"')
        saved = {k: os.environ.get(k) for k in env}
        try:
            time.sleep(0.5)
            os.environ.update(env)
            ctx = context(root=root)
            ctx.paths.feast = Path(tmp) / "feast.json"  # the project's own report stays as it is
            feast(ctx.params, ctx.paths, ctx.new_online_store(), say=lambda m: None)
            res["prod"] = reads(root, a.reads)
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            redis.terminate()
            redis.wait(timeout=30)
            psql(ep, f'drop database if exists "{ep.databases["feast"]}" with (force)')
    print(f"Feast online reads in process, {a.reads} each, one run")
    print(f"{'':>34} {'p50 ms':>8} {'p99 ms':>8}")
    for prof, label in (("local", "SQLite (local)"), ("prod", "Redis (prod)")):
        for k, what in (("articles_100", "100 articles"), ("user", "1 user")):
            r = res[prof][k]
            print(f"{label + ', ' + what:>34} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}")
    for k, what in (("articles_100", "100 articles"), ("user", "1 user")):
        ratio = res["prod"][k]["p50_ms"] / res["local"][k]["p50_ms"]
        print(f"Redis / SQLite p50, {what}: {ratio:.2f}x")
        res[f"ratio_{k}"] = ratio
    print(f"saved {save_result('online', res)}")


if __name__ == "__main__":
    main()
