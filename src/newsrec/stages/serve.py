"""`newsrec serve`: the recommendation service (BentoML) on params `serve` (host, port),
in the foreground or, through `in_service`, in the background as the `serve` process that
`newsrec down` stops. A running service swaps to a newly packaged model by itself, so a
deploy onto it drops no request."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import time
import urllib.request

from newsrec import procs
from newsrec.adapters.bento import SERVICE
from newsrec.config import Paths, Serve
from newsrec.console import Say, progress

API_KEY_ENV = "NEWSREC_API_KEY"  # the key services/guard.py asks of every /recommend call


def loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def api_headers() -> dict[str, str]:
    """The headers a client of /recommend sends: JSON, and the API key where one is set."""
    key = os.environ.get(API_KEY_ENV)
    return {"content-type": "application/json", **({"x-api-key": key} if key else {})}


def check_exposure(host: str, allow_without_key: bool = False) -> None:
    """Refuse to serve beyond this machine without an API key (anyone could read any
    reader's ranking and fill the disk through the log), unless told to."""
    if not loopback(host) and not os.environ.get(API_KEY_ENV) and not allow_without_key:
        raise ValueError(
            f"serve.host {host} is reachable from other machines and {API_KEY_ENV} is not set: "
            f"set {API_KEY_ENV} (clients send it as X-API-Key), or pass --allow-without-key "
            "(make serve ALLOW_WITHOUT_KEY=1)"
        )


def command(s: Serve) -> list[str]:
    return [procs.tool("bentoml"), "serve", SERVICE, "--host", s.host, "--port", str(s.port)]


def serve(s: Serve, paths: Paths, allow_without_key: bool = False) -> int:
    """Run the service until it is stopped; its exit status."""
    check_exposure(s.host, allow_without_key)
    p = subprocess.Popen(command(s), cwd=paths.root)
    # a SIGTERM to this process (`newsrec down`, a supervisor, a test) stops the server too
    signal.signal(signal.SIGTERM, lambda signum, _: p.send_signal(signum))
    return p.wait()


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
    check_exposure(s.host)
    procs.stop(paths.root, "serve")  # a pid file left by a service that died
    procs.start(paths.root, "serve", command(s))
    procs.wait_http(f"{s.url}/readyz", timeout, "the recommendation service", log)
    say(f"serving v{version} at {s.url} (log {log})")
    return s.url
