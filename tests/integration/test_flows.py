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


def test_a_subflow_run_in_process_has_no_heartbeat_of_its_own(prefect):
    """`in_process`: the subflow gets its arguments and runs without the heartbeat thread
    whose one-second sleep every flow run's end waited for; its parent keeps its own."""
    from prefect import flow
    from prefect.settings import get_current_settings

    from flows import in_process

    @flow
    def child(since: str, until: str) -> tuple:
        return since, until, get_current_settings().flows.heartbeat_frequency

    @flow
    def parent() -> tuple:
        inner = in_process(child, since="2026-11-09", until="2026-11-10")
        return inner, get_current_settings().flows.heartbeat_frequency

    inner, outer = parent()
    assert inner == ("2026-11-09", "2026-11-10", None)
    assert outer is not None and outer >= 30


def test_a_retrain_fits_the_days_since_the_drift_began_at_most_the_window():
    from flows.retrain import window_days

    assert window_days("2026-11-12", "2026-11-12", 3) == 1
    assert window_days("2026-11-10", "2026-11-12", 3) == 3
    assert window_days("2026-11-05", "2026-11-12", 3) == 3


def test_the_daily_monitoring_deployment_gets_scheduled_runs(tmp_path):
    """A Prefect server's scheduler turns the daily deployment's cron into scheduled flow runs
    (with SQLAlchemy 2.1, Prefect 3.8's scheduler failed on every insert and the daily
    monitoring never ran). The test harness's server runs no scheduler, so this starts a
    `prefect server` of its own, on a free port, with its own database."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from newsrec import procs

    port = procs.free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        "PREFECT_API_URL": api,  # its own, whatever the environment says
        "PREFECT_HOME": str(tmp_path),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    cmd = [procs.tool("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    procs.start(tmp_path, "prefect", cmd, env)
    log = procs.log_file(tmp_path, "prefect")
    try:
        procs.wait_http(api + "/health", 120, "prefect", log)
        with temporary_settings(updates={PREFECT_API_URL: api}):
            {x.name: x for x in deployments()}["daily"].apply()
            runs, deadline = [], time.monotonic() + 90
            with get_client(sync_client=True) as client:
                while not runs and time.monotonic() < deadline:
                    time.sleep(1)
                    runs = client.read_flow_runs(
                        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["daily"])),
                        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                        limit=10,
                    )
        assert runs, "no scheduled run of the daily deployment within 90 s:\n" + log.read_text()[-3000:]
        assert {r.state_name for r in runs} == {"Scheduled"}
        assert {r.expected_start_time.strftime("%H:%M") for r in runs} == {"06:00"}
    finally:
        procs.stop(tmp_path, "prefect")
