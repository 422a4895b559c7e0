"""params.yaml -> one typed config, keyed by stage; project paths.

Unknown keys and wrong types fail with a message naming the key, e.g.
``params.yaml: world.n_users: Input should be a valid integer (got 'many')``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClickModel(Strict):
    """Weights of the simulator's true click model (a logistic model)."""

    base: float = -4.5
    interest: float = 1.3
    popularity: float = 0.45
    freshness: float = 1.0
    freshness_tau_hours: float = Field(12.0, gt=0)
    clickbait: float = 1.6
    quality: float = 0.6


class InterestShock(Strict):
    enabled: bool = False
    day: int = Field(4, ge=0)
    category: str = "news"
    boost: float = Field(4.0, gt=0)  # interest in `category` x boost (after reshuffle's rotation), then renormalised
    reshuffle: bool = False  # first move each reader's interests on to the next category (a rotation)


class NewCohort(Strict):
    enabled: bool = False
    day: int = Field(4, ge=0)
    n_users: int = Field(1000, ge=1)
    category: str = "sports"


class NewCategory(Strict):
    enabled: bool = False
    day: int = Field(4, ge=0)
    name: str = "elections"
    share: float = Field(0.25, gt=0, lt=1)


class Scenarios(Strict):
    interest_shock: InterestShock = InterestShock()
    new_cohort: NewCohort = NewCohort()
    new_category: NewCategory = NewCategory()


# world.preset: sizes that replace the world's own (MIND-large: 1M users, about 160k articles,
# about 2.2M logged impressions; with 10-30 candidates each, about 45M candidate rows)
WORLD_PRESETS = {"large": {"n_users": 1_000_000, "n_articles": 160_000, "impressions_per_day": 430_000}}


class World(Strict):
    """The simulated news world (the `world` stage)."""

    preset: Literal["default", "large"] = "default"  # large: WORLD_PRESETS' sizes replace the three below
    seed: int = 7
    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)
    days: int = Field(7, ge=1)  # logged days: what `ingest` reads
    live_days: int = Field(8, ge=0)  # days after the log that readers live through the service (demo, loop)
    backlog_days: int = Field(2, ge=0)
    n_users: int = Field(5000, ge=1)
    n_articles: int = Field(2500, ge=1)
    impressions_per_day: int = Field(4000, ge=1)
    candidates_min: int = Field(10, ge=1)
    candidates_max: int = Field(30, ge=1)
    candidate_window_hours: float = Field(48.0, gt=0)
    history_max: int = Field(50, ge=0)
    history_mean: float = Field(12.0, ge=0)
    cold_user_fraction: float = Field(0.1, ge=0, le=1)
    rating_rate: float = Field(0.3, ge=0, le=1)
    clickbait_penalty: float = Field(0.7, ge=0)
    click_model: ClickModel = ClickModel()
    scenarios: Scenarios = Scenarios()

    @field_validator("start")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, v: object) -> object:
        if isinstance(v, dict) and v.get("preset") in WORLD_PRESETS:
            return v | WORLD_PRESETS[v["preset"]]
        return v

    @model_validator(mode="after")
    def _sizes(self) -> World:
        if self.candidates_min > self.candidates_max:
            raise ValueError("candidates_min must not exceed candidates_max")
        return self


class Ingest(Strict):
    """The `ingest` stage: raw MIND-format files -> canonical parquet tables."""

    source: Literal["sim", "mind"] = "sim"
    chunk_lines: int = Field(50_000, ge=1)


class Validate(Strict):
    """The `validate` stage: Great Expectations data contracts."""

    min_known_news_fraction: float = Field(0.99, ge=0, le=1)
    ctr_min: float = Field(0.01, ge=0, le=1)
    ctr_max: float = Field(0.30, ge=0, le=1)
    mind_time_min: datetime = datetime(2019, 10, 1, tzinfo=UTC)
    mind_time_max: datetime = datetime(2019, 12, 1, tzinfo=UTC)
    known_categories: list[str] = Field(default_factory=list)
    rating_min: int = 1
    rating_max: int = 5
    examples: int = Field(5, ge=0)


