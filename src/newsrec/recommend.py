"""A recommendation, free of any web framework: validate a request, assemble its features
with the same on-demand code as training, score, blend with quality, return the top k.

The BentoML service (services/) fetches the user's online features and a cached table of
article features and calls `Ranker.recommend`. The request path works on arrays: the
candidates come as `Candidates`, and the rows for the prediction log leave as `Rows`, laid
out as a frame by the log's writer, many responses at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from newsrec.config import Ranking
from newsrec.features.context import context_arrays
from newsrec.features.request import fill_matrix, floats, request_arrays
from newsrec.features.spec import MODEL_FEATURES, NEWS_COLUMNS, USER_COLUMNS, Candidates
from newsrec.forest import ready
from newsrec.model import predict
from newsrec.predlog import Rows
from newsrec.ranking import blend, popularity, rank_within

ID_MAX = 200  # the longest user or news id a request may carry


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=ID_MAX)
    candidates: list[Annotated[str, Field(min_length=1, max_length=ID_MAX)]] | None = Field(
        None, max_length=500, description="news ids; default: the freshest"
    )
    k: int = Field(10, ge=1, le=100)
    request_time: datetime | None = Field(
        None,
        description="default: now; no earlier than the online store's oldest event, no later than serve.max_future_skew hours ahead",
    )


class BadRequest(ValueError):
    """A request the service refuses (400); the message names the field."""


def check_time(request_time: datetime | None, oldest: datetime | None, now: datetime, max_future_skew_h: float) -> None:
    """Refuse a request_time before the online store's oldest event (nothing to serve it
    from) or more than `max_future_skew_h` hours after the server's clock: either would
    make log partitions of no real day and set a gated drift feature (freshness)."""
    if request_time is None:
        return
    t = request_time if request_time.tzinfo else request_time.replace(tzinfo=UTC)
    if oldest is not None and t < oldest:
        raise BadRequest(
            f"request_time {t.isoformat()} is before the online store's oldest event ({oldest.isoformat()})"
        )
    if (t - now).total_seconds() > max_future_skew_h * 3600:
        raise BadRequest(
            f"request_time {t.isoformat()} is more than {max_future_skew_h:g} h after the server's clock "
            f"({now.isoformat()}; serve.max_future_skew)"
        )


class Item(BaseModel):
    news_id: str
    engagement: float
    quality: float
    score: float


class Recommendation(BaseModel):
    request_id: str  # report clicks against it (the prediction log is keyed by it)
    user_id: str
    items: list[Item]
    model_version: str
    fallback: bool
    fallback_reason: str | None = None
    unknown_candidates: list[str] = []  # not in the online store yet: ranked with the documented defaults
    request_time: datetime
    features_as_of: datetime | None = None  # the online store's last update the features come from


def score_candidates(
    model, defaults: dict[str, float], x: pd.DataFrame, groups, engagement_weight: float, quality_weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Engagement (the model's click probability on the filled inputs), quality (filled the
    same way) and their blend within each list (groups None: one list). The one scoring of
    candidates that serving, the monitoring reference and the simulated days share."""
    values = x[MODEL_FEATURES].to_numpy(np.float64, na_value=np.nan, copy=True)
    return score_matrix(model, defaults, values, groups, engagement_weight, quality_weight)


QUALITY = MODEL_FEATURES.index("news_quality")


