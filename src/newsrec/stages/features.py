"""Feature stages: features (the tables), feast (apply + materialize)."""
from __future__ import annotations

import argparse
import json

from newsrec.config import Paths, load_params
from newsrec.stages.common import progress as _progress


def features(args: argparse.Namespace) -> int:
    """Stage `features`: canonical tables -> point-in-time feature tables (data/features)."""
    from newsrec.data.canonical import read_table
    from newsrec.data.io import atomic_dir
    from newsrec.features import build_features

    p, paths = load_params(args.params), Paths()
    say = _progress("features")
    t = {n: read_table(paths.table(n)) for n in ("news", "impressions", "histories", "feedback")}
    ft = build_features(t["news"], t["impressions"], t["histories"], t["feedback"], feature_categories(p), p.features)
    with atomic_dir(paths.features) as tmp:
        for name in ("users", "news_meta", "news_stats"):
            getattr(ft, name).to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "categories.json").write_text(json.dumps(feature_categories(p)))
    say(f"users {len(ft.users):,} rows, news_meta {len(ft.news_meta):,}, news_stats {len(ft.news_stats):,}; "
        f"quality from {ft.quality_source} -> {paths.features}")
    return 0


def feature_categories(p) -> list[str]:
    """The category layout of the affinity vectors: known categories, then `other`."""
    from newsrec.contracts import known_categories

    return known_categories(p) + ["other"]


def feast(args: argparse.Namespace) -> int:
    """Stage `feast`: feast apply, then materialize the features into the online store."""
    import pandas as pd

    from newsrec.adapters import feast as fa

    paths = Paths()
    say = _progress("feast")
    fs = fa.apply(paths.feature_repo)
    say(f"applied {paths.feature_repo} (FeatureService {fa.SERVICE})")
    ts = pd.concat([pd.read_parquet(paths.features / f"{n}.parquet", columns=["event_timestamp"])
                    for n in ("users", "news_meta", "news_stats")])["event_timestamp"]
    fa.materialize(fs, ts.min().to_pydatetime(), (ts.max() + pd.Timedelta(seconds=1)).to_pydatetime())
    say(f"materialized {ts.min()} .. {ts.max()} into the online store")
    return 0
