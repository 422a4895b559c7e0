"""Stage `monitor`: a window of the prediction log against a held-out training sample,
through the Evidently reports (monitoring/), then the drift gate. Writes one folder per
run under reports/monitor/ (report HTML and JSON, summary.json) and the latest decision,
reports/monitor/decision.json. Nothing is triggered from here: the monitor flow does that.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from newsrec.config import Monitor, Params, Paths
from newsrec.console import Run, Say, progress
from newsrec.data.canonical import article_categories
from newsrec.data.io import atomic_file, read_json, write_json
from newsrec.drift import DriftSummary, last_days, performance, sample
from newsrec.features.spec import MODEL_FEATURES
from newsrec.gates import DriftDecision, drift_decision
from newsrec.model import read_split
from newsrec.predlog import CorruptLogError, log_days, losses, quarantine_of, read_log
from newsrec.recommend import score_candidates
from newsrec.threads import one_thread

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry


@dataclass(frozen=True)
class Monitoring:
    """The latest decision (reports/monitor/decision.json)."""

    window: list[str]
    retrain: bool
    reasons: list[str]
    status: Literal["empty", "corrupt", "judged"]
    model_version: str | None = None
    summary: str | None = None  # the run's summary.json, beside its reports
    drift_since: str | None = None  # on retrain: the first day of the run of windows judged drifting
    quarantined: list[str] = field(default_factory=list)  # log files that could not be read, set aside
    # rows of the window's days the service's log writers dropped, failed to write,
    # quarantined or lost (predlog.losses): what the judged window misses
    log_losses: dict[str, int] = field(default_factory=dict)


_REFERENCES: dict = {}  # this process's last reference frame, by everything it is made of
REFERENCES_KEPT = 3  # reference files kept on disk (the newest)


def reference_frame(paths: Paths, p: Params, registry: Registry, version: str) -> pd.DataFrame:
    """A sample of the validation split, scored by the model version that served the window:
    the held-out day just before serving, so its performance is out of sample. Made once for
    the same training set file, registered version (never changed once registered) and
    params, then kept: in the process (the live loop judges every day with it) and on disk
    under reports/monitor/reference/, so a nightly run in a new process reads it instead of
    loading the model and scoring the sample again. A deploy makes it (`prepare_reference`)."""
    st = paths.trainset.stat()
    key = (str(paths.trainset), st.st_mtime_ns, st.st_size, registry.uri, registry.name, version)
    key += (p.monitor.reference_rows, p.monitor.seed, p.ranking.engagement_weight, p.ranking.quality_weight)
    if key not in _REFERENCES:
        _REFERENCES.clear()
        _REFERENCES[key] = _stored(paths, key, version, lambda: _reference_frame(paths, p, registry, version))
    return _REFERENCES[key].copy()


def _stored(paths: Paths, key: tuple, version: str, make) -> pd.DataFrame:
    """The reference frame of `key` from its file, or made and written (atomically); the
    oldest files beyond REFERENCES_KEPT are removed. A file that cannot be read is made again."""
    folder = paths.monitor / "reference"
    f = folder / f"v{version}-{hashlib.sha1(repr(key).encode()).hexdigest()[:16]}.parquet"
    if f.exists():
        try:
            return pd.read_parquet(f)
        except Exception:  # a damaged cache file: made again and overwritten below
            pass
    frame = make()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(f) as tmp:
        frame.to_parquet(tmp)
    for old in sorted(folder.glob("*.parquet"), key=lambda x: x.stat().st_mtime_ns)[:-REFERENCES_KEPT]:
        old.unlink(missing_ok=True)
    return frame


def prepare_reference(p: Params, paths: Paths, registry: Registry, version: str, say: Say) -> None:
    """Make the reference frame of a version just put in service, so that its first night's
    judgement does not wait for it. Monitoring makes it anyway if this could not."""
    if not paths.trainset.exists():
        return
    t = time.monotonic()
    try:
        ref = reference_frame(paths, p, registry, version)
    except Exception as e:  # a failure here loses nothing: the first monitor run makes it
        say(
            f"the monitoring reference of v{version} was not made ({type(e).__name__}: {e}); the next monitor run makes it"
        )
        return
    say(f"the monitoring reference of v{version}: {len(ref):,} validation rows scored ({time.monotonic() - t:.1f} s)")


def _reference_frame(paths: Paths, p: Params, registry: Registry, version: str) -> pd.DataFrame:
    ref = sample(read_split(paths.trainset, "valid")[0], p.monitor.reference_rows, p.monitor.seed)
    model, meta = registry.load_model(version)
    groups = ref["impression_id"].to_numpy()
    engagement, quality, score = score_candidates(
        model, meta["defaults"], ref, groups, p.ranking.engagement_weight, p.ranking.quality_weight
    )
    return ref.assign(
        engagement=engagement, quality=quality, score=score, request_id=groups, clicked=ref["clicked"].astype(float)
    )


def current_frame(paths: Paths, window: list[str], quarantined: list[str] | None = None) -> pd.DataFrame:
    """The model-scored rows of the window (fallbacks are not the model's), with clicks where
    known. With `quarantined` (a list), files that cannot be read are set aside and named there."""
    log = read_log(paths.predictions, window[0], window[-1], quarantined=quarantined)
    if log.empty:
        return log
    log = log[~log["fallback"].astype(bool)]
    cols = ["request_id", "news_id", "clicked"]
    out = read_log(paths.outcomes, window[0], window[-1], columns=cols, quarantined=quarantined)
    if out.empty:
        return log.assign(clicked=np.nan)
    out = out.drop_duplicates(["request_id", "news_id"], keep="last")
    return log.merge(out, on=["request_id", "news_id"], how="left").assign(clicked=lambda d: d["clicked"].astype(float))


def assess(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    window: list[str],
    p: Monitor,
    folder: Path,
    workspace: Path,
    say: Say = print,
    project: str | None = None,
    html: bool = True,
) -> tuple[DriftSummary, DriftDecision]:
    """Reports, summary and decision for one window (what the simulated days call too)."""
    from monitoring import reports

    version = str(current["model_version"].iloc[-1]) if len(current) else None
    ref_s, cur_s = sample(reference, p.reference_rows, p.seed), sample(current, p.current_rows, p.seed)
    s = DriftSummary(
        window=window,
        model_version=version,
        method=p.drift_method,
        rows={
            "reference": len(reference),
            "current": len(current),
            "reference_sampled": len(ref_s),
            "current_sampled": len(cur_s),
        },
    )
    if len(current) >= p.min_rows:
        s.performance["reference"], s.performance["current"] = _performance(reference), _performance(current)
        if (cur := s.performance["current"]) and "diversity@10" in cur:
            ref = s.performance["reference"] or {}
            say(
                "the shown top 10: "
                + ", ".join(f"{k} {cur[k]:.3f} (reference {ref.get(k, float('nan')):.3f})" for k in BEYOND_SHOWN)
            )
        say(
            f"Evidently drift report: reference {len(ref_s):,} of {len(reference):,} rows, "
            f"current {len(cur_s):,} of {len(current):,}"
        )
        run = {
            "timestamp": reports.timestamp(window),
            "tags": ["newsrec", f"model-v{version}"],
            "metadata": {
                "window": ",".join(window),
                "reference_rows": len(ref_s),
                "current_rows": len(cur_s),
                "model_version": str(version),
            },
        }
        with one_thread():  # BLAS threads waiting for work would take the cores the service answers on
            snaps = {"drift": reports.drift_report(ref_s, cur_s, p, **run)}
            s.feature_drift, s.score_drift = reports.drift_scores(snaps["drift"])
            seen = cur_s[cur_s["clicked"].notna() & (cur_s["rank"] <= 10)]
            if len(seen) and seen["clicked"].nunique() == 2:
                snaps["performance"] = reports.performance_report(ref_s[ref_s["clicked"].notna()], seen, **run)
            files = reports.save(
                snaps, folder, workspace, f"window {window[0]}..{window[-1]}", project or reports.PROJECT, html
            )
        for kind, f in files.items():
            say(f"{kind} report {f}")
    decision = drift_decision(s, p)
    write_json(folder / "summary.json", {**s.as_dict(), "decision": decision.__dict__})
    return s, decision


BEYOND_SHOWN = ("diversity@10", "novelty@10", "coverage@10")


def _performance(frame: pd.DataFrame) -> dict | None:
    """drift.performance of a scored frame; with the beyond-accuracy metrics where the frame
    names each candidate's category."""
    beyond = {"items": frame["news_id"], "categories": frame["category"]} if "category" in frame else {}
    return performance(frame["request_id"], frame["clicked"], frame["engagement"], frame["score"], **beyond)


def publish(s: DriftSummary, retrain: bool, say: Say) -> None:
    """The window's numbers to the Pushgateway, where one is configured (newsrec.profile.
    pushgateway); one that does not answer is said, and the decision stands."""
    from newsrec.profile import pushgateway

    if (gateway := pushgateway()) is None:
        return
    from monitoring.metrics import push

    try:
        push(gateway, s, retrain)
        say(f"metrics pushed to {gateway} (Prometheus scrapes them there)")
    except OSError as e:
        say(f"metrics not pushed: the Pushgateway at {gateway} does not answer ({e}); `make up` starts it")


def drift_since(paths: Paths, window: list[str]) -> str:
    """The first day of the drift that `window` (judged drifting) continues: the earliest
    window of the unbroken run of retrain decisions, day after day, that ends with it."""
    since = window[0]
    history = [json.loads(x) for x in paths.decisions.read_text().splitlines()] if paths.decisions.exists() else []
    by_end = {h["window"][-1]: h for h in history if h["status"] == "judged" and h["window"]}
    day = pd.Timestamp(window[0])
    while (prev := by_end.get(f"{day - pd.Timedelta(days=1):%Y-%m-%d}")) and prev["retrain"]:
        since, day = prev["window"][0], pd.Timestamp(prev["window"][0])
    return since


def window_end(paths: Paths, end: str | None) -> str:
    """The last day of the window: YYYY-MM-DD, `traffic` (the last live day `newsrec traffic`
    served) or, by default, today (UTC)."""
    if end == "traffic":
        return read_json(paths.traffic)["days"][-1]
    return end or time.strftime("%Y-%m-%d", time.gmtime())


def _judge(
    p: Params, paths: Paths, registry: Registry, window: list[str], folder: Path, say: Say
) -> tuple[Monitoring, DriftSummary | None]:
    """One window judged, nothing recorded yet: reports into `folder`, the gate's decision.
    Log files that cannot be read are quarantined and named; with nothing readable left the
    window is `corrupt`."""
    quarantined: list[str] = []
    current = current_frame(paths, window, quarantined)
    for q in quarantined:
        say(f"quarantined {q}")
    lost = losses(paths.predictions, window)
    if any(lost.values()):
        say(
            f"the window misses rows the service could not log: {lost['dropped']:,} dropped (queue full), "
            f"{lost['failed']:,} failed to write ({lost['quarantined']:,} kept in "
            f"{quarantine_of(paths.predictions)}, {lost['lost']:,} lost)"
        )
    if quarantined and current.empty:
        why = f"nothing readable left in the log window ({len(quarantined)} file(s) quarantined)"
        return Monitoring(
            window, False, [f"{why}; nothing triggered"], "corrupt", None, None, None, quarantined, lost
        ), None
    version = str(current["model_version"].iloc[-1]) if len(current) else None
    reference = reference_frame(paths, p, registry, version) if version else pd.DataFrame(columns=MODEL_FEATURES)
    if len(current):  # each candidate's category, for the beyond-accuracy metrics of what was shown
        cats = article_categories(paths, p.ingest.source)
        current, reference = (f.assign(category=f["news_id"].map(cats)) for f in (current, reference))
    s, d = assess(reference, current, window, p.monitor, folder, paths.evidently, say)
    out = Monitoring(
        window, d.retrain, d.reasons, "judged", s.model_version, str(folder / "summary.json"), None, quarantined, lost
    )
    return out, s


def _new_folder(base: Path) -> Path:
    """`base`, or `base`-2, -3, ...: a run's own folder, made (two runs in one second, in
    one process or two, would otherwise write their reports into one)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def _record(paths: Paths, m: Monitoring) -> Monitoring:
    """The decision as the latest (decision.json) and, once judged, in the history that
    drift_since reads, with the first day of the drift it continues."""
    if m.status == "judged":
        m = replace(m, drift_since=drift_since(paths, m.window) if m.retrain else None)
        with open(paths.decisions, "a") as f:
            f.write(json.dumps(asdict(m)) + "\n")
    write_json(paths.decision, asdict(m))
    return m


def _empty(p: Params, paths: Paths, say: Say) -> Monitoring:
    d = drift_decision(DriftSummary(window=[], model_version=None, rows={"current": 0}), p.monitor)
    out = _record(paths, Monitoring([], False, d.reasons, "empty"))
    say(f"{paths.predictions}: no logged traffic. " + d.reasons[0])
    return out


def _corrupt(m: Monitoring) -> CorruptLogError:
    return CorruptLogError(f"{m.reasons[0].split(';')[0]}: {m.quarantined[0]}. Nothing triggered.")


def monitor(p: Params, paths: Paths, registry: Registry, end: str | None = None, say: Say | None = None) -> Monitoring:
    """The last monitor.window_days of traffic up to `end` against the training sample.
    Log files that cannot be read are quarantined and named; the rest is judged. Raises
    CorruptLogError (after writing the decision) when nothing readable is left."""
    say = say or progress("monitor")
    end = window_end(paths, end)
    days = [d for d in log_days(paths.predictions) if d <= end]  # future-dated requests are not traffic yet
    window = last_days(days, p.monitor.window_days)
    if not window:
        return _empty(p, paths, say)
    say(f"window {window[0]}..{window[-1]} of {len(days)} logged day(s) in {paths.predictions}")
    m, s = _judge(p, paths, registry, window, _new_folder(paths.monitor / time.strftime("%Y%m%d-%H%M%S")), say)
    out = _record(paths, m)
    if s is None:
        raise _corrupt(out)
    publish(s, out.retrain, say)
    for r in out.reasons:
        say(r)
    say(f"decision: {'RETRAIN' if out.retrain else 'keep'}; {paths.decision}")
    return out


def monitor_days(
    p: Params,
    paths: Paths,
    registry: Registry,
    first: str,
    end: str | None = None,
    say: Say | None = None,
    run: Run | None = None,
) -> list[Monitoring]:
    """Every logged day from `first` to `end`, each judged as `monitor` would have judged it
    that night (the last monitor.window_days up to it), the days independent of each other,
    so that `run(fn, days)` judges them anywhere (a Dask cluster, Prefect tasks); then
    recorded in day order, so that each drift knows when it began, the last day's decision
    the latest; without `run`, on the cluster when `engine.kind: dask`, as the batch stages.
    Raises CorruptLogError when the last day has nothing readable left."""
    say = say or progress("monitor")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", first):
        raise ValueError(f"the first day to judge is {first!r}, not a day: give YYYY-MM-DD (e.g. FROM=2026-11-12)")
    if run is None and p.engine.kind == "dask":  # a day per task on the cluster
        from newsrec.adapters.dask import client, runner

        with client(p.engine, say) as c:
            return monitor_days(p, paths, registry, first, end, say, runner(c, say, "days judged"))
    end = window_end(paths, end)
    days = [d for d in log_days(paths.predictions) if d <= end]
    chosen = [d for d in days if d >= first]
    if not chosen:
        return [_empty(p, paths, say)]
    say(f"{len(chosen)} day(s) {chosen[0]}..{chosen[-1]} judged, each with its own window, in {paths.predictions}")
    stamp = time.strftime("%Y%m%d-%H%M%S")

    def one(day: str) -> Monitoring:
        window = last_days([d for d in days if d <= day], p.monitor.window_days)
        return _judge(p, paths, registry, window, paths.monitor / f"{stamp}-{day}", lambda m: None)[0]

    judged = run(one, chosen) if run else [one(d) for d in chosen]
    out = [_record(paths, m) for m in judged]
    for m in out:
        say(
            f"{m.window[-1]}: {'RETRAIN' if m.retrain else m.status if m.status != 'judged' else 'keep'}; {m.reasons[0]}"
        )
    if out[-1].status == "corrupt":
        raise _corrupt(out[-1])
    say(f"decision of {chosen[-1]}: {'RETRAIN' if out[-1].retrain else 'keep'}; {paths.decision}")
    return out
