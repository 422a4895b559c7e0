"""Dask: the batch stages' parts on a cluster (`engine.kind: dask` in params.yaml).

The cluster is the scheduler at $NEWSREC_DASK_SCHEDULER (a real cluster: its workers need
this project installed, the same lock), else a LocalCluster started for the stage, bound
to 127.0.0.1, `engine.workers` processes of one thread each, stopped after. A stage hands
`run(fn, parts)` to the core, which says what a part is (newsrec.features.partitioned);
this module only runs them and reports progress.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from newsrec.config import Engine
from newsrec.console import Say

SCHEDULER_ENV = "NEWSREC_DASK_SCHEDULER"


@contextmanager
def client(e: Engine, say: Say) -> Iterator:
    """A distributed.Client on the configured cluster, closed after (a LocalCluster stopped)."""
    from distributed import Client, LocalCluster

    if address := os.environ.get(SCHEDULER_ENV):
        try:
            c = Client(address, timeout=e.connect_seconds)
        except (OSError, TimeoutError) as err:
            raise ConnectionError(
                f"the Dask scheduler at {address} ({SCHEDULER_ENV}) cannot be reached ({err}): start it, "
                f"or unset {SCHEDULER_ENV} to run on a LocalCluster"
            ) from None
        say(f"Dask scheduler {address}: {len(c.scheduler_info()['workers'])} workers")
        try:
            yield c
        finally:
            c.close()
        return
    kw = cluster_kwargs(e)
    with LocalCluster(**kw) as cluster, Client(cluster) as c:
        say(f"Dask LocalCluster: {kw['n_workers']} worker processes on 127.0.0.1, memory limit {e.memory_limit} each")
        yield c


def cluster_kwargs(e: Engine) -> dict:
    """The LocalCluster a stage (or a flow's task runner) starts: `engine.workers` processes
    of one thread each on 127.0.0.1, no dashboard, `engine.memory_limit` each."""
    return {
        "n_workers": e.workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        "memory_limit": e.memory_limit,
        "silence_logs": logging.ERROR,
    }


def task_runner(e: Engine, env: dict[str, str] | None = None):
    """Prefect's DaskTaskRunner on the cluster the stages use: the scheduler at
    $NEWSREC_DASK_SCHEDULER (its workers need the Prefect API's address in their own
    environment), else a LocalCluster like theirs for the flow run, its workers started
    with `env` (the API's address: a task run reports to the flow's API)."""
    from prefect_dask import DaskTaskRunner

    # the cluster's scheduler lives in the flow's process and its workers load Prefect too,
    # whose log handlers would print every connection at INFO: only what goes wrong, as for
    # the stages (the workers inherit the variable, read when they import distributed)
    logging.getLogger("distributed").setLevel(logging.WARNING)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    if address := os.environ.get(SCHEDULER_ENV):
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs=cluster_kwargs(e) | {"env": env or {}},
    )


def runner(c, say: Say, what: str = "parts done") -> Callable[[Callable, Iterable], list]:
    """`run(fn, items)`: fn over the items on the cluster, the results in the items' order,
    a line of progress every tenth done."""
    from distributed import as_completed

    def run(fn: Callable, items: Iterable) -> list:
        items = list(items)
        futures = c.map(fn, items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list = [None] * len(items)
        step = max(1, len(items) // 10)
        for done, (f, result) in enumerate(as_completed(futures, with_results=True), start=1):
            out[index[f.key]] = result
            if done % step == 0 or done == len(items):
                say(f"{done}/{len(items)} {what}")
        return out

    return run
