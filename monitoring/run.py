"""`newsrec monitor`: a window of the prediction log against a training sample, through
the Evidently reports, then the drift gate. Writes one folder per run under
reports/monitoring/ (report HTML and JSON, summary.json) and reports/monitoring/decision.json,
the latest decision, which the monitoring flow reads.

Exit status: 0 when a decision was made (retrain or keep, including "no traffic"), 1 when
the log window cannot be read; in both cases nothing is triggered from here.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from newsrec.config import Monitor, Params, Paths, load_params
from newsrec.features import MODEL_FEATURES
from newsrec.gates import DriftDecision, drift_decision
from newsrec.monitor import DriftSummary, last_days, performance, sample
from newsrec.predlog import CorruptLogError, log_days, read_log
from newsrec.serving import score_candidates
from newsrec.stages.common import progress, write_json


def reference_frame(paths: Paths, p: Params, version: str) -> pd.DataFrame:
    """A sample of the validation split, scored by the model version that served the window:
    the held-out day just before serving, so its performance is out of sample."""
    from newsrec.adapters import mlflow as ml

    frame = pd.read_parquet(paths.root / "data" / "trainset" / "trainset.parquet")
    ref = sample(frame[frame["split"] == "valid"], p.monitor.reference_rows, p.monitor.seed)
    ml.configure(paths.root, p.train.experiment)
    model, meta = ml.load_model(p.train.model_name, version)
    groups = ref["impression_id"].to_numpy()
    engagement, quality, score = score_candidates(model, meta["defaults"], ref, groups, p.ranking.engagement_weight,
                                                  p.ranking.quality_weight)
    return ref.assign(engagement=engagement, quality=quality, score=score, request_id=groups,
                      clicked=ref["clicked"].astype(float))


def current_frame(paths: Paths, window: list[str]) -> pd.DataFrame:
    """The model-scored rows of the window (fallbacks are not the model's), with clicks where known."""
    log = read_log(paths.predictions, window[0], window[-1])
    if log.empty:
        return log
    log = log[~log["fallback"].astype(bool)]
    out = read_log(paths.outcomes, window[0], window[-1], columns=["request_id", "news_id", "clicked"])
    if out.empty:
        return log.assign(clicked=np.nan)
    out = out.drop_duplicates(["request_id", "news_id"], keep="last")
    return log.merge(out, on=["request_id", "news_id"], how="left").assign(
        clicked=lambda d: d["clicked"].astype(float))


def assess(reference: pd.DataFrame, current: pd.DataFrame, window: list[str], p: Monitor, folder: Path,
           workspace: Path, say=print, project: str = "newsrec", html: bool = True
           ) -> tuple[DriftSummary, DriftDecision]:
    """Reports, summary and decision for one window (the function the flows call too)."""
    from monitoring import report

    version = str(current["model_version"].iloc[-1]) if len(current) else None
    ref_s, cur_s = sample(reference, p.reference_rows, p.seed), sample(current, p.current_rows, p.seed)
    s = DriftSummary(window=window, model_version=version, method=p.drift_method,
                     rows={"reference": len(reference), "current": len(current),
                           "reference_sampled": len(ref_s), "current_sampled": len(cur_s)})
    if len(current) >= p.min_rows:
        s.performance["reference"] = performance(reference["request_id"], reference["clicked"],
                                                 reference["engagement"], reference["score"])
        s.performance["current"] = performance(current["request_id"], current["clicked"],
                                               current["engagement"], current["score"])
        say(f"Evidently drift report: reference {len(ref_s):,} of {len(reference):,} rows, "
            f"current {len(cur_s):,} of {len(current):,}")
        run = {"timestamp": report.timestamp(window), "tags": ["newsrec", f"model-v{version}"],
               "metadata": {"window": ",".join(window), "reference_rows": len(ref_s), "current_rows": len(cur_s),
                            "model_version": str(version)}}
        snaps = {"drift": report.drift_report(ref_s, cur_s, p, **run)}
        s.feature_drift, s.score_drift = report.drift_scores(snaps["drift"])
        seen = cur_s[cur_s["clicked"].notna() & (cur_s["rank"] <= 10)]
        if len(seen) and seen["clicked"].nunique() == 2:
            snaps["performance"] = report.performance_report(ref_s[ref_s["clicked"].notna()], seen, **run)
        files = report.save(snaps, folder, workspace, f"window {window[0]}..{window[-1]}", project, html)
        for kind, f in files.items():
            say(f"{kind} report {f}")
    decision = drift_decision(s, p)
    write_json(folder / "summary.json", {**s.as_dict(), "decision": decision.__dict__})
    return s, decision


def monitor(args: argparse.Namespace) -> int:
    """Stage `monitor`: the last window_days of traffic against the training sample."""
    p, paths = load_params(args.params), Paths()
    say = progress("monitor")
    end = getattr(args, "end", None) or time.strftime("%Y-%m-%d", time.gmtime())
    if end == "traffic":  # the day `newsrec traffic` last replayed
        end = json.loads((paths.reports / "traffic.json").read_text())["days"][-1]
    days = [d for d in log_days(paths.predictions) if d <= end]  # future-dated requests are not traffic yet
    window = last_days(days, p.monitor.window_days)
    folder = paths.monitoring / time.strftime("%Y%m%d-%H%M%S")
    latest = paths.monitoring / "decision.json"
    if not window:
        d = drift_decision(DriftSummary(window=[], model_version=None, rows={"current": 0}), p.monitor)
        write_json(latest, {"window": [], "retrain": False, "reasons": d.reasons, "status": "empty"})
        say(f"{paths.predictions}: no logged traffic. " + d.reasons[0])
        return 0
    say(f"window {window[0]}..{window[-1]} of {len(days)} logged day(s) in {paths.predictions}")
    try:
        current = current_frame(paths, window)
    except CorruptLogError as e:
        write_json(latest, {"window": window, "retrain": False, "status": "corrupt",
                            "reasons": [f"the log window cannot be read: {e}; nothing triggered"]})
        say(f"FAILED: the log window cannot be read: {e}. Nothing triggered.")
        return 1
    version = str(current["model_version"].iloc[-1]) if len(current) else None
    reference = reference_frame(paths, p, version) if version else pd.DataFrame(columns=MODEL_FEATURES)
    s, d = assess(reference, current, window, p.monitor, folder, paths.evidently, say)
    write_json(latest, {"window": window, "retrain": d.retrain, "reasons": d.reasons, "status": "judged",
                        "model_version": s.model_version, "summary": str(folder / "summary.json")})
    for r in d.reasons:
        say(r)
    say(f"decision: {'RETRAIN' if d.retrain else 'keep'}; {latest}")
    return 0


def load_decision(paths: Paths) -> dict:
    return json.loads((paths.monitoring / "decision.json").read_text())
