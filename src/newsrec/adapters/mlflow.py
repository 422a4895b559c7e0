"""MLflow 3: tracking (SQLite + a local artifact folder by default), logging a training
run, and the registry with aliases (`challenger`, `champion`), never stages."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHALLENGER, CHAMPION = "challenger", "champion"
HISTORY_TAG = "champion_history"  # JSON list of versions that were champion, oldest first
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from here


def metric_names(metrics: dict[str, float], prefix: str = "") -> dict[str, float]:
    """MLflow metric names cannot hold '@': ndcg@10 -> ndcg_at_10."""
    return {f"{prefix}{k.replace('@', '_at_')}": float(v) for k, v in metrics.items()}


def configure(root: Path, experiment: str) -> str:
    """Set the tracking and registry URI explicitly and select the experiment; return its id.

    $MLFLOW_TRACKING_URI wins (the prod profile); else SQLite in mlruns/ of the project.
    """
    import mlflow

    store = root / "mlruns"
    store.mkdir(parents=True, exist_ok=True)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else mlflow.create_experiment(
        experiment, artifact_location=(store / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def log_sklearn_model(model, input_example, metadata: dict, trusted: list[str]):
    """Log the fitted estimator (skops format) with signature and input example."""
    import mlflow
    import sklearn
    import skops
    from mlflow.models import infer_signature

    signature = infer_signature(input_example, model.predict_proba(input_example.to_numpy())[:, 1])
    return mlflow.sklearn.log_model(
        model, name="model", serialization_format="skops", skops_trusted_types=trusted,
        signature=signature, input_example=input_example, metadata=metadata,
        pyfunc_predict_fn="predict_proba",
        pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"])


def register(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model as a new version and point `challenger` at it."""
    import mlflow

    mv = mlflow.register_model(model_uri, name, tags=tags)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, CHALLENGER, mv.version)
    return str(mv.version)


def find_version(name: str, tag: str, value: str) -> dict | None:
    """The newest registered version of `name` whose tag `tag` equals `value`: its version,
    run, model URI and the run's validation metrics; None if there is none."""
    import mlflow

    client = mlflow.MlflowClient()
    found = client.search_model_versions(f"name = '{name}' and tags.`{tag}` = '{value}'")
    if not found:
        return None
    v = max(found, key=lambda m: int(m.version))
    metrics = {k.replace("_at_", "@"): x for k, x in client.get_run(v.run_id).data.metrics.items()
               if k.startswith("valid_")}
    return {"run_id": v.run_id, "model_uri": v.source, "model_name": name, "version": str(v.version),
            "metrics": metrics}


def point_challenger(name: str, version: str) -> None:
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, CHALLENGER, version)


def alias_version(name: str, alias: str) -> str | None:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def load_model(name: str, version: str):
    """The scikit-learn estimator of a registered version and the metadata logged with it."""
    import mlflow
    from mlflow.models import Model

    uri = f"models:/{name}/{version}"
    meta = Model.load(uri).metadata or {}
    return mlflow.sklearn.load_model(uri), meta


def tag_version(name: str, version: str, tags: dict[str, str]) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, str(v))


def champion_history(name: str) -> list[str]:
    import mlflow

    tags = mlflow.MlflowClient().get_registered_model(name).tags or {}
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def set_champion(name: str, version: str, history: list[str]) -> None:
    """Point `champion` at version and record the history used by rollback."""
    import mlflow

    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))


class RunLog:
    """What a stage logs to one MLflow run, without importing mlflow itself."""

    def __init__(self, run) -> None:
        self.id = run.info.run_id

    def tags(self, tags: dict[str, str]) -> None:
        import mlflow

        mlflow.set_tags(tags)

    def params(self, params: dict) -> None:
        import mlflow

        mlflow.log_params(params)

    def metrics(self, metrics: dict[str, float], prefix: str = "") -> None:
        import mlflow

        mlflow.log_metrics(metric_names(metrics, prefix))

    def figure(self, fig, path: str) -> None:
        import matplotlib.pyplot as plt
        import mlflow

        mlflow.log_figure(fig, path)
        plt.close(fig)

    def text(self, text: str, path: str) -> None:
        import mlflow

        mlflow.log_text(text, path)

    def artifact(self, path: str, folder: str) -> None:
        import mlflow

        mlflow.log_artifact(path, folder)


@contextmanager
def run(run_name: str | None = None, run_id: str | None = None) -> Iterator[RunLog]:
    """Start (or, with run_id, resume) a run; it ends FAILED if the block raises."""
    import mlflow

    with mlflow.start_run(run_name=run_name, run_id=run_id) as r:
        yield RunLog(r)
