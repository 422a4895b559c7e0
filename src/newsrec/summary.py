"""Short, readable summaries for make targets: `python -m newsrec.summary demo|validate|loop`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from newsrec.bootstrap import context
from newsrec.config import Paths
from newsrec.data.schema import TABLES
from newsrec.economics import verdict as pays_off
from newsrec.profile import endpoints, profile


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
    if "success" in pr:
        p = context(root=paths.root).params.promote
        out.append(
            f"  success criteria (promote.success, against popularity's top 10): "
            f"{'HOLD' if pr['success'] else 'MISSED'}"
            + ("" if p.require_success else " (reported; promote.require_success makes the gate require them)")
        )
    out.append("  test nDCG@10: " + ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in m.items()))
    if "oracle" in m:
        share = (m["model"]["ndcg@10"] - m["random"]["ndcg@10"]) / (m["oracle"]["ndcg@10"] - m["random"]["ndcg@10"])
        out.append(f"  the model goes {share:.0%} of the way from random to the oracle")
    out += [
        f"  metrics    {files['metrics']}",
        f"  plot       {paths.plots / 'metrics.png'}",
        f"  model card {paths.model_card}",
        _mlflow_line(paths),
    ]
    return out


def _mlflow_line(paths: Paths) -> str:
    """Where the runs are: the local files, or the prod profile's tracking server."""
    if profile() == "prod":
        ep = endpoints()
        return (
            f"  MLflow     {ep.mlflow} (tracking server: runs in PostgreSQL {ep.databases['mlflow']}, "
            f"artifacts in s3://{ep.bucket}/mlflow; `make ui PROFILE=prod` opens it)"
        )
    return (
        f"  MLflow     {paths.mlflow} (tracking DB mlflow.db; browse with "
        f"`mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`)"
    )


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
        if any((lost := d.get("log_losses") or {}).values()):
            out.append(
                f"  log        rows the service could not log: {lost['dropped']:,} dropped, {lost['failed']:,} "
                f"failed to write ({lost['quarantined']:,} quarantined, {lost['lost']:,} lost)"
            )
        for q in d.get("quarantined") or []:
            out.append(f"  quarantined {q}")
        if d.get("summary"):
            folder = Path(d["summary"]).parent
            out += [
                f"  reports    {folder / 'drift.html'}, {folder / 'performance.html'}",
                f"  workspace  {paths.evidently} (Evidently UI)",
            ]
    if paths.simulate.exists():
        out.append(f"simulation     {paths.simulate}, plot {paths.simulate_plot} (`make simulate`)")
        if econ := json.loads(paths.simulate.read_text()).get("economics"):
            out.append(f"  economics  {pays_off(econ)}")
    if paths.canvas.exists():
        out.append(f"ML canvas      {paths.canvas}: the project's numbers section by section (`make canvas`)")
    from newsrec.stages.ui import UIS, url

    out.append("UIs (`make ui`, stop with `make down`): " + ", ".join(f"{n} {url(n)}" for n in UIS))
    return out


def outcome(paths: Paths) -> list[str]:
    """The demo's last line: what the live day made the loop do."""
    if not paths.decision.exists():
        return ["outcome        no monitoring verdict yet (make monitor)"]
    d = json.loads(paths.decision.read_text())
    if d["retrain"]:
        return [
            f"outcome        DRIFT on {', '.join(d['window'])}: the gate says retrain (`make monitor` sends the event)"
        ]
    return [f"outcome        KEEP: {', '.join(d['window']) or 'no window'} raised no drift alarm, the champion stays"]


def loop(paths: Paths) -> list[str]:
    """`make loop` (and `make demo SCENARIO=shock`): the live days, and what the loop did."""
    if not paths.loop.exists():
        return ["live loop: not run yet (make loop)"]
    r = json.loads(paths.loop.read_text())
    days = r["policies"]["drift"]
    shock = f", shock from live day {r['shock_day']}" if r["shock_day"] is not None else ""
    out = [f"newsrec live loop: {r['days']} live day(s) of {r['scenario']}{shock}, in {r['project']}"]
    for d in days:
        out.append(
            f"  day {d['day']} ({d['date']}): {d['requests']:,} readers served by v{d['model_version']}: "
            f"ctr@10 {d['ctr@10']:.4f}, ndcg@10 {d['ndcg@10']:.4f} (oracle {d['oracle']['ndcg@10']:.4f}), "
            f"quality@10 {d['quality@10']:.3f}"
            + (" | DRIFT" if d["drift"] else " | keep")
            + (" -> retrained" if d["retrained"] else "")
            + (
                " -> new champion deployed"
                if d["deployed"]
                else (" (the gate kept the champion)" if d["retrained"] else "")
            )
        )
    if rec := (r.get("recovery") or {}).get("policies", {}).get("drift"):
        out.append(
            f"  recovery {rec['mean']:.3f} of the share of the oracle before the shock ({', '.join(r['recovery']['days'])})"
        )
    if sim := r.get("simulated"):
        a = sim["agreement"]
        out.append(
            f"  the same days simulated in process: share of the oracle at most {a['max_share_gap']:.3f} apart "
            f"(tolerance {a['tolerance']}), drift verdicts differ on days {a['drift_differs'] or 'none'}"
        )
    out.append(f"  report {paths.loop}, plot {paths.loop_plot}")
    served = [d for d in days if d["deployed"]]
    if served:
        d = served[0]
        nxt = next((x for x in days if x["day"] > d["day"]), None)
        now = nxt["model_version"] if nxt else d.get("serving_after")
        then = (
            (f"v{now}" if now else "the new champion")
            + " in service"
            + (f" from day {nxt['day']}" if nxt else ", swapped in on every worker without a restart")
        )
        out.append(f"outcome        DRIFT on day {d['day']} -> RETRAIN -> a new version served: {then}")
    elif any(d["drift"] for d in days):
        out.append("outcome        DRIFT -> RETRAIN, but the gate kept the champion: no new version served")
    else:
        out.append(
            f"outcome        KEEP: no drift alarm in {len(days)} live day(s); v{days[-1]['model_version']} still serves"
        )
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
        "versions       dvc.lock (hashes of every stage's inputs and outputs); `dvc push` copies data to the "
        + (
            "remote s3 (the bucket `make up` set in .dvc/config.local)"
            if profile() == "prod"
            else "remote in .dvc/config"
        )
    ]
    return out + outcome(paths)


def main(argv: list[str] | None = None) -> int:
    what = (argv or sys.argv[1:] or ["demo"])[0]
    paths = context().paths
    lines = {"demo": demo, "validate": validate, "training": training, "serving": serving, "loop": loop}[what](paths)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
