"""`newsrec package`: the champion from the MLflow registry into the BentoML model store,
its scoring cost as served, and a Bento of the service (reports/package.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from newsrec.config import Paths
from newsrec.console import Say, progress
from newsrec.data.io import read_json, write_json, write_text
from newsrec.modelcard import PACKAGED, with_packaging_cost

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry


@dataclass(frozen=True)
class Package:
    model_version: str
    bento_model: str  # the BentoML model tag the service loads
    bento: str | None  # the Bento tag, when one was built
    us_per_candidate: float | None = None  # the scoring cost as served; None: no training set to measure it on


def package(paths: Paths, registry: Registry, build: bool = True, say: Say | None = None) -> Package:
    """Import models:/<name>@champion into BentoML; with `build`, also build the Bento."""
    from newsrec.adapters import bento

    say = say or progress("package")
    version = registry.champion()
    if version is None:
        raise ValueError(no_champion(registry.name, paths))
    tag = bento.import_champion(registry.name, version)
    say(f"imported {registry.name} v{version} (champion) into the BentoML store as {tag}")
    cost = serving_cost(paths, registry, version, say)
    built = bento.build(paths.root) if build else None
    if built:
        say(f"built Bento {built} (service {bento.SERVICE}, with the newsrec wheel)")
    out = Package(version, tag, built, cost)
    write_json(paths.package, asdict(out))
    return out


def serving_cost(paths: Paths, registry: Registry, version: str, say: Say) -> float | None:
    """The version's scoring cost as it will be served: loaded from the registry, `predict` on
    request-sized batches of the training set's validation rows, filled with the version's own
    defaults. Recorded as a version tag and on its model card; None without a training set."""
    from newsrec.features.request import fill_defaults
    from newsrec.features.spec import MODEL_FEATURES
    from newsrec.model import read_split, scoring_cost

    where = paths.trainset.relative_to(paths.root)
    rows = read_split(paths.trainset, "valid", [*MODEL_FEATURES, "clicked"])[0] if paths.trainset.exists() else None
    if rows is None or rows.empty:
        say(f"no validation rows in {where} (run `make train`): the scoring cost was not measured")
        return None
    model, meta = registry.load_model(version)
    us = scoring_cost(model, fill_defaults(rows, meta["defaults"])[0])
    registry.tag_version(version, {"cost.us_per_candidate": f"{us:.2f}"})
    say(f"scoring cost of v{version} as served: {us:.2f} µs per candidate (batches of 100 rows of {where})")
    _on_card(
        paths,
        registry,
        version,
        f"{PACKAGED} {us:.2f} µs per candidate (v{version} as served: loaded "
        "from the registry, one thread, `predict` on batches of 100 validation rows)",
    )
    return us


def _on_card(paths: Paths, registry: Registry, version: str, line: str) -> None:
    # only the card of this very version gets the line (the last promote may have judged another)
    card = paths.model_card.read_text() if paths.model_card.exists() else ""
    if not card.startswith(f"# Model card: {registry.name} v{version}\n"):
        return
    card = with_packaging_cost(card, line)
    write_text(paths.model_card, card)
    run_id = registry.version_tags(version).get("run_id")
    if run_id:  # the copy the version's run shows in MLflow, as promote logged it
        with registry.run(run_id=run_id) as run:
            run.text(card, "model_card.md")


def no_champion(name: str, paths: Paths) -> str:
    """Why there is nothing to package, and what to do: the gate's reasons when it refused the
    last model it judged (reports/promote.json), else that promote has not run."""
    last = read_json(paths.promote) if paths.promote.exists() else None
    if not last or last["promoted"] or last["model"] != name:
        return f"{name} has no champion yet: run `make promote` first"
    why = "; ".join(r for r in last["reasons"] if r != "no champion yet" and not r.startswith("success: "))
    return (
        f"{name} has no champion: the gate refused v{last['version']} ({why}); see {paths.model_card.relative_to(paths.root)}, "
        "then improve the model (or lower the promote margins in params.yaml) and run `make promote`"
    )


def image(paths: Paths, registry: Registry, say: Say | None = None) -> str:
    """Package the champion and build its Bento, then the image where a Docker engine answers
    (`docker info`); elsewhere say why and where the Bento's Dockerfile is. What was done."""
    import shutil
    import subprocess

    from newsrec.adapters import bento

    say = say or progress("image")
    built = package(paths, registry, build=True, say=say).bento
    docker = shutil.which("docker")
    info = subprocess.run([docker, "info"], capture_output=True, text=True) if docker else None
    if info is not None and info.returncode == 0:
        bento.containerize(built)
        say(f"built the image {built} (`docker run -p 3000:3000 {built}`)")
        return f"image {built}"
    why = (
        "no docker client"
        if docker is None
        else f"`docker info` failed: {(info.stderr or info.stdout).strip().splitlines()[-1]}"
    )
    dockerfile = bento.bento_dir(built) / "env" / "docker" / "Dockerfile"
    say(
        f"no image built: no Docker engine here ({why}). The Bento {built} has its Dockerfile at {dockerfile}: "
        f"on a machine with an engine, `bentoml containerize {built}` (or `docker build -f {dockerfile} "
        f"{dockerfile.parents[2]}`)"
    )
    return f"dockerfile {dockerfile}"
