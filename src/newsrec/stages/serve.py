"""`newsrec serve`: the recommendation service (BentoML) on params `serve` (host, port),
in the foreground or, through `in_service`, in the background as the `serve` process that
`newsrec down` stops. A running service swaps to a newly packaged model by itself, so a
deploy onto it drops no request."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

from newsrec import procs
from newsrec.adapters.bento import SERVICE
from newsrec.config import Paths, Serve
from newsrec.console import Say, progress


def command(s: Serve) -> list[str]:
    return [procs.tool("bentoml"), "serve", SERVICE, "--host", s.host, "--port", str(s.port)]


def serve(s: Serve, paths: Paths) -> int:
    """Run the service until it is stopped; its exit status."""
    return subprocess.run(command(s), cwd=paths.root).returncode


def status(url: str, timeout: float = 5) -> dict | None:
    """What one worker of the service at `url` serves (GET /status); None if nothing answers."""
    try:
        return json.loads(urllib.request.urlopen(f"{url}/status/", timeout=timeout).read())
    except (OSError, ValueError):
        return None


def wait_version(url: str, version: str, workers: int, timeout: float = 120) -> None:
    """Wait until every worker of the service serves `version` (each swaps by itself)."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if st := status(url):
            seen[st["worker"]] = st["model_version"]
            if len(seen) >= workers and all(v == version for v in seen.values()):
                return
        time.sleep(0.2)
    raise TimeoutError(f"the service at {url} did not swap to v{version} within {timeout:.0f} s (workers: {seen})")


def in_service(
    s: Serve, paths: Paths, version: str, start: bool = True, timeout: float = 180, say: Say | None = None
) -> str | None:
    """Put `version` (just packaged) in service: a running service swaps to it without a
    restart, and this waits until every worker serves it; otherwise, with `start`, the
    service is started in the background. Its address (None: not running, not started)."""
    say = say or progress("serve")
    log = procs.log_file(paths.root, "serve")
    if status(s.url):
        wait_version(s.url, version, s.workers, timeout)
        say(f"v{version} in service at {s.url}: every worker swapped to it, no restart, no request dropped")
        return s.url
    if not start:
        say(f"no service answers at {s.url}: the next `make serve` or `make deploy` serves v{version}")
        return None
    procs.stop(paths.root, "serve")  # a pid file left by a service that died
    procs.start(paths.root, "serve", command(s))
    procs.wait_http(f"{s.url}/readyz", timeout, "the recommendation service", log)
    say(f"serving v{version} at {s.url} (log {log})")
    return s.url
