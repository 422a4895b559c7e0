"""Background processes the make targets start and stop (the UIs, a served model): one pid
file and one log per name under .run/, so `make down` finds what `make ui` started; and the
project lock, so two pipeline runs take turns."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_ENV = "NEWSREC_PROJECT_LOCK"  # set while a process (and so its children) holds the lock


def tool(name: str) -> str:
    """A command installed beside this interpreter (dvc, bentoml, prefect...): the venv's own,
    whatever PATH says."""
    return str(Path(sys.executable).parent / name)


def _files(root: Path, name: str) -> tuple[Path, Path]:
    run = root / ".run"
    run.mkdir(exist_ok=True)
    return run / f"{name}.pid", run / f"{name}.log"


def running(root: Path, name: str) -> int | None:
    """The pid of `name` if it is alive."""
    pid_file, _ = _files(root, name)
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def start(root: Path, name: str, cmd: list[str], env: dict | None = None) -> int:
    """Start `cmd` in its own session, detached, logging to .run/<name>.log."""
    if pid := running(root, name):
        return pid
    pid_file, log = _files(root, name)
    with open(log, "ab") as out:
        p = subprocess.Popen(
            cmd,
            cwd=root,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(p.pid))
    return p.pid


def stop(root: Path, name: str, timeout: float = 30) -> bool:
    """SIGTERM the process group of `name`, SIGKILL after `timeout`; False if it was not running."""
    pid = running(root, name)
    pid_file, _ = _files(root, name)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running(root, name):
        time.sleep(0.3)
    if running(root, name):
        os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """n different TCP ports on 127.0.0.1 that nothing listens on now: all held open until
    every one is chosen (one at a time, the system can hand the same port out twice)."""
    import socket

    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        return urllib.request.urlopen(url, timeout=3).status == 200
    except OSError:
        return False


def wait_http(url: str, timeout: float = 120, name: str = "", log: Path | None = None) -> None:
    """Wait until `url` answers 200; raise naming the log to read if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=5).status == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(
        f"{name or url} did not answer at {url} within {timeout:.0f} s" + (f"; see {log}" if log else "")
    )


def log_file(root: Path, name: str) -> Path:
    return _files(root, name)[1]


@contextmanager
def project_lock(root: Path, what: str, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """One pipeline run at a time in a project: a second one says who holds the project and
    waits for it to finish. A process started under the lock (a make target's flow, a flow's
    `dvc repro`) holds it already. The lock is the kernel's (flock on .run/pipeline.lock), so
    a run that dies releases it."""
    root = root.resolve()
    if os.environ.get(LOCK_ENV) == str(root):
        yield
        return
    say = say or (lambda m: print(m, file=sys.stderr, flush=True))
    run = root / ".run"
    run.mkdir(exist_ok=True)
    with open(run / "pipeline.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another run"
            say(f"the project is busy ({holder}): waiting for it to finish; one pipeline run at a time")
            fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write(f"pid {os.getpid()}, `{what}`, since {time.strftime('%H:%M:%S')}")
        f.flush()
        os.environ[LOCK_ENV] = str(root)
        try:
            yield
        finally:
            os.environ.pop(LOCK_ENV, None)
            f.truncate(0)