class Collect(Strict):
    """The `collect` stage: logged traffic (prediction log + outcomes) -> canonical tables."""

    history_max: int = Field(50, ge=0)  # clicks kept in a reader's history


class Features(Strict):
    """The `features` stage: point-in-time feature tables."""

    snapshot_hours: int = Field(1, ge=1)  # how often article stats are refreshed
    # how often the online store moves forward (live loop); training joins features as of
    # the store's last update before each impression, as serving sees them
    advance_hours: int = Field(1, ge=1)
    affinity_prior: float = Field(2.0, ge=0)  # pseudo-clicks spread evenly over categories
    ctr_prior_impressions: float = Field(100.0, gt=0)  # m of the smoothed CTR
    quality_prior_impressions: float = Field(200.0, gt=0)  # m of the CTR-based quality (no ratings)
    rating_prior_votes: float = Field(5.0, gt=0)  # m of the weighted rating
    quality_source: Literal["auto", "ratings", "ctr"] = "auto"
    text_dims: int = Field(16, ge=1)
    seed: int = 7


class Engine(Strict):
    """Where the batch stages run: `pandas` in one process, or `dask`, their parts (a day of
    feature rows each) on a Dask cluster: a LocalCluster of `workers` processes, or the
    scheduler at $NEWSREC_DASK_SCHEDULER. The same rows either way."""

    kind: Literal["pandas", "dask"] = "pandas"
    workers: int = Field(0, ge=0)  # LocalCluster worker processes; 0: one per core
    memory_limit: str = "auto"  # per LocalCluster worker (Dask's syntax: "4GiB"; auto: the machine's share)
    connect_seconds: float = Field(20.0, gt=0)  # how long the scheduler at $NEWSREC_DASK_SCHEDULER is waited for
    join_hours: int = Field(24, ge=1, le=24)  # hours of entity rows per `trainset` task: fewer, less memory each

    @field_validator("join_hours")
    @classmethod
    def _whole(cls, v: int) -> int:
        if 24 % v:
            raise ValueError("must divide a day (1, 2, 3, 4, 6, 8, 12 or 24)")
        return v


class Trainset(Strict):
    """The `trainset` stage: the time-based split of the labeled rows, in whole days."""

    train_days: int = Field(4, ge=1)  # counted from the first day of data
    valid_days: int = Field(1, ge=1)
    test_days: int = Field(2, ge=1)
    # 0: the day split above. N (a retrain on recent traffic): the last N days with labels,
    # `holdout` of the last day's impressions held out, half for valid, half for test
    window_days: int = Field(0, ge=0)
    holdout: float = Field(0.3, gt=0, lt=1)


