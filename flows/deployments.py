"""The deployments, served by this process (`make deployments`, with `make ui` up):

- `monitor/daily`: the monitor flow every day at 06:00 UTC;
- `pipeline/retrain-on-drift`: the pipeline flow, triggered by the event the monitor flow
  emits when the drift gate says retrain;
- `deploy/manual`: package the champion and restart the service, run on demand.
"""

from __future__ import annotations

from prefect import serve
from prefect.events import DeploymentEventTrigger

from flows.deploy import deploy
from flows.monitor import DRIFT_EVENT, RESOURCE, monitor
from flows.pipeline import pipeline

DAILY = "0 6 * * *"


def deployments() -> list:
    return [
        monitor.to_deployment(name="daily", cron=DAILY, tags=["newsrec"]),
        pipeline.to_deployment(
            name="retrain-on-drift",
            tags=["newsrec"],
            triggers=[
                DeploymentEventTrigger(
                    name="drift detected",
                    expect={DRIFT_EVENT},
                    match_related={},
                    match={"prefect.resource.id": RESOURCE["prefect.resource.id"]},
                )
            ],
        ),
        deploy.to_deployment(name="manual", tags=["newsrec"]),
    ]


if __name__ == "__main__":
    serve(*deployments())
