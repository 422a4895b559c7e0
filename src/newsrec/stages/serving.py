"""Serving stage: package (the champion into the BentoML store, and a Bento)."""
from __future__ import annotations

import argparse

from newsrec.config import Paths, load_params
from newsrec.stages.common import progress, write_json


def package(args: argparse.Namespace) -> int:
    """Import models:/newsrec-ranker@champion into BentoML and build the Bento."""
    from newsrec.adapters import bento
    from newsrec.adapters import mlflow as ml

    p, paths = load_params(args.params), Paths()
    say = progress("package")
    ml.configure(paths.root, p.train.experiment)
    version = ml.alias_version(p.train.model_name, ml.CHAMPION)
    if version is None:
        raise ValueError(f"{p.train.model_name} has no champion yet: run `make promote` first")
    tag = bento.import_champion(p.train.model_name, version)
    say(f"imported {p.train.model_name} v{version} (champion) into the BentoML store as {tag}")
    built = bento.build(paths.root) if not getattr(args, "no_build", False) else None
    if built:
        say(f"built Bento {built} (service {bento.SERVICE}, with the newsrec wheel)")
    write_json(paths.reports / "package.json", {"model_version": version, "bento_model": tag, "bento": built})
    return 0


def traffic(args: argparse.Namespace) -> int:
    """Replay labeled impressions of the last day against the running service and record the
    clicks of what it showed, so that monitoring has a window with known outcomes."""
    import json
    import urllib.error
    import urllib.request

    import pandas as pd

    from newsrec.data.canonical import read_table
    from newsrec.predlog import write_outcomes
    from newsrec.replay import replay, requests_from

    p, paths = load_params(args.params), Paths()
    say = progress("traffic")
    url = args.url or f"http://{p.serve.host}:{p.serve.port}"

    def recommend(req: dict) -> dict:
        r = urllib.request.Request(f"{url}/recommend", data=json.dumps(req).encode(),
                                   headers={"content-type": "application/json"})
        try:
            return json.loads(urllib.request.urlopen(r, timeout=60).read())
        except urllib.error.URLError as e:
            raise ValueError(f"{url}: the service does not answer ({e}); start it with `make serve`") from None

    imps = read_table(paths.table("impressions"))
    step = max(args.requests // 10, 1)
    out = replay(requests_from(imps, args.requests, seed=args.seed), recommend,
                 lambda i: say(f"{i:,}/{args.requests:,} requests") if i % step == 0 else None)
    write_outcomes(paths.outcomes, out)
    days = sorted(pd.to_datetime(out["request_time"], utc=True).dt.strftime("%Y-%m-%d").unique().tolist())
    write_json(paths.reports / "traffic.json", {"requests": int(out["request_id"].nunique()), "days": days,
                                                "shown": len(out), "ctr": float(out["clicked"].mean())})
    say(f"{out['request_id'].nunique():,} responses, {len(out):,} shown items, CTR {out['clicked'].mean():.3f}; "
        f"outcomes -> {paths.outcomes}; the service logs to {paths.predictions}")
    return 0
