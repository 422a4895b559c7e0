"""The Prefect flows (wiring only), and what their entry points share: run as
`python -m flows.<name>`, a flow that fails as expected (a refused contract, a malformed MIND
line, no champion to deploy) ends with one line saying why and what to do, exit 1, and no
traceback; any other failure keeps its traceback.
"""

from __future__ import annotations

import atexit
import logging
import sys
from typing import Any

from newsrec.console import EXPECTED

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


class Refused(RuntimeError):
    """An expected failure found by a flow itself (a stage command that exited non-zero after
    saying why); its message is the whole story."""


def expected(exc: BaseException | None) -> bool:
    return isinstance(exc, (Refused, *EXPECTED))


class QuietExpected(logging.Filter):
    """Prefect's run loggers attach the traceback to every failed task and flow run. For an
    expected failure it is only the path to our own `raise` and buries the line that matters,
    so it is dropped; the message stays, in the log line and in the run's state."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and expected(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_expected() -> None:
    """No traceback for expected failures in Prefect's run logs (once per process)."""
    for name in RUN_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, QuietExpected) for f in log.filters):
            log.addFilter(QuietExpected())


def on_engine(flow: Any) -> Any:
    """The flow with Prefect's Dask task runner on the stages' cluster when params.yaml says
    `engine.kind: dask` (its submitted tasks then run there), else as it is."""
    from newsrec.bootstrap import context

    e = context().params.engine
    if e.kind != "dask":
        return flow
    from prefect.settings import PREFECT_API_URL

    from newsrec.adapters.dask import task_runner

    api = PREFECT_API_URL.value()
    if not api:  # no server: the temporary one this process's flow runs will use (one per process), started
        from prefect.server.api.server import SubprocessASGIServer  # now so the workers report to it too

        server = SubprocessASGIServer()
        server.start()
        api = server.api_url
    return flow.with_options(task_runner=task_runner(e, {"PREFECT_API_URL": api}))


def in_process(subflow: Any, **kwargs: Any) -> Any:
    """Run `subflow` inside the calling flow run, without a heartbeat of its own. Prefect's
    heartbeat thread sleeps in one-second steps and the run's end waits for it, about half a
    second on every run; a subflow that lives in its parent's process is covered by the
    parent's heartbeat (a crash takes both)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return subflow(**kwargs)


def parts(name: str) -> Any:
    """`run(fn, items)` (newsrec.console.Run) as Prefect tasks: each item a task run named
    `<name>-<item>`, submitted to the flow's task runner, so that under `on_engine` a stage's
    parts (a day to collect, a day to judge) run side by side on the Dask cluster and show
    in the Prefect UI; the results in the items' order."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    @task(name=name, cache_policy=NO_CACHE)  # the inputs are the stage's own frames: nothing to key a cache on
    def part(fn: Any, item: Any) -> Any:
        return fn(item)

    def run(fn: Any, items: Any) -> list:
        futures = [part.with_options(task_run_name=f"{name}-{item}").submit(fn, item) for item in items]
        return [f.result() for f in futures]

    return run


def entry(flow: Any, *args: Any, engine: bool = False, **kwargs: Any) -> Any:
    """`python -m flows.<name>`: run the flow (with `engine`, on the stages' engine:
    `on_engine`); an expected failure prints `<flow>: error: <why>` on stderr and exits 1."""
    quiet_expected()
    last: list[str] = []
    # registered before the flow (or on_engine) starts Prefect's temporary API server, so it
    # runs after that server's exit handler has logged its "Stopping" line: the reason is the
    # last line
    atexit.register(lambda: [print(line, file=sys.stderr, flush=True) for line in last])
    flow = on_engine(flow) if engine else flow
    try:
        return flow(*args, **kwargs)
    except (Refused, *EXPECTED) as e:
        last.append(f"{flow.name}: error: {e}")
        sys.exit(1)


# every process that imports a flow gets the filter: `python -m flows.<name>` through `entry`,
# and the runs of served deployments (retrain on drift, the daily monitor), which Prefect
# starts in processes of its own
quiet_expected()
