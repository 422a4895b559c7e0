"""BentoML: import the champion from the MLflow registry into the BentoML model store and
build a Bento that carries the project's own package."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

BENTO_MODEL = "newsrec-ranker"
SERVICE = "services.recommender:Recommender"


def import_champion(model_name: str, version: str) -> str:
    """Copy models:/<name>/<version> into the BentoML store; return the BentoML tag."""
    import bentoml

    m = bentoml.mlflow.import_model(
        BENTO_MODEL, f"models:/{model_name}/{version}", labels={"version": str(version), "registered_model": model_name}
    )
    return str(m.tag)


def build(root: Path) -> str:
    """Build the project wheel and a Bento of the service that installs it; return the tag."""
    import bentoml

    dist = root / "dist"
    uv = shlex.split(os.environ.get("NEWSREC_UV", "uv"))  # make passes the uv it installed with
    subprocess.run([*uv, "build", "--wheel", "-o", str(dist)], cwd=root, check=True, capture_output=True)
    wheel = sorted(dist.glob("newsrec-*.whl"))[-1]
    bento = bentoml.bentos.build(
        SERVICE,
        include=["services/*.py", "params.yaml", "feature_repo/*"],
        python={"wheels": [str(wheel.relative_to(root))], "lock_packages": False},
        build_ctx=str(root),
    )
    return str(bento.tag)
