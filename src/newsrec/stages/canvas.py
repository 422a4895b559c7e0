"""`newsrec canvas` (`make canvas`, a step of `make demo`): the ML canvas, reports/canvas.md.
The team's words (docs/canvas.yaml) next to the project's own numbers: the last runs'
reports, params.yaml, the features of the FeatureService as Feast holds it, and the champion
from the registry. Logged to the champion's MLflow run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq
import yaml

from newsrec import canvas as render
from newsrec.config import Params, Paths
from newsrec.console import Say, progress
from newsrec.data import schema
from newsrec.data.io import write_text
from newsrec.features.spec import MODEL_FEATURES, SERVICE

if TYPE_CHECKING:
    from newsrec.adapters.feast import FeatureStore
    from newsrec.adapters.mlflow import Registry


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _rows(folder: Path) -> dict[str, int]:
    return {n: pq.ParquetFile(f).metadata.num_rows for n in schema.TABLES if (f := folder / f"{n}.parquet").exists()}


def facts(p: Params, paths: Paths, registry: Registry, store: FeatureStore | None) -> dict:
    """Everything the canvas shows that the project measured or declared."""
    decision = _json(paths.decision)
    version = registry.champion()
    out = {
        "source": p.ingest.source,
        "tables": _rows(paths.canonical),
        "collected": _rows(paths.collected),
        "validate": _json(paths.validate),
        "ranking": p.ranking.model_dump(),
        "promote_params": p.promote.model_dump(),
        "monitor_params": p.monitor.model_dump(),
        "train_params": p.train.model_dump(),
        "metrics": _json(paths.metrics),
        "realised": (_json(paths.evaluate) or {}).get("realised"),
        "promote": _json(paths.promote),
        "train": _json(paths.train),
        "traffic": _json(paths.traffic),
        "loop": _json(paths.loop),
        "simulate": _json(paths.simulate),
        "decision": decision,
        "monitor_summary": _json(Path(decision["summary"])) if decision and decision.get("summary") else None,
        "champion": {"version": version, "run_id": registry.version_tags(version).get("run_id")} if version else None,
        "features": None,
    }
    if store is not None:
        out["features"] = {
            "service": SERVICE,
            "version": store.service_version(),
            "views": store.service_features(),
            "model": MODEL_FEATURES,
        }
    return out


def canvas(p: Params, paths: Paths, registry: Registry, store: FeatureStore | None, say: Say | None = None) -> Path:
    """Write reports/canvas.md and log it to the champion's run (when there is a champion).
    `store`: the feature store in service, None when there is none yet."""
    say = say or progress("canvas")
    if not paths.canvas_words.exists():
        raise FileNotFoundError(
            f"{paths.canvas_words}: missing; the canvas's human parts live there (`git checkout {paths.canvas_words.name}`)"
        )
    try:
        human = yaml.safe_load(paths.canvas_words.read_text()) or {}
    except yaml.YAMLError as e:  # where and what, in one line (PyYAML's message spans several)
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValueError(
            f"{paths.canvas_words}: not valid YAML{where}: {getattr(e, 'problem', None) or e}; fix it there"
        ) from None
    if not isinstance(human, dict):
        raise ValueError(f"{paths.canvas_words}: expected a mapping of canvas sections (value_proposition, ...)")
    f = facts(p, paths, registry, store)
    text = render.canvas(human, f)
    write_text(paths.canvas, text)
    if f["champion"] and f["champion"]["run_id"]:
        with registry.run(run_id=f["champion"]["run_id"]) as run:
            run.text(text, "canvas.md")
        say(f"{paths.canvas}, logged to the champion's run ({registry.name} v{f['champion']['version']})")
    else:
        say(f"{paths.canvas} (no champion yet: not logged to MLflow)")
    return paths.canvas
