"""Stage `features`: canonical tables (ingested and collected) -> point-in-time feature
tables (data/features)."""

from __future__ import annotations

import json

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.contracts import known_categories
from newsrec.data import schema, slices
from newsrec.data.canonical import read_table
from newsrec.data.io import atomic_dir
from newsrec.features.build import FeatureTables, build_features
from newsrec.features.partitioned import build_from_tables
from newsrec.features.spec import VIEWS
from newsrec.stages.collect import tables


def feature_categories(p: Params) -> list[str]:
    """The category layout of the affinity vectors: known categories, then `other`."""
    return known_categories(p) + ["other"]


def features(p: Params, paths: Paths, say: Say | None = None) -> FeatureTables:
    """Build the tables the Feast views read, and the category layout, atomically."""
    say = say or progress("features")
    logged_titles = read_table(paths.table("news"))["title"]  # the content model is fitted on the logged news only
    cats = feature_categories(p)
    if p.engine.kind == "dask":  # a day of rows per task on the cluster, each reading its own slices: the same rows
        from newsrec.adapters.dask import client, runner

        files = slices.tables(paths.canonical, paths.collected, tuple(schema.TABLES))
        with client(p.engine, say) as c:
            run = runner(c, say, "days of feature rows built")
            ft = build_from_tables(files, cats, p.features, logged_titles, run, say)
    else:
        t = tables(paths)  # ingested and collected rows alike
        ft = build_features(t["news"], t["impressions"], t["histories"], t["feedback"], cats, p.features, logged_titles)
    with atomic_dir(paths.features) as tmp:
        for v in VIEWS:
            getattr(ft, v.table).to_parquet(tmp / f"{v.table}.parquet", index=False)
        (tmp / "categories.json").write_text(json.dumps(feature_categories(p)))
        summary = {v.table: len(getattr(ft, v.table)) for v in VIEWS}
        (tmp / "summary.json").write_text(
            json.dumps({"rows": summary, "quality_source": ft.quality_source, "undescribed_articles": ft.undescribed})
        )
    say(
        ", ".join(f"{v.table} {len(getattr(ft, v.table)):,} rows" for v in VIEWS)
        + f"; quality from {ft.quality_source} -> {paths.features}"
    )
    if ft.undescribed:
        say(
            f"{ft.undescribed:,} articles in the impression log have no metadata in news.tsv: their engagement "
            "features come from the log, their category is `other` and their title vector zero"
        )
    return ft