def score_matrix(
    model, defaults: dict[str, float], values: np.ndarray, groups, engagement_weight: float, quality_weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`score_candidates` on a float64 matrix of MODEL_FEATURES (filled in place)."""
    filled, _ = fill_matrix(values, defaults)
    engagement = predict(model, filled) if len(filled) else np.zeros(0)
    quality = filled[:, QUALITY].copy()
    return engagement, quality, blend(engagement, quality, groups, engagement_weight, quality_weight)


@dataclass
class Ranker:
    """A model version with what it needs to score: defaults, categories, blend weights."""

    model: object
    version: str
    defaults: dict[str, float]
    engagement_weight: float
    quality_weight: float

    @classmethod
    def of(cls, model, version: str, meta: dict, ranking: Ranking) -> Ranker:
        """A Ranker for a model and the metadata logged with it (its fill values), ready to
        score (newsrec.forest.ready)."""
        ready(model)
        return cls(model, version, meta["defaults"], ranking.engagement_weight, ranking.quality_weight)

    def features(
        self, user: dict | None, news: pd.DataFrame | Candidates, request_time: datetime
    ) -> dict[str, np.ndarray]:
        """Per candidate: user features, article features, request features (arrays)."""
        n = len(news)
        x = {c: np.asarray(news[c]) for c in NEWS_COLUMNS}
        for c in USER_COLUMNS:
            v = user.get(c) if user else None
            if v is not None and hasattr(v, "__len__"):  # a vector: the same object for every row
                x[c] = np.empty(n, dtype=object)
                x[c].fill(v)
            else:
                x[c] = np.full(n, np.nan if v is None else float(v))
        x["request_time"] = np.full(n, request_time.timestamp())
        x |= request_arrays(x)
        return x | context_arrays(x)  # the request is one impression

    def recommend(
        self,
        req: RecommendRequest,
        user: dict | None,
        news: pd.DataFrame | Candidates,
        unknown: list[str],
        features_as_of: datetime | None = None,
        why_no_user: str | None = None,
    ) -> tuple[Recommendation, Rows]:
        """Rank `news` (the candidates' article features, indexed by news_id; missing values
        where the store has none) for the request; also return the scored rows for the
        prediction log. Without the user's features (`why_no_user` says why, if not that the
        reader is new) the fallback ranking answers."""
        now = req.request_time or datetime.now(UTC)
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        x = self.features(user, news, now)
        values = (
            np.column_stack([floats(x[c]) for c in MODEL_FEATURES]) if len(news) else np.zeros((0, len(MODEL_FEATURES)))
        )
        logged = values.copy()  # as served, before the defaults fill the gaps
        if user is None:  # a new reader: no history to personalise on
            filled, _ = fill_matrix(values, self.defaults)
            quality = filled[:, QUALITY].copy()
            clicks, imps = (filled[:, MODEL_FEATURES.index(c)] for c in ("news_clicks_1d", "news_imps_1d"))
            pop = popularity(clicks, imps)  # the evaluation baseline's
            engagement = pop / max(pop.max(initial=0.0), 1.0)
            score = blend(engagement, quality, None, self.engagement_weight, self.quality_weight)
            reason = why_no_user or "unknown user: ranked by quality and popularity"
        else:
            engagement, quality, score = score_matrix(
                self.model, self.defaults, values, None, self.engagement_weight, self.quality_weight
            )
            reason = None
        rank = rank_within(np.nan_to_num(score, nan=-np.inf)).astype(np.int64)
        order = np.empty(len(rank), dtype=np.int64)
        order[rank - 1] = np.arange(len(rank))  # the inverse of the ranks: no second sort
        order = order[: req.k]
        request_id = uuid.uuid4().hex
        ids = np.asarray(news.index, dtype=object)
        items = [
            Item(
                news_id=str(ids[i]),
                engagement=float(engagement[i]),
                quality=float(quality[i]),
                score=float(score[i]),
            )
            for i in order
        ]
        scored = Rows(
            {
                **{c: logged[:, i] for i, c in enumerate(MODEL_FEATURES)},
                "news_id": ids,
                "engagement": engagement,
                "quality": quality,
                "score": score,
                "rank": rank,
                "shown": rank <= req.k,
                "request_id": request_id,
                "user_id": req.user_id,
                "request_time": pd.Timestamp(now),
                "model_version": self.version,
                "fallback": user is None,
                "features_as_of": _utc(features_as_of),  # NaT when unknown
            },
            len(news),
        )
        return Recommendation(
            request_id=request_id,
            user_id=req.user_id,
            items=items,
            model_version=self.version,
            fallback=user is None,
            fallback_reason=reason,
            unknown_candidates=unknown,
            request_time=now,
            features_as_of=features_as_of,
        ), scored


def _utc(t: datetime | None) -> pd.Timestamp:
    """`t` in UTC, in nanoseconds (naive: taken as UTC); NaT for None."""
    if t is None:
        return pd.NaT
    t = pd.Timestamp(t)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("ns")
