"""Stage `promote`: the gate decides whether the challenger becomes `champion`; every
decision is written down (version tags, the model card, reports/promote.json). Also
`rollback`: move `champion` back to the previous champion."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data.io import read_json, write_json, write_text
from newsrec.gates import Decision, promotion_decision, success_decision
from newsrec.lineage import training_key
from newsrec.modelcard import model_card

if TYPE_CHECKING:
    from newsrec.adapters.mlflow import Registry

ROLLED_BACK = "gate.rolled_back"  # a version tag: why a person rolled it back
LINEAGE = ("git_sha", "dvc.data/canonical", "dvc.data/features", "feature_service", "feature_service_version")


@dataclass(frozen=True)
class Promotion:
    """reports/promote.json"""

    model: str
    version: str
    promoted: bool
    reasons: list[str]
    champion: str | None  # the champion after the decision
    success: bool = False  # the framing's success criteria held (their lines are among the reasons)


def promote(
    p: Params, paths: Paths, registry: Registry, allow_rolled_back: bool = False, say: Say | None = None
) -> Promotion:
    """Judge the challenger of reports/train.json by the metrics of reports/metrics.json. A
    version that was rolled back is refused unless `allow_rolled_back` (a person asks)."""
    say = say or progress("promote")
    trained, metrics, ev = read_json(paths.train), read_json(paths.metrics), read_json(paths.evaluate)
    name, version = trained["model_name"], trained["version"]
    champ = ev["champion"]
    if champ and champ["version"] == version:
        champ = None
    rolled_back = None if allow_rolled_back else registry.version_tags(version).get(ROLLED_BACK)
    decision = promotion_decision(
        metrics["model"], champ and champ["metrics"], metrics["popularity"], p.promote, rolled_back
    )
    success = success_decision(ev["realised"], p.promote)
    if p.promote.require_success and not success.ok:
        decision = Decision(False, [*decision.reasons, "the success criteria are required (promote.require_success)"])
    decision = Decision(decision.ok, decision.reasons + success.reasons)
    _, meta = registry.load_model(version)
    tags = {k: meta.get(k, "") for k in LINEAGE}
    shown = dict(metrics) | ({f"champion v{champ['version']}": champ["metrics"]} if champ else {})
    card = model_card(
        name,
        version,
        trained["run_id"],
        decision.ok,
        decision.reasons,
        shown,
        ev["realised"],
        tags,
        p.train.model_dump() | {"smaller": p.train.smaller.overrides(), "ranking": p.ranking.model_dump()},
        meta["features"],
        p.ingest.source,
        {k: trained.get(k) for k in ("configurations", "registered", "size_reasons")},
        p.promote.metric,
        _ablation(paths),
    )
    write_text(paths.model_card, card)
    with registry.run(run_id=trained["run_id"]) as run:
        run.text(card, "model_card.md")
    registry.tag_version(
        version,
        {
            "gate.decision": "promoted" if decision.ok else "rejected",
            "gate.reasons": " | ".join(decision.reasons),
            "gate.metric": p.promote.metric,
            "gate.success": "held" if success.ok else "missed",
        },
    )
    if decision.ok:
        registry.set_champion(version, [v for v in registry.champion_history() if v != version] + [version])
        if allow_rolled_back and ROLLED_BACK in registry.version_tags(version):
            registry.untag_version(version, ROLLED_BACK)  # promoted on purpose: the gate may judge it again
    out = Promotion(name, version, decision.ok, decision.reasons, registry.champion(), success.ok)
    write_json(paths.promote, asdict(out))
    for line in decision.reasons:
        say(line)
    say(
        f"{name} v{version}: {'PROMOTED to champion' if decision.ok else 'not promoted'}; model card {paths.model_card}"
    )
    return out


@dataclass(frozen=True)
class Rollback:
    model: str
    previous: str  # the champion before
    champion: str  # the champion now


def rollback(registry: Registry, say: Say | None = None) -> Rollback:
    """Move `champion` back to the previous champion (recorded at each promotion) and mark
    the version rolled back, so the gate never promotes it again by itself."""
    history = registry.champion_history()
    if len(history) < 2:
        raise ValueError(f"{registry.name}: no previous champion to roll back to (history: {history or 'empty'})")
    current, previous = history[-1], history[-2]
    registry.set_champion(previous, history[:-1])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    registry.tag_version(current, {ROLLED_BACK: f"champion moved back to v{previous} on {when}"})
    (say or progress("rollback"))(f"{registry.name}: champion v{current} -> v{previous}")
    return Rollback(registry.name, current, previous)


def _ablation(paths: Paths) -> dict | None:
    """The latest `newsrec ablation`, when it was run on this very training set."""
    if not paths.ablation.exists() or not paths.trainset.exists():
        return None
    report = read_json(paths.ablation)
    return report if report.get("trainset") == training_key(paths.trainset, {})[:12] else None
