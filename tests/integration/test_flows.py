"""The Prefect deployments: the daily monitoring schedule and the drift-event trigger of the
retraining deployment, matched to the event the monitoring flow emits."""

from flows.deployments import DAILY, deployments
from flows.monitor import DRIFT_EVENT, resource


def test_deployments_schedule_monitoring_and_retrain_on_the_drift_event():
    ds = {d.name: d for d in deployments()}
    assert set(ds) == {"daily", "on-drift", "manual"}
    assert ds["daily"].schedules[0].schedule.cron == DAILY
    (trigger,) = ds["on-drift"].triggers
    assert trigger.expect == {DRIFT_EVENT}
    assert trigger.match.root["prefect.resource.id"] == resource()["prefect.resource.id"]
    assert trigger.parameters == {"since": "{{ event.payload.since }}", "until": "{{ event.payload.until }}"}


def test_the_monitor_flow_says_who_reacts_to_the_drift_event(prefect):
    """Honest orchestration: without a server nobody hears the event; on a server with no
    listener it says so; once the retraining deployment is applied, its trigger is named."""
    from flows.monitor import announce, listeners
    from newsrec.stages.monitor import Monitoring

    d = Monitoring(["2026-11-09"], True, ["RETRAIN: drift"], "judged", "1")
    emit, line = announce(d, None)
    assert not emit and line.startswith("no Prefect server: nothing would receive newsrec.drift.detected")
    assert listeners() == []
    assert announce(d, [])[1].endswith(
        "no deployment listens to it on this server, so nothing retrains (`make deployments`)"
    )
    retrain = {x.name: x for x in deployments()}["on-drift"]
    retrain.apply()
    (who,) = listeners()
    assert "drift detected" in who
    assert announce(d, [who]) == (True, f"emitted newsrec.drift.detected for window 2026-11-09; it triggers {who}")


def test_a_retrain_fits_the_days_since_the_drift_began_at_most_the_window():
    from flows.retrain import window_days

    assert window_days("2026-11-12", "2026-11-12", 3) == 1
    assert window_days("2026-11-10", "2026-11-12", 3) == 3
    assert window_days("2026-11-05", "2026-11-12", 3) == 3
