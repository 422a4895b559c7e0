"""`newsrec serve`: the recommendation service (BentoML) on params `serve` (host, port),
in the foreground or, with `background`, as the `serve` process that `newsrec down` stops."""

from __future__ import annotations

import subprocess

from newsrec import procs
from newsrec.adapters.bento import SERVICE
from newsrec.config import Paths, Serve
from newsrec.console import Say, progress


def command(s: Serve) -> list[str]:
    return [procs.tool("bentoml"), "serve", SERVICE, "--host", s.host, "--port", str(s.port)]


def serve(s: Serve, paths: Paths) -> int:
    """Run the service until it is stopped; its exit status."""
    return subprocess.run(command(s), cwd=paths.root).returncode


def restart(s: Serve, paths: Paths, timeout: float = 180, say: Say | None = None) -> str:
    """Stop the background service (if any), start it on the packaged model, wait until it
    is ready; its address."""
    say = say or progress("serve")
    procs.stop(paths.root, "serve")
    procs.start(paths.root, "serve", command(s))
    procs.wait_http(f"{s.url}/readyz", timeout, "the recommendation service", procs.log_file(paths.root, "serve"))
    say(f"serving the champion at {s.url} (log {procs.log_file(paths.root, 'serve')})")
    return s.url
