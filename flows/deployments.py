"""The deployments, served by this process (`make deployments`, with `make ui` up):

- `monitoring/daily`: the monitoring flow every day at 06:00 UTC;
- `training/retrain-on-drift`: the training flow, triggered by the event the monitoring
  flow emits when the drift gate says retrain;
- `deploy/manual`: package the champion and restart the service, run on demand.
"""
from __future__ import annotations

from prefect import serve
from prefect.events import DeploymentEventTrigger

from flows.monitoring import DRIFT_EVENT, monitoring
from flows.serving import deploy
from flows.training import training

DAILY = "0 6 * * *"


def deployments() -> list:
    return [
        monitoring.to_deployment(name="daily", cron=DAILY, tags=["newsrec"]),
        training.to_deployment(name="retrain-on-drift", tags=["newsrec"], triggers=[
            DeploymentEventTrigger(name="drift detected", expect={DRIFT_EVENT},
                                   match_related={}, match={"prefect.resource.id": "newsrec.monitoring"})]),
        deploy.to_deployment(name="manual", tags=["newsrec"]),
    ]


if __name__ == "__main__":
    serve(*deployments())
