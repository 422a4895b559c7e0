"""MLflow 3: tracking (SQLite + a local artifact folder by default), logging a training
run, and the registry with aliases (`challenger`, `champion`), never stages.

`Registry.connect` sets the tracking and registry URI once; the composition root
(newsrec.bootstrap) builds one per process and hands it to the stages that need it.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHALLENGER, CHAMPION = "challenger", "champion"
HISTORY_TAG = "champion_history"  # JSON list of versions that were champion, oldest first
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network calls from here
# MLflow logs a full traceback for every database error of its SQL store before raising it as
# MlflowException(TEMPORARILY_UNAVAILABLE); `reachable` reports that in one line instead
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


class TrackingUnavailable(ConnectionError):
    """The tracking store cannot be reached (a locked or missing database, a server down)."""


@contextmanager
def reachable(uri: str, outcome: str) -> Iterator[None]:
    """Turn 'the tracking store cannot be reached' into TrackingUnavailable, one line that
    says what happened to the work (`outcome`) and what to do; anything else propagates."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except TrackingUnavailable:
        raise
    except MlflowException as e:
        msg = str(e.message).strip().splitlines()[0] if e.message else type(e).__name__
        if e.error_code != "TEMPORARILY_UNAVAILABLE" and not msg.startswith("API request to"):
            raise
        raise TrackingUnavailable(
            f"the MLflow tracking store {uri} cannot be reached ({msg[:200]}); {outcome}; "
            "run the stage again once the store is back"
        ) from e


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Only errors from one of MLflow's loggers while the block runs."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def metric_names(metrics: dict[str, float], prefix: str = "") -> dict[str, float]:
    """MLflow metric names cannot hold '@': ndcg@10 -> ndcg_at_10."""
    return {f"{prefix}{k.replace('@', '_at_')}": float(v) for k, v in metrics.items()}


class UntrustedModel(ValueError):
    """A model artifact that is not skops, or whose types are not the ones this project trusts."""


def load_model_dir(model_dir: Path):
    """The scikit-learn estimator in a local MLflow model folder (e.g. one BentoML stored)
    and the metadata logged with it. Loaded with skops, trusting exactly the types named in
    newsrec.model.SKOPS_TRUSTED, never the list the artifact carries: an artifact saved in
    another format, or holding any other type, is refused (UntrustedModel)."""
    import skops.io
    from mlflow.models import Model
    from skops.io.exceptions import UntrustedTypesFoundException

    from newsrec.model import SKOPS_TRUSTED

    mlmodel = Model.load(str(Path(model_dir) / "MLmodel"))
    conf = mlmodel.flavors.get("sklearn") or {}
    if conf.get("serialization_format") != "skops":
        fmt = conf.get("serialization_format", "no scikit-learn flavor")
        raise UntrustedModel(f"{model_dir}: the model is saved as {fmt}, not skops; refusing to load it")
    try:
        model = skops.io.load(Path(model_dir) / conf["pickled_model"], trusted=SKOPS_TRUSTED)
    except UntrustedTypesFoundException as e:
        raise UntrustedModel(f"{model_dir}: the model holds types this project does not trust: {e}") from None
    return model, mlmodel.metadata or {}


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

    def sklearn_model(self, model, input_example, metadata: dict, trusted: list[str]):
        """Log the fitted estimator (skops format) with signature and input example."""
        import mlflow
        import sklearn
        import skops
        from mlflow.models import infer_signature

        signature = infer_signature(input_example, model.predict_proba(input_example.to_numpy())[:, 1])
        # Two warnings on every run, filtered here: (1) MLflow checks the input example by
        # scoring it through the pyfunc, which hands the estimator a frame; the estimator was
        # fitted on arrays (the request path scores arrays), so sklearn says it was "fitted
        # without feature names". The pyfunc orders the columns by the signature, the order it
        # was fitted in. (2) mlflow.utils.environment cannot find pip, which uv does not put in
        # the venv, so the conda.yaml beside the model lists pip unversioned; only a conda
        # environment manager reads that file, and this project serves from its own environment.
        with warnings.catch_warnings(), _quiet("mlflow.utils.environment"):
            warnings.filterwarnings("ignore", "X has feature names", UserWarning)
            return mlflow.sklearn.log_model(
                model,
                name="model",
                serialization_format="skops",
                skops_trusted_types=trusted,
                signature=signature,
                input_example=input_example,
                metadata=metadata,
                pyfunc_predict_fn="predict_proba",
                pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"],
            )


MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