class Smaller(Strict):
    """train.smaller: the smaller configuration trained beside the full one, as overrides of
    the train section's hyper-parameters (unset: the full one's value). Both fit the same rows."""

    seed: int | None = None
    learning_rate: float | None = Field(None, gt=0)
    max_iter: int | None = Field(None, ge=1)
    max_leaf_nodes: int | None = Field(None, ge=2)
    min_samples_leaf: int | None = Field(None, ge=1)
    l2_regularization: float | None = Field(None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _hyperparameters_only(cls, v: object) -> object:
        shared = sorted(set(v) & (set(Train.model_fields) - set(cls.model_fields))) if isinstance(v, dict) else []
        if shared:
            raise ValueError(
                f"{', '.join(shared)}: the same for both configurations; train.smaller overrides only "
                f"{', '.join(cls.model_fields)}"
            )
        return v

    def overrides(self) -> dict:
        """The keys set, with their values."""
        return self.model_dump(exclude_none=True)


class Train(Strict):
    """The `train` stage: the click model."""

    seed: int = 7
    learning_rate: float = Field(0.08, gt=0)
    max_iter: int = Field(300, ge=1)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(1.0, ge=0)
    # negative downsampling for more rows than fit in memory: every click and this share of
    # the rest, weighted back (1/rate), so the probabilities stay calibrated; 1: every row
    negative_rate: float = Field(1.0, gt=0, le=1)
    experiment: str = "newsrec"
    model_name: str = "newsrec-ranker"
    # the smaller configuration trained beside this one (train.json and the model card show
    # both, metric against size and scoring cost), and whether the registered model is the
    # smaller one when its validation metric (promote.metric) is at most smaller_tolerance
    # below the full one's
    smaller: Smaller = Field(default_factory=lambda: Smaller(max_iter=50, max_leaf_nodes=15))
    prefer_smaller: bool = False
    smaller_tolerance: float = Field(0.002, ge=0)

    def smaller_train(self) -> Train:
        """This section with the smaller configuration's overrides applied."""
        return self.model_copy(update=self.smaller.overrides())


class Ranking(Strict):
    """The blended score: a * engagement + b * quality, both scaled to [0, 1]."""

    engagement_weight: float = Field(0.2, ge=0)
    quality_weight: float = Field(0.8, ge=0)
    k: int = Field(10, ge=1)


class Promote(Strict):
    """The promotion gate: margins the challenger must beat."""

    metric: Literal["auc", "mrr", "ndcg@5", "ndcg@10"] = "ndcg@10"
    min_gain_over_champion: float = 0.0
    min_gain_over_popularity: float = 0.0
    # the framing's success criteria: per value of the served blend's top k (evaluate's
    # realised values: ctr@10, quality@10, diversity@10, ...), the least relative change
    # against popularity's top k on the test days; reported by the gate, required when
    # require_success is true
    success: dict[str, float] = Field(default_factory=lambda: {"ctr@10": -0.10, "quality@10": 0.05})
    require_success: bool = False


class Serve(Strict):
    """The recommendation service."""

    host: str = "127.0.0.1"
    port: int = Field(3000, ge=1, le=65535)
    workers: int = Field(2, ge=1)  # server processes; one per core
    freshest_n: int = Field(100, ge=1, le=500)  # candidates when a request names none
    max_body_bytes: int = Field(65_536, ge=1_024)  # a larger request body gets 413
    # requests in a worker at once; the next get 503. A worker serves /recommend one request at
    # a time (about 8 ms each), so the limit bounds an admitted request's wait (32: ~0.25 s)
    max_concurrency: int = Field(32, ge=1)
    # shedding from a worker's queue (services/guard.Gate): the queue target is
    # queue_target_services times the worker's mean time per request (measured); when no
    # waiting request has been under it for 100 ms, the queue stands: those waiting longer get
    # 503 and the newest goes on first; a wait over max_wait_ms gets 503 at any time (milliseconds)
    queue_target_services: float = Field(25.0, gt=0)
    max_wait_ms: float = Field(300.0, gt=0)
    # a request_time later than the server's clock by more than this gets 400 (hours)
    max_future_skew: float = Field(24.0, ge=0)
    # a read waits this long for an online store another process holds locked, then the
    # answer is the flagged fallback ranking (milliseconds)
    store_wait_ms: int = Field(1000, ge=0)

    @property
    def url(self) -> str:
        """The service's address: the one place it is set (make serve HOST=.. PORT=.. overrides)."""
        return f"http://{self.host}:{self.port}"


class Monitor(Strict):
    """Reports on the prediction log against a training sample, and the drift gate."""

    window_days: int = Field(1, ge=1)  # the log window: the last N days that have traffic
    reference_rows: int = Field(50_000, ge=100)  # sample of the training set (reference)
    current_rows: int = Field(50_000, ge=100)  # sample of the log window (current)
    min_rows: int = Field(1_000, ge=1)  # a smaller window gets no decision
    seed: int = 0
    # features whose drift counts in the gate (all are reported); windows that are still
    # filling up in a young log drift by construction, so they are left out by default
    features: list[str] = [
        "user_imps_1d",
        "user_clicks_1d",
        "news_imps_1d",
        "news_clicks_1d",
        "news_ctr",
        "news_quality",
        "freshness_hours",
        "category_affinity",
        "content_similarity",
    ]
    drift_method: str = "wasserstein"  # an Evidently stat test name
    drift_threshold: float = Field(0.3, gt=0)  # per feature: drift score above this is drift
    drift_share: float = Field(0.5, gt=0, le=1)  # share of gated features drifting that means retrain
    score_drift_threshold: float = Field(0.12, gt=0)  # drift score of the engagement scores
    max_auc_drop: float = Field(0.1, ge=0)  # once clicks are known: drop from the reference
    max_ndcg_drop: float = Field(0.05, ge=0)

    @field_validator("features")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from newsrec.features.spec import MODEL_FEATURES

        bad = [f for f in v if f not in MODEL_FEATURES]
        if bad:
            raise ValueError(f"unknown feature(s) {bad}; known: {MODEL_FEATURES}")
        return v


class Economics(Strict):
    """The cost model that prices each retraining policy (the economics block of
    reports/simulate.json and reports/loop.json). Any policy pays off for some choice of these
    values, so each policy's break-even value per click is reported next to its net value."""

    value_per_click: float = Field(0.01, ge=0)  # what a click earns
    cost_per_compute_hour: float = Field(2.0, ge=0)  # a machine hour spent retraining (and deploying)
    cost_per_unclicked: float = Field(0.0002, ge=0)  # a wrong prediction: an item shown and not clicked
    cost_per_low_quality_click: float = Field(0.01, ge=0)  # a wrong prediction: a click on a low-quality item
    low_quality: float = Field(0.4, ge=0, le=1)  # an article of true quality below this is low quality


class Simulate(Strict):
    """Simulated days of closed-loop traffic (`make simulate`): the served model ranks each
    day's impressions, the world's clicks answer, monitoring judges, a policy retrains."""

    history_days: int = Field(4, ge=2)  # days before the first simulated day; the first model trains on them
    days: int = Field(8, ge=1)  # simulated days
    scenario: Literal["interest_shock", "new_cohort", "new_category", "none"] = "interest_shock"
    shock_day: int = Field(3, ge=0)  # the simulated day the scenario starts (0 = the first)
    policies: list[Literal["never", "schedule", "drift"]] = ["never", "schedule", "drift"]
    retrain_every: int = Field(2, ge=1)  # the schedule policy retrains after every N days
    train_window_days: int = Field(3, ge=1)  # a retrain fits the last N days of labeled data
    economics: Economics = Economics()
    # overrides of the world section for the simulation; by default an election: interest in
    # news doubles and every reader's tastes move on to another category
    world: dict = Field(default_factory=lambda: {"scenarios": {"interest_shock": {"boost": 2.0, "reshuffle": True}}})

    def live_world(self, base: World, scenario: str, shock_day: int) -> World:
        """The world the readers of the live days live in: `base` (its logged days unchanged)
        with the overrides and `scenario` switched on from live day `shock_day`."""
        if scenario == "new_category":
            raise ValueError(
                "scenario new_category changes the world's articles from the first logged day, so it "
                "cannot start in the live days; `make simulate SCENARIO=new_category` runs it in process"
            )
        w = base.model_dump()
        for k, v in self.world.items():
            if k not in w:
                raise ValueError(f"simulate.world.{k}: unknown world key")
            w[k] = {**w[k], **v} if isinstance(w[k], dict) and isinstance(v, dict) else v
        w["days"], w["live_days"] = base.days, base.live_days  # the logged world as the pipeline has it
        for name in ("interest_shock", "new_cohort", "new_category"):
            w["scenarios"][name]["enabled"] = name == scenario
            if name == scenario:
                w["scenarios"][name]["day"] = base.days + shock_day
        return World.model_validate(w)

    def world_params(self, base: World) -> World:
        """The world of the simulation: `base` with the overrides, long enough, the scenario on."""
        w = base.model_dump()
        for k, v in self.world.items():
            if k not in w:
                raise ValueError(f"simulate.world.{k}: unknown world key")
            w[k] = {**w[k], **v} if isinstance(w[k], dict) and isinstance(v, dict) else v
        w["days"], w["live_days"] = self.history_days + self.days, 0  # every simulated day is a logged one
        for name in ("interest_shock", "new_cohort", "new_category"):
            w["scenarios"][name]["enabled"] = name == self.scenario
            if name == self.scenario:
                w["scenarios"][name]["day"] = self.history_days + self.shock_day
        return World.model_validate(w)


class Params(Strict):
    world: World = World()
    ingest: Ingest = Ingest()
    validate_: Validate = Field(Validate(), alias="validate")
    collect: Collect = Collect()
    features: Features = Features()
    engine: Engine = Engine()
    trainset: Trainset = Trainset()
    train: Train = Train()
    ranking: Ranking = Ranking()
    promote: Promote = Promote()
    serve: Serve = Serve()
    monitor: Monitor = Monitor()
    simulate: Simulate = Simulate()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or does not fit the schema."""


def project_root() -> Path:
    """The project folder: $NEWSREC_ROOT, else the current directory."""
    return Path(os.environ.get("NEWSREC_ROOT", ".")).resolve()


def load_params(path: str | Path | None = None) -> Params:
    """Read and check params.yaml; raise ConfigError naming the offending key."""
    path = Path(path) if path else project_root() / "params.yaml"
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of stage names at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            got = "" if err["type"] == "extra_forbidden" else f" (got {repr(err['input'])[:80]})"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{path.name}: {key}: {msg}{got}")
        raise ConfigError("\n".join(lines)) from None


class Paths:
    """Where each stage reads and writes, relative to the project root: one entry for every
    artifact that more than one module touches. A stage's output is named after the stage."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or project_root()
        self.raw = self.root / "data" / "raw"  # world (sim) or the user's MIND files
        self.canonical = self.root / "data" / "canonical"  # ingest
        self.collected = self.root / "data" / "collected"  # collect: served traffic as canonical tables
        self.features = self.root / "data" / "features"  # features
        self.reports = self.root / "reports"
        self.feature_repo = self.root / "feature_repo"
        self.online = self.root / "data" / "feast"  # the online stores (registry, online.db), `current` in service
        self.feast = self.reports / "feast.json"  # feast: the store it built and put in service
        self.trainset = self.root / "data" / "trainset" / "trainset.parquet"  # trainset
        self.mlflow = self.root / "mlruns"
        self.validate = self.reports / "validate.json"
        self.data_docs = self.reports / "data_docs"
        self.train = self.reports / "train.json"
        self.metrics = self.reports / "metrics.json"  # evaluate: the DVC metrics file
        self.evaluate = self.reports / "evaluate.json"
        self.plots = self.reports / "plots"
        self.promote = self.reports / "promote.json"
        self.model_card = self.reports / "model_card.md"
        self.canvas = self.reports / "canvas.md"  # newsrec canvas: the ML canvas with the project's numbers
        self.canvas_words = self.root / "docs" / "canvas.yaml"  # ... and its human parts, which the team edits
        self.ablation = self.reports / "ablation.json"  # newsrec ablation: what each feature group and objective earn
        self.ablation_plot = self.plots / "ablation.png"
        self.package = self.reports / "package.json"
        self.traffic = self.reports / "traffic.json"
        # the served traffic; NEWSREC_PREDICTIONS moves it (benchmarks keep theirs apart)
        self.predictions = Path(os.environ.get("NEWSREC_PREDICTIONS") or self.root / "data" / "predictions")
        self.outcomes = self.predictions.parent / "outcomes"  # clicks on served items, when known
        self.monitor = self.reports / "monitor"  # Evidently HTML and JSON, one folder per run
        self.decision = self.monitor / "decision.json"  # the latest drift decision
        self.decisions = self.monitor / "decisions.jsonl"  # every judged decision, one a line
        self.evidently = self.reports / "evidently"  # the Evidently workspace that `make ui` serves
        self.simulate_data = self.root / "data" / "simulate"  # simulate: the prepared world
        self.simulate = self.reports / "simulate.json"
        self.simulate_plot = self.reports / "simulate.png"
        self.loop = self.reports / "loop.json"  # make loop: the live days through the real stack
        self.loop_plot = self.reports / "loop.png"
        self.run = self.root / ".run"  # pid files and logs of background processes

    def raw_source(self, source: str) -> Path:
        return self.raw / source

    def table(self, name: str) -> Path:
        return self.canonical / f"{name}.parquet"
