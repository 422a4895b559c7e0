"""What every benchmark shares: where its results go, and an earlier commit of the project to
measure against."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def save_result(name: str, data) -> Path:
    """bench/results/<name>-<time>.json (git-ignored)."""
    out = ROOT / "bench" / "results" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, default=str))
    return out


BIN = Path(sys.executable).parent  # the project's .venv/bin: dvc, newsrec, bentoml


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def earlier(rev: str) -> tuple[Path, dict[str, str]]:
    """The project at commit `rev`, to measure against: a git worktree of it in
    bench/results/rev-<sha> with its own pipeline run up to `promote` (its data, features,
    MLflow store and champion, the default world as that commit simulates it) and its
    champion imported into a BentoML store of its own; and the environment that runs its
    code with this project's installed packages (its `src` first on the path). Built once
    per commit, then reused."""
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    dest = ROOT / "bench" / "results" / f"rev-{sha[:10]}"
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "NEWSREC_ROOT": str(dest),
        "PYTHONPATH": f"{dest / 'src'}:{dest}",
        "BENTOML_HOME": str(dest / ".bentoml"),
        "NEWSREC_PREDICTIONS": str(dest / "data" / "predictions"),
    }
    for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "NEWSREC_NAMESPACE"):
        env.pop(k, None)  # its own local stores
    if not (dest / ".git").exists():
        print(f"checking out {rev} ({sha[:10]}) in {dest}", flush=True)
        git("worktree", "add", "--detach", "--force", str(dest), sha)
    if not (dest / "reports" / "package.json").exists():
        print("running its pipeline up to promote, then packaging its champion (a few minutes)", flush=True)
        for cmd in (["dvc", "repro", "promote"], ["newsrec", "package", "--no-build"]):
            done = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{' '.join(cmd)} at {rev} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return dest, env