@contextmanager
def _environment_kept() -> Iterator[None]:
    """MLflow's setters also export their value to the environment. Left there, this
    project's store would pass for the user's $MLFLOW_TRACKING_URI in every later process
    started from this one, and in this process's next `connect` (another project's, in a
    flow that runs two): the environment is put back as it was."""
    before = {k: os.environ.get(k) for k in MLFLOW_ENV}
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Registry:
    """The tracking server and the registered model `name`, configured once."""

    def __init__(self, uri: str, experiment_id: str, name: str) -> None:
        self.uri, self.experiment_id, self.name = uri, experiment_id, name

    @classmethod
    def connect(cls, store: Path, experiment: str, name: str) -> Registry:
        """Set the tracking and registry URI explicitly and select the experiment.
        $MLFLOW_TRACKING_URI wins; else the prod profile's tracking server, or SQLite in
        `store` on the local profile. Only a local store gets a local artifact folder: a
        tracking server stores the artifacts itself (clients upload through it)."""
        import mlflow

        from newsrec.profile import endpoints, profile

        store.mkdir(parents=True, exist_ok=True)
        local = f"sqlite:///{store / 'mlflow.db'}"
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (endpoints().mlflow if profile() == "prod" else local)
        with _environment_kept(), warnings.catch_warnings():
            # MLflow's SQL store maps a relationship with `noload`, which SQLAlchemy 2.1 deprecates:
            # the warning prints when a Feast import has turned DeprecationWarnings on before this
            warnings.filterwarnings("ignore", "The ``noload`` loader strategy", DeprecationWarning)
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            with reachable(uri, "nothing was done"):
                exp = mlflow.get_experiment_by_name(experiment)
                exp_id = (
                    exp.experiment_id
                    if exp
                    else mlflow.create_experiment(
                        experiment,
                        artifact_location=(store / "artifacts").as_uri() if uri.startswith("sqlite") else None,
                    )
                )
                mlflow.set_experiment(experiment_id=exp_id)
        return cls(uri, exp_id, name)

    def __setstate__(self, state: dict) -> None:
        """A Registry sent to another process (a Dask worker judging a day) points that
        process's MLflow at the same store, as `connect` did here."""
        import mlflow

        self.__dict__.update(state)
        with _environment_kept():
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_registry_uri(self.uri)

    @property
    def _client(self):
        import mlflow

        return mlflow.MlflowClient()

    @contextmanager
    def run(self, run_name: str | None = None, run_id: str | None = None) -> Iterator[RunLog]:
        """Start (or, with run_id, resume) a run; it ends FAILED if the block raises. A store
        lost on the way raises TrackingUnavailable (the run may then stay RUNNING in it)."""
        import mlflow

        with reachable(self.uri, "nothing was registered and the champion is unchanged"):
            r = mlflow.start_run(run_name=run_name, run_id=run_id)
            try:
                yield RunLog(r)
            except BaseException:
                try:
                    mlflow.end_run("FAILED")
                except Exception:  # the store is gone too (the run is no longer active either way):
                    pass  # the block's own error is the one to report
                raise
            mlflow.end_run()

    def register(self, model_uri: str, tags: dict[str, str]) -> str:
        """Register a logged model as a new version and point `challenger` at it."""
        import mlflow

        with reachable(self.uri, "nothing was registered and the champion is unchanged"):
            mv = mlflow.register_model(model_uri, self.name, tags=tags)
        with reachable(self.uri, f"version {mv.version} was registered, but `challenger` does not point at it"):
            self._client.set_registered_model_alias(self.name, CHALLENGER, mv.version)
        return str(mv.version)

    def find_version(self, tag: str, value: str) -> dict | None:
        """The newest registered version whose tag `tag` equals `value`: its version, run,
        model URI and the run's validation metrics; None if there is none."""
        client = self._client
        with reachable(self.uri, "nothing was done"):
            found = client.search_model_versions(f"name = '{self.name}' and tags.`{tag}` = '{value}'")
        if not found:
            return None
        v = max(found, key=lambda m: int(m.version))
        metrics = {
            k.replace("_at_", "@"): x
            for k, x in client.get_run(v.run_id).data.metrics.items()
            if k.startswith("valid_")
        }
        return {
            "run_id": v.run_id,
            "model_uri": v.source,
            "model_name": self.name,
            "version": str(v.version),
            "metrics": metrics,
        }

    def run_json(self, run_id: str, path: str) -> dict | None:
        """A JSON artifact a run logged (`RunLog.text`); None when the run has none (a run
        logged before the artifact existed)."""
        import mlflow

        with reachable(self.uri, "nothing was done"):
            if path not in {a.path for a in self._client.list_artifacts(run_id)}:
                return None
            return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{path}"))

    def point_challenger(self, version: str) -> None:
        self._client.set_registered_model_alias(self.name, CHALLENGER, version)

    def alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self._client.get_model_version_by_alias(self.name, alias).version)
        except MlflowException:
            return None

    def champion(self) -> str | None:
        return self.alias_version(CHAMPION)

    def load_model(self, version: str):
        """The scikit-learn estimator of a registered version and the metadata logged with it
        (`load_model_dir`: only the trusted types)."""
        import mlflow

        return load_model_dir(Path(mlflow.artifacts.download_artifacts(f"models:/{self.name}/{version}")))

    def version_tags(self, version: str) -> dict[str, str]:
        return dict(self._client.get_model_version(self.name, version).tags or {})

    def untag_version(self, version: str, key: str) -> None:
        self._client.delete_model_version_tag(self.name, version, key)

    def tag_version(self, version: str, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self._client.set_model_version_tag(self.name, version, k, str(v))

    def champion_history(self) -> list[str]:
        """The versions that were champion, oldest first; empty before the first registration."""
        from mlflow.exceptions import MlflowException

        try:
            tags = self._client.get_registered_model(self.name).tags or {}
        except MlflowException:  # nothing registered under this name yet
            return []
        return json.loads(tags.get(HISTORY_TAG, "[]"))

    def set_champion(self, version: str, history: list[str]) -> None:
        """Point `champion` at version and record the history used by rollback."""
        self._client.set_registered_model_alias(self.name, CHAMPION, version)
        self._client.set_registered_model_tag(self.name, HISTORY_TAG, json.dumps(history))
