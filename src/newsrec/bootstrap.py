"""The composition root: params, paths and the tool handles, each built once per process
and only when first used (each tool takes seconds to import). Entry points (the CLI, the
flows, the service, tests) build one Context and pass its parts to the stage functions;
the stages never build a tool handle themselves."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from newsrec.config import Params, Paths, load_params

if TYPE_CHECKING:  # the handles' types, for readers and type checkers only
    from newsrec.adapters.feast import FeatureStore
    from newsrec.adapters.mlflow import Registry


@dataclass
class Context:
    params: Params
    paths: Paths

    @cached_property
    def registry(self) -> Registry:
        """MLflow tracking and the model registry, configured once."""
        from newsrec.adapters.mlflow import Registry

        return Registry.connect(self.paths.mlflow, self.params.train.experiment, self.params.train.model_name)

    @cached_property
    def feature_store(self) -> FeatureStore:
        """The Feast store of the project's feature repo, on the online store in service."""
        from newsrec.adapters.feast import FeatureStore

        return FeatureStore(self.paths.feature_repo, self.paths.online)

    def new_online_store(self) -> FeatureStore:
        """A Feast store on a new, empty online store beside the one in service (the feast
        stage fills it, then switches it in)."""
        from newsrec.adapters.feast import FeatureStore

        return FeatureStore(self.paths.feature_repo, self.paths.online, aside=True)


def context(params_file: str | Path | None = None, root: Path | None = None) -> Context:
    """The Context of the project at `root` (default: $NEWSREC_ROOT or the current folder)."""
    paths = Paths(root)
    return Context(load_params(params_file or paths.root / "params.yaml"), paths)
