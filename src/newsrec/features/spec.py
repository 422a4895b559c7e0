"""The one declaration of the model's features: which feature table and Feast view holds
each column, its type, its entity key and time to live, and which columns the model reads.

The Feast definitions (feature_repo/), the training set, the pandas as-of join, serving
and monitoring all derive their column lists from here; a test fails if Feast's
FeatureService and this declaration diverge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# dtypes: "int64", "float64" (scalars) and "float32[]" (a vector)


@dataclass(frozen=True)
class View:
    """A feature table (data/features/<table>.parquet) and the Feast view that serves it."""

    name: str  # the Feast feature view
    table: str  # the feature table the `features` stage writes
    key: str  # the entity's join key
    ttl: timedelta
    columns: dict[str, str]  # column -> dtype, in table order
    model: tuple[str, ...] = ()  # the columns the model reads directly (the rest feed the request features)


USER_VIEW = View(
    "user_features",
    "users",
    "user_id",
    timedelta(days=7),
    {
        "history_len": "int64",
        "user_imps_1d": "int64",
        "user_clicks_1d": "int64",
        "user_imps_7d": "int64",
        "user_clicks_7d": "int64",
        "user_cands_7d": "int64",  # candidates shown to the user over 7 days (user_ctr's denominator)
        "user_aff": "float32[]",
        "user_emb": "float32[]",
        "user_cat_hist": "float32[]",  # per category: the history's clicks (of the articles the news table describes)
        "user_cat_clicks_1d": "float32[]",  # per category: the user's clicks over the last day
        "user_cat_imps_1d": "float32[]",  # per category: candidates shown to the user over the last day
    },
    model=("history_len", "user_imps_1d", "user_clicks_1d", "user_imps_7d", "user_clicks_7d", "user_cands_7d"),
)
META_VIEW = View(
    "news_meta",
    "news_meta",
    "news_id",
    timedelta(days=30),
    {"category_idx": "int64", "first_seen_ts": "float64", "news_emb": "float32[]"},
    model=("category_idx",),
)
STATS_VIEW = View(
    "news_stats",
    "news_stats",
    "news_id",
    timedelta(days=2),
    {
        "news_imps": "int64",
        "news_clicks": "int64",
        "news_imps_1d": "int64",
        "news_clicks_1d": "int64",
        "news_imps_6h": "int64",
        "news_clicks_6h": "int64",
        "news_imps_1h": "int64",
        "news_clicks_1h": "int64",
        "news_ctr": "float64",
        "news_ctr_6h": "float64",  # smoothed towards every article's CTR, as news_ctr
        "news_ctr_1h": "float64",
        "news_quality": "float64",
    },
    model=(
        "news_imps",
        "news_clicks",
        "news_imps_1d",
        "news_clicks_1d",
        "news_imps_6h",
        "news_clicks_6h",
        "news_imps_1h",
        "news_clicks_1h",
        "news_ctr",
        "news_ctr_6h",
        "news_ctr_1h",
        "news_quality",
    ),
)
VIEWS: tuple[View, ...] = (USER_VIEW, META_VIEW, STATS_VIEW)

# the on-demand view: computed from the views above and the request time (epoch seconds)
ON_DEMAND = "request_features"
REQUEST_INPUT = {"request_time": "float64"}
REQUEST_FEATURES = {
    "freshness_hours": "float64",
    "category_affinity": "float64",
    "content_similarity": "float64",
    "user_ctr": "float64",  # the user's clicks per candidate shown over 7 days, smoothed
    "category_clicks_1d": "float64",  # the user's clicks in the article's category over the last day
    "category_ctr_1d": "float64",  # ... per candidate of that category shown, smoothed towards user_ctr
    "category_elog": "float64",  # E[log share of the category] under a Dirichlet posterior: history + last day
}
# the impression context: computed over the candidates of one impression (a request), by
# newsrec.features.context in training and in serving alike
CONTEXT_FEATURES = {
    "fresh_rank": "float64",  # 1: the freshest candidate of the impression
    "fresh_gap": "float64",  # hours older than the impression's freshest candidate
    "pop_rank": "float64",  # 1: the most clicked candidate over the last day
    "pop_gap": "float64",  # clicks over the last day fewer than the impression's most clicked
}

SERVICE = "ranker_v1"  # the FeatureService: the contract between the model and its features
SERVICE_VERSION = "2"

USER = list(USER_VIEW.model)
NEWS = list(META_VIEW.model) + list(STATS_VIEW.model)
REQUEST = list(REQUEST_FEATURES)
CONTEXT = list(CONTEXT_FEATURES)
MODEL_FEATURES = USER + NEWS + REQUEST + CONTEXT  # the model's inputs, in the order it reads them
USER_COLUMNS = list(USER_VIEW.columns)  # what serving reads per request from the online store
NEWS_COLUMNS = list(META_VIEW.columns) + list(STATS_VIEW.columns)  # what the article cache holds


@dataclass(frozen=True)
class Candidates:
    """A request's candidate articles as the article cache gives them: their ids (`index`)
    and each column as an array, in that order. What a frame indexed by news_id gives the
    ranker, without the frame (reindexing the table and reading its columns cost a request
    about 1 ms)."""

    index: object  # an array of news ids
    columns: dict[str, object]  # column -> array, a value per candidate

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, column: str):
        return self.columns[column]


def view(table: str) -> View:
    """The view of a feature table by the table's name."""
    return next(v for v in VIEWS if v.table == table)


# what each model input describes, for the ablation (`make ablation`: the test nDCG@10 with a
# group removed); every input is in exactly one group
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "user": (
        "history_len",
        "user_imps_1d",
        "user_clicks_1d",
        "user_imps_7d",
        "user_clicks_7d",
        "user_cands_7d",
        "user_ctr",
        "category_affinity",
        "category_clicks_1d",
        "category_ctr_1d",
        "category_elog",
    ),
    "article": (
        "category_idx",
        "news_imps",
        "news_clicks",
        "news_imps_1d",
        "news_clicks_1d",
        "news_ctr",
        "news_quality",
    ),
    "time": (
        "freshness_hours",
        "news_imps_6h",
        "news_clicks_6h",
        "news_imps_1h",
        "news_clicks_1h",
        "news_ctr_6h",
        "news_ctr_1h",
    ),
    "content": ("content_similarity",),
    "impression context": tuple(CONTEXT_FEATURES),
}
