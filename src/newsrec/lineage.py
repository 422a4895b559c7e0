"""Lineage facts for tags: the git commit and the dvc.lock hashes of a stage's inputs."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import yaml


def git_sha(root: Path) -> str:
    """The commit checked out, with '-dirty' if tracked files changed; 'unknown' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def dvc_hashes(root: Path, paths: list[str]) -> dict[str, str]:
    """md5 recorded in dvc.lock for each path, as any stage's output ('' if not recorded)."""
    lock = root / "dvc.lock"
    found = {p: "" for p in paths}
    if not lock.exists():
        return found
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for out in stage.get("outs", []):
            if out.get("path") in found:
                found[out["path"]] = out.get("md5", "")
    return found


def training_key(data: Path, params: dict, *code: Path) -> str:
    """What makes a training unique: its data (a file or a folder), its parameters and the model code. Two
    trainings with the same key give the same model (training is deterministic; tested)."""
    h = hashlib.sha256()
    for part in sorted(data.rglob("*")) if data.is_dir() else [data]:  # a file, or a folder of parts
        if part.is_file():
            h.update(str(part.relative_to(data)).encode() if part != data else b"")
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for c in code:
        h.update(Path(c).read_bytes())
    return h.hexdigest()
