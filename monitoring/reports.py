"""Evidently 0.7 reports (the Evidently adapter): drift of the model's features and scores between a training
sample (reference) and a window of the prediction log (current), and, once the window's
clicks are known, the classification performance on what readers saw.

Each run is saved as HTML and JSON and added to a local Evidently workspace (`make ui`).
The numbers the drift gate needs are read back from the snapshot into a DriftSummary.
"""

from __future__ import annotations

import fcntl
from datetime import datetime
from pathlib import Path

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.metrics import RocAuc, ValueDrift
from evidently.presets import DataDriftPreset
from evidently.ui.storage.local.base import LocalState
from evidently.ui.workspace import Workspace

from newsrec.config import Monitor
from newsrec.features.spec import MODEL_FEATURES

PROJECT = "newsrec"
SCORE = "engagement"  # the model's click probability; its drift is the score drift


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, p: Monitor, **run) -> object:
    """Per-feature drift (the DataDriftPreset) and the drift of the engagement score."""
    cols = MODEL_FEATURES + [SCORE]
    definition = DataDefinition(numerical_columns=cols)
    report = Report(
        [
            DataDriftPreset(
                columns=MODEL_FEATURES, method=p.drift_method, threshold=p.drift_threshold, drift_share=p.drift_share
            ),
            ValueDrift(column=SCORE, method=p.drift_method, threshold=p.score_drift_threshold),
        ]
    )
    return report.run(
        Dataset.from_pandas(current[cols], data_definition=definition),
        Dataset.from_pandas(reference[cols], data_definition=definition),
        **run,
    )


def performance_report(reference: pd.DataFrame, current: pd.DataFrame, **run) -> object:
    """ROC AUC of the engagement score on the shown items whose clicks are known."""
    definition = DataDefinition(
        numerical_columns=[SCORE],
        categorical_columns=["clicked"],
        classification=[BinaryClassification(target="clicked", prediction_probas=SCORE)],
    )
    cols = [SCORE, "clicked"]
    # RocAuc also computes precision and recall at `probas_threshold` (0.5 by default), which
    # neither the report nor the gate uses. Click probabilities rarely reach 0.5, so on most
    # days no item was "predicted" and sklearn warned that precision is undefined. At 0 every
    # shown item counts as predicted: those side numbers become the CTR and 1, defined on any
    # window, and the AUC, which needs no threshold, is the same.
    return Report([RocAuc(probas_threshold=0.0)]).run(
        Dataset.from_pandas(current[cols].astype({"clicked": int}), data_definition=definition),
        Dataset.from_pandas(reference[cols].astype({"clicked": int}), data_definition=definition),
        **run,
    )


def drift_scores(snapshot) -> tuple[dict[str, float], float | None]:
    """Each feature's drift score and the score's, as the report computed them."""
    features, score = {}, None
    for m in snapshot.dict()["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith(":ValueDrift"):
            if cfg["column"] == SCORE:
                score = float(m["value"])
            else:
                features[cfg["column"]] = float(m["value"])
    return features, score


def save(
    snapshots: dict[str, object],
    folder: Path,
    workspace: Path,
    name: str,
    project_name: str = PROJECT,
    html: bool = True,
) -> dict[str, str]:
    """Write each snapshot as JSON (and HTML, about 4 MB each) under `folder` and add it to
    the workspace project, where the Evidently UI renders it."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind, snap in snapshots.items():
        js = folder / f"{kind}.json"
        snap.save_json(str(js))
        files[kind] = str(js)
        if html:
            snap.save_html(str(folder / f"{kind}.html"))
            files[kind] = str(folder / f"{kind}.html")
    Path(workspace).mkdir(parents=True, exist_ok=True)
    # one writer at a time: processes side by side (the simulation's policies on Dask) add runs to
    # the same project, and the workspace rewrites its files whole
    with open(Path(workspace) / ".newsrec.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ws = _Workspace(str(workspace))
        found = ws.search_project(project_name)
        project = (
            found[0] if found else ws.create_project(project_name, description="newsrec: prediction-log monitoring")
        )
        for kind, snap in snapshots.items():
            ws.add_run(project.id, snap, name=f"{name} {kind}")
    return files


class _Workspace(Workspace):
    """The local Evidently workspace at `path`, for adding runs: its project and snapshot
    files (`Workspace.state`). `Workspace(path)` also builds a dataset manager, which parses
    every snapshot in the workspace (about 50 ms each here: 1.2 s for 24, 4.5 s for 96, so a
    year of nightly runs would add half a minute to each), and adding a run without its data
    never uses it."""

    def __init__(self, path: str) -> None:  # no super().__init__: the dataset manager is left out
        self.path, self.state = path, LocalState(path)


def timestamp(window: list[str]) -> datetime:
    """The run's time on the workspace's axis: the end of its window."""
    return pd.Timestamp(window[-1]).to_pydatetime()
