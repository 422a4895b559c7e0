"""Serving stage: package (the champion into the BentoML store, and a Bento)."""
from __future__ import annotations

import argparse

from newsrec.config import Paths, load_params
from newsrec.stages.common import progress, write_json


def package(args: argparse.Namespace) -> int:
    """Import models:/newsrec-ranker@champion into BentoML and build the Bento."""
    from newsrec.adapters import bento
    from newsrec.adapters import mlflow as ml

    p, paths = load_params(args.params), Paths()
    say = progress("package")
    ml.configure(paths.root, p.train.experiment)
    version = ml.alias_version(p.train.model_name, ml.CHAMPION)
    if version is None:
        raise ValueError(f"{p.train.model_name} has no champion yet: run `make promote` first")
    tag = bento.import_champion(p.train.model_name, version)
    say(f"imported {p.train.model_name} v{version} (champion) into the BentoML store as {tag}")
    built = bento.build(paths.root) if not getattr(args, "no_build", False) else None
    if built:
        say(f"built Bento {built} (service {bento.SERVICE}, with the newsrec wheel)")
    write_json(paths.reports / "package.json", {"model_version": version, "bento_model": tag, "bento": built})
    return 0
