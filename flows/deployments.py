"""The deployments, served by this process (`make deployments`, with `make ui` up):

- `monitor/daily`: the monitor flow every day at 06:00 UTC;
- `retrain/on-drift`: the retrain flow (collect, train on the days since the drift began,
  gate, deploy), triggered by the event the monitor flow emits when the drift gate says
  retrain, for this project only;
- `deploy/manual`: package the champion and put it in service, run on demand.
"""

from __future__ import annotations

from prefect import serve
from prefect.events import DeploymentEventTrigger

from flows.deploy import deploy
from flows.monitor import DRIFT_EVENT, monitor, resource
from flows.retrain import retrain

DAILY = "0 6 * * *"


def deployments() -> list:
    return [
        monitor.to_deployment(name="daily", cron=DAILY, tags=["newsrec"]),
        retrain.to_deployment(
            name="on-drift",
            tags=["newsrec"],
            triggers=[
                DeploymentEventTrigger(
                    name=f"drift detected in {resource()['prefect.resource.name']}",
                    expect={DRIFT_EVENT},
                    match_related={},
                    match={"prefect.resource.id": resource()["prefect.resource.id"]},
                    parameters={"since": "{{ event.payload.since }}", "until": "{{ event.payload.until }}"},
                )
            ],
        ),
        deploy.to_deployment(name="manual", tags=["newsrec"]),
    ]


if __name__ == "__main__":
    serve(*deployments())
