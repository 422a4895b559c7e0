"""`newsrec package`: the champion from the MLflow registry into the BentoML model store,
and a Bento of the service (reports/package.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from newsrec.config import Paths
from newsrec.console import Say, progress
from newsrec.data.io import write_json

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry


@dataclass(frozen=True)
class Package:
    model_version: str
    bento_model: str  # the BentoML model tag the service loads
    bento: str | None  # the Bento tag, when one was built


def package(paths: Paths, registry: Registry, build: bool = True, say: Say | None = None) -> Package:
    """Import models:/<name>@champion into BentoML; with `build`, also build the Bento."""
    from newsrec.adapters import bento

    say = say or progress("package")
    version = registry.champion()
    if version is None:
        raise ValueError(f"{registry.name} has no champion yet: run `make promote` first")
    tag = bento.import_champion(registry.name, version)
    say(f"imported {registry.name} v{version} (champion) into the BentoML store as {tag}")
    built = bento.build(paths.root) if build else None
    if built:
        say(f"built Bento {built} (service {bento.SERVICE}, with the newsrec wheel)")
    out = Package(version, tag, built)
    write_json(paths.package, asdict(out))
    return out
