"""Short, readable summaries for make targets: `python -m newsrec.summary demo|validate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from newsrec.bootstrap import context
from newsrec.config import Paths
from newsrec.data.schema import TABLES


def validate(paths: Paths) -> list[str]:
    f = paths.validate
    if not f.exists():
        return ["validation: not run yet (make validate)"]
    v = json.loads(f.read_text())
    head = f"validation: {'PASSED' if v['ok'] else 'FAILED'}, {v['checks'] - v['failed']}/{v['checks']} checks"
    return [
        head,
        *[f"  {r}" for r in v["reasons"]],
        f"  summary    {f}",
        f"  Data Docs  {paths.data_docs / 'index.html'}",
    ]


def training(paths: Paths) -> list[str]:
    files = {"train": paths.train, "metrics": paths.metrics, "promote": paths.promote}
    if not all(f.exists() for f in files.values()):
        return ["training: not run yet (make train evaluate promote)"]
    t, m, pr = (json.loads(f.read_text()) for f in files.values())
    run = f"MLflow run {t['run_id']}" + (", an identical earlier training reused" if t.get("reused") else "")
    out = [
        f"model          {t['model_name']} v{t['version']} ({run}), "
        f"{'PROMOTED to champion' if pr['promoted'] else 'not promoted'}; champion is v{pr['champion']}"
    ]
    out += [f"  {r}" for r in pr["reasons"]]
    out.append("  test nDCG@10: " + ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in m.items()))
    if "oracle" in m:
        share = (m["model"]["ndcg@10"] - m["random"]["ndcg@10"]) / (m["oracle"]["ndcg@10"] - m["random"]["ndcg@10"])
        out.append(f"  the model goes {share:.0%} of the way from random to the oracle")
    out += [
        f"  metrics    {files['metrics']}",
        f"  plot       {paths.plots / 'metrics.png'}",
        f"  model card {paths.model_card}",
        f"  MLflow     {paths.mlflow} (tracking DB mlflow.db; browse with "
        f"`mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`)",
    ]
    return out


def serving(paths: Paths) -> list[str]:
    """What was served and what monitoring made of it."""
    out = []
    pkg, traffic, decision = paths.package, paths.traffic, paths.decision
    if pkg.exists():
        pk = json.loads(pkg.read_text())
        out.append(f"served         v{pk['model_version']} as BentoML model {pk['bento_model']} (`make serve` runs it)")
    if traffic.exists() and (t := json.loads(traffic.read_text()))["days"]:
        out.append(
            f"live traffic   {t['requests']:,} readers on {', '.join(t['days'])}, the online store moving forward "
            f"hour by hour: CTR@10 {t['ctr']:.3f}; log {paths.predictions}, outcomes {paths.outcomes}"
        )
        for d in t["per_day"]:
            out.append(
                f"  {d['date']}: served by v{'/v'.join(d['model_versions'])}: ndcg@10 {d['ndcg@10']:.4f} "
                f"(oracle {d['oracle']['ndcg@10']:.4f}), quality@10 {d['quality@10']:.3f} "
                f"(oracle {d['oracle']['quality@10']:.3f})"
            )
    if decision.exists():
        d = json.loads(decision.read_text())
        verdict = "RETRAIN" if d["retrain"] else "keep"
        out.append(f"monitoring     window {', '.join(d['window']) or 'empty'}: {verdict} ({d['status']})")
        out += [f"  {r}" for r in d["reasons"]]
        if d.get("summary"):
            folder = Path(d["summary"]).parent
            out += [
                f"  reports    {folder / 'drift.html'}, {folder / 'performance.html'}",
                f"  workspace  {paths.evidently} (Evidently UI)",
            ]
    if paths.simulate.exists():
        out.append(f"simulation     {paths.simulate}, plot {paths.simulate_plot} (`make simulate`)")
    from newsrec.stages.ui import UIS, url

    out.append("UIs (`make ui`, stop with `make down`): " + ", ".join(f"{n} {url(n)}" for n in UIS))
    return out


def demo(paths: Paths) -> list[str]:
    p = context(root=paths.root).params
    out = [
        f"newsrec demo: source = {p.ingest.source}",
        f"raw files      {paths.raw_source(p.ingest.source)}",
        f"canonical      {paths.canonical}",
    ]
    for name in TABLES:
        f = paths.table(name)
        rows = pq.ParquetFile(f).metadata.num_rows if f.exists() else "missing"
        out.append(f"  {name:<12} {rows:>12,} rows" if isinstance(rows, int) else f"  {name:<12} {rows}")
    out += validate(paths)
    out += training(paths)
    out += serving(paths)
    out += [
        "versions       dvc.lock (hashes of every stage's inputs and outputs); "
        "`dvc push` copies data to the remote in .dvc/config"
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    what = (argv or sys.argv[1:] or ["demo"])[0]
    paths = context().paths
    lines = {"demo": demo, "validate": validate, "training": training, "serving": serving}[what](paths)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
