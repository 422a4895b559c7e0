"""BentoML: import the champion from the MLflow registry into the BentoML model store,
build a Bento that carries the project's own package, and the model a running service
serves, swapped without a restart when a new one is imported."""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
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
    """Build the project wheel and a Bento of the service that installs it, every package
    pinned to the version in uv.lock; return the tag."""
    import bentoml

    dist = root / "dist"
    uv = shlex.split(os.environ.get("NEWSREC_UV", "uv"))  # make passes the uv it installed with
    subprocess.run([*uv, "build", "--wheel", "-o", str(dist)], cwd=root, check=True, capture_output=True)
    wheel = sorted(dist.glob("newsrec-*.whl"))[-1]
    pins = dist / "requirements.txt"
    subprocess.run(
        [*uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--no-header", "-o", str(pins)],
        cwd=root,
        check=True,
        capture_output=True,
    )
    bento = bentoml.bentos.build(
        SERVICE,
        include=["services/*.py", "params.yaml", "feature_repo/*"],
        python={
            "requirements_txt": str(pins.relative_to(root)),
            "wheels": [str(wheel.relative_to(root))],
            "lock_packages": False,  # pinned already, from the project's lock
        },
        build_ctx=str(root),
    )
    return str(bento.tag)


def bento_dir(tag: str) -> Path:
    """The folder of a built Bento (its env/docker/Dockerfile is the image's recipe)."""
    import bentoml

    return Path(bentoml.get(tag).path)


def containerize(tag: str) -> None:
    """`bentoml containerize`: the Bento as an image, built by the Docker engine."""
    from newsrec.procs import tool

    subprocess.run([tool("bentoml"), "containerize", tag], check=True)


class ServedModel:
    """The model a service process serves: the Ranker of a BentoML model tag. With a tag
    ending in `:latest` a background thread follows the model store, and when `package`
    imports a new champion (or `rollback` an older one) it loads it aside and swaps it in:
    requests in flight finish on the model they started with, none is dropped."""

    def __init__(self, tag: str, ranking, poll_seconds: float = 1.0) -> None:
        self.ranking, self.poll = ranking, poll_seconds
        self.follows = tag.endswith(":latest")
        self.tag, self.ranker = self._load(tag)
        self.swaps, self.error = 0, None
        if self.follows:
            threading.Thread(target=self._follow, args=(tag,), name="served-model", daemon=True).start()

    def _load(self, tag: str):
        import bentoml

        from newsrec.adapters.mlflow import load_model_dir
        from newsrec.recommend import Ranker

        stored = bentoml.models.get(tag)
        model, meta = load_model_dir(Path(stored.path_of("mlflow_model")))
        return str(stored.tag), Ranker.of(model, stored.info.labels.get("version", "?"), meta, self.ranking)

    def _follow(self, tag: str) -> None:
        import bentoml

        while True:
            time.sleep(self.poll)
            try:
                if str(bentoml.models.get(tag).tag) != self.tag:
                    self.tag, self.ranker = self._load(tag)  # one assignment: requests see old or new
                    self.swaps, self.error = self.swaps + 1, None
            except Exception as e:  # keep serving the model in hand; /status reports it
                self.error = f"{type(e).__name__}: {e}"
