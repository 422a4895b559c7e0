"""`newsrec ablation` (`make ablation`; not a pipeline stage): what each feature group and the
training objective earn on the training set the pipeline built (newsrec.ablation).
Writes reports/ablation.json and reports/plots/ablation.png, puts the table on the model
card (its section "Ablation and training objective") and logs both to the champion's run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from newsrec import ablation as core
from newsrec import plots
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.io import read_json, write_json, write_text
from newsrec.features.request import fill_defaults, fit_defaults
from newsrec.features.spec import MODEL_FEATURES
from newsrec.lineage import training_key
from newsrec.model import read_split
from newsrec.modelcard import ABLATION, ablation_section, with_section

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry


def _split(paths: Paths, name: str, rate: float = 1.0, seed: int = 0):
    """A split's rows as `train` reads them (the training rows downsampled as it does)."""
    rows, uniform = read_split(paths.trainset, name, ["impression_id", *MODEL_FEATURES, "clicked"], rate, seed)
    if not len(rows):
        raise ValueError(f"{paths.trainset}: no '{name}' rows; run `make train` on data with {name} days first")
    return rows, uniform


def ablation(p: Params, paths: Paths, registry: Registry | None = None, say: Say | None = None) -> dict:
    say = say or progress("ablation")
    if not paths.trainset.exists():
        raise FileNotFoundError(f"{paths.trainset}: no training set yet; run `make train` first")
    categories = json.loads((paths.features / "categories.json").read_text())
    (train, uniform), (valid, _), (test, _) = (
        _split(paths, "train", p.train.negative_rate, p.train.seed),
        _split(paths, "valid"),
        _split(paths, "test"),
    )
    raw = {"train": train, "valid": valid, "test": test}
    defaults = fit_defaults(train[uniform], len(categories))  # as `train` fixes them
    split = {
        name: core.Split(fill_defaults(r, defaults)[0], r["clicked"].to_numpy(int), r["impression_id"].to_numpy())
        for name, r in raw.items()
    }
    say(
        f"{len(raw['train']):,} training rows, {len(raw['valid']):,} validation, {len(raw['test']):,} test: "
        f"{1 + len(core.FEATURE_GROUPS)} fits without a feature group, then {1 + len(core.LIGHTGBM)} objectives "
        f"with {1 + core.SEEDS} seeds each"
    )
    tvt = (split["train"], split["valid"], split["test"])
    groups = core.ablate(*tvt, p.train, say)
    objectives = core.objectives(*tvt, p.train, say, groups["every feature"])
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "trainset": training_key(paths.trainset, {})[:12],  # which training set: its content's hash
        "rows": {k: len(v) for k, v in raw.items()},
        "train": p.train.model_dump(exclude={"smaller"}),
        "groups": groups,
    } | objectives
    write_json(paths.ablation, out)
    plots.save(plots.ablation(out), paths.ablation_plot)
    _on_card_and_run(paths, registry, out, say)
    say(f"{paths.ablation}, {paths.ablation_plot}")
    return out


def _on_card_and_run(paths: Paths, registry: Registry | None, out: dict, say: Say) -> None:
    """The table on the model card (the card of the last version promote judged), and the card
    and the report on the champion's run."""
    if paths.model_card.exists():
        card = with_section(paths.model_card.read_text(), ABLATION, ablation_section(out))
        write_text(paths.model_card, card)
    version = registry.champion() if registry else None
    run_id = registry.version_tags(version).get("run_id") if version else None
    if not run_id:
        say("no champion yet: the report is not logged to MLflow")
        return
    promoted = read_json(paths.promote) if paths.promote.exists() else {}
    with registry.run(run_id=run_id) as run:
        run.text(json.dumps(out, indent=1), "ablation.json")
        if paths.model_card.exists() and str(promoted.get("version")) == str(version):
            run.text(paths.model_card.read_text(), "model_card.md")
    say(f"logged to the champion's run ({registry.name} v{version})")
