"""Monitoring's numbers as Prometheus metrics. A batch job has no /metrics to scrape, so
after each judged window the monitor stage pushes them to a Pushgateway (the prod profile's,
or NEWSREC_PUSHGATEWAY), where Prometheus scrapes them next to the service's own metrics:
the drift score per feature and of the engagement scores, nDCG@10 of the served order
(reference and current, where clicks are known), and whether the window asked to retrain.
"""

from __future__ import annotations

from newsrec.drift import DriftSummary

JOB = "newsrec_monitor"


def push(gateway: str, summary: DriftSummary, retrain: bool, timeout_s: float = 10) -> None:
    """Replace the job's metrics on the Pushgateway at `gateway` with this window's."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

    reg = CollectorRegistry()
    drift = Gauge(
        "newsrec_feature_drift",
        f"drift score per feature of the last judged window ({summary.method})",
        ["feature"],
        registry=reg,
    )
    for feature, score in summary.feature_drift.items():
        drift.labels(feature).set(score)
    if summary.score_drift is not None:
        Gauge("newsrec_score_drift", "drift score of the engagement scores", registry=reg).set(summary.score_drift)
    ndcg = Gauge("newsrec_ndcg_at_10", "nDCG@10 of the served order where clicks are known", ["data"], registry=reg)
    for data, perf in summary.performance.items():
        if perf and perf.get("ndcg@10") is not None:
            ndcg.labels(data).set(perf["ndcg@10"])
    Gauge("newsrec_monitor_retrain", "1: the last judged window asked to retrain", registry=reg).set(int(retrain))
    Gauge("newsrec_monitor_rows", "model-scored rows in the window", registry=reg).set(summary.rows.get("current", 0))
    Gauge(
        "newsrec_monitor_last_run_seconds", "when monitoring last judged a window", registry=reg
    ).set_to_current_time()
    push_to_gateway(gateway, job=JOB, registry=reg, timeout=timeout_s)
