"""The Prefect deployments: the daily monitoring schedule and the drift-event trigger of the
retraining deployment, matched to the event the monitoring flow emits."""

from flows.deployments import DAILY, deployments
from flows.monitor import DRIFT_EVENT, RESOURCE


def test_deployments_schedule_monitoring_and_retrain_on_the_drift_event():
    ds = {d.name: d for d in deployments()}
    assert set(ds) == {"daily", "retrain-on-drift", "manual"}
    assert ds["daily"].schedules[0].schedule.cron == DAILY
    (trigger,) = ds["retrain-on-drift"].triggers
    assert trigger.expect == {DRIFT_EVENT}
    assert trigger.match.root["prefect.resource.id"] == RESOURCE["prefect.resource.id"]
