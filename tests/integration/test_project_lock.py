"""The project lock: two pipeline runs in one project take turns, the second saying who
holds the project; a run started under the lock does not wait for itself; a run killed
with SIGKILL leaves no stale lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from scratch import env_for, make_project


def _locked(proj, *cmd: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["newsrec", "locked", "--", *cmd], cwd=proj, env=env_for(proj), stderr=subprocess.PIPE, text=True
    )


def _wait_for(path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and text not in (path.read_text() if path.exists() else ""):
        time.sleep(0.05)
    assert text in path.read_text()


def test_two_runs_take_turns_and_a_killed_run_leaves_no_lock(tmp_path):
    proj = make_project(tmp_path / "proj")
    log = tmp_path / "order.txt"
    step = (
        "import sys, time; f = open(sys.argv[1], 'a'); f.write(sys.argv[2] + ' start\\n'); f.flush(); "
        "time.sleep(1.5); f.write(sys.argv[2] + ' end\\n')"
    )
    first = _locked(proj, sys.executable, "-c", step, str(log), "first")
    _wait_for(log, "first start")
    second = _locked(proj, sys.executable, "-c", step, str(log), "second")
    assert first.wait(60) == 0 and second.wait(60) == 0
    assert log.read_text().split("\n")[:4] == ["first start", "first end", "second start", "second end"]
    err = second.stderr.read()
    assert f"the project is busy (pid {first.pid}" in err and "waiting for it to finish" in err, err
    assert "busy" not in first.stderr.read()

    # a command started under the lock takes it again without waiting for its parent
    nested = _locked(proj, "newsrec", "locked", "--", sys.executable, "-c", "print('inner ran')")
    assert nested.wait(60) == 0 and "busy" not in nested.stderr.read()

    # killed while holding it: the kernel releases the lock, the next run starts at once
    holder = _locked(proj, sys.executable, "-c", step.replace("1.5", "600"), str(log), "killed")
    _wait_for(log, "killed start")
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    subprocess.run(["pkill", "-KILL", "-f", "killed$"], check=False)  # its child, orphaned
    after = _locked(proj, sys.executable, "-c", "pass")
    assert after.wait(60) == 0 and "busy" not in after.stderr.read()
