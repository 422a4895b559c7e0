"""Short, readable summaries for make targets: `python -m newsrec.report demo|validation`."""
from __future__ import annotations

import json
import sys

import pyarrow.parquet as pq

from newsrec.config import Paths, load_params
from newsrec.data.schema import TABLES


def validation(paths: Paths) -> list[str]:
    f = paths.reports / "validation.json"
    if not f.exists():
        return ["validation: not run yet (make validate)"]
    v = json.loads(f.read_text())
    head = f"validation: {'PASSED' if v['ok'] else 'FAILED'}, {v['checks'] - v['failed']}/{v['checks']} checks"
    return [head, *[f"  {r}" for r in v["reasons"]],
            f"  summary    {f}", f"  Data Docs  {paths.reports / 'data_docs' / 'index.html'}"]


def training(paths: Paths) -> list[str]:
    files = {n: paths.reports / f"{n}.json" for n in ("train", "metrics", "promotion")}
    if not all(f.exists() for f in files.values()):
        return ["training: not run yet (make train evaluate promote)"]
    t, m, pr = (json.loads(f.read_text()) for f in files.values())
    out = [f"model          {t['model_name']} v{t['version']} (MLflow run {t['run_id']}), "
           f"{'PROMOTED to champion' if pr['promoted'] else 'not promoted'}; champion is v{pr['champion']}"]
    out += [f"  {r}" for r in pr["reasons"]]
    out.append("  test nDCG@10: " + ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in m.items()))
    if "oracle" in m:
        share = (m["model"]["ndcg@10"] - m["random"]["ndcg@10"]) / (m["oracle"]["ndcg@10"] - m["random"]["ndcg@10"])
        out.append(f"  the model goes {share:.0%} of the way from random to the oracle")
    out += [f"  metrics    {files['metrics']}", f"  plot       {paths.reports / 'plots' / 'metrics.png'}",
            f"  model card {paths.reports / 'model_card.md'}",
            f"  MLflow     {paths.root / 'mlruns'} (tracking DB mlflow.db; browse with "
            f"`mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`)"]
    return out


def demo(paths: Paths) -> list[str]:
    p = load_params()
    out = [f"newsrec demo: source = {p.ingest.source}", f"raw files      {paths.raw_source(p.ingest.source)}",
           f"canonical      {paths.canonical}"]
    for name in TABLES:
        f = paths.table(name)
        rows = pq.ParquetFile(f).metadata.num_rows if f.exists() else "missing"
        out.append(f"  {name:<12} {rows:>12,} rows" if isinstance(rows, int) else f"  {name:<12} {rows}")
    out += validation(paths)
    out += training(paths)
    out += ["versions       dvc.lock (hashes of every stage's inputs and outputs); "
            "`dvc push` copies data to the remote in .dvc/config"]
    return out


def main(argv: list[str] | None = None) -> int:
    what = (argv or sys.argv[1:] or ["demo"])[0]
    paths = Paths()
    lines = {"demo": demo, "validation": validation, "training": training}[what](paths)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
