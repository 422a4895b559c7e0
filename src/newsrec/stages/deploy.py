"""`newsrec deploy`: the champion into the BentoML store and into service. A running
service swaps to it without a restart (no request dropped); otherwise one is started in
the background. `newsrec rollback` deploys the previous champion the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.stages.monitor import prepare_reference
from newsrec.stages.package import package
from newsrec.stages.serve import in_service

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry


@dataclass(frozen=True)
class Deployed:
    model_version: str
    bento_model: str
    url: str | None  # None: no service was running and none was started


def deploy(p: Params, paths: Paths, registry: Registry, start: bool = True, say: Say | None = None) -> Deployed:
    """Package the champion (no Bento build), put it in service, and make its monitoring reference."""
    say = say or progress("deploy")
    pkg = package(paths, registry, build=False, say=say)
    url = in_service(p.serve, paths, pkg.model_version, start=start, say=say)
    prepare_reference(p, paths, registry, pkg.model_version, say)
    return Deployed(pkg.model_version, pkg.bento_model, url)
