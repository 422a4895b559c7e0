"""A recommendation, free of any web framework: validate a request, assemble its features
with the same on-demand code as training, score, blend with quality, return the top k.

The BentoML service (services/) fetches the user's online features and a cached table of
article features and calls `Ranker.recommend`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from newsrec.config import Ranking
from newsrec.features.request import fill_defaults, request_features
from newsrec.features.spec import MODEL_FEATURES, NEWS_COLUMNS, USER_COLUMNS
from newsrec.model import predict
from newsrec.ranking import blend, popularity, rank_within


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=200)
    candidates: list[str] | None = Field(None, max_length=500, description="news ids; default: the freshest")
    k: int = Field(10, ge=1, le=100)
    request_time: datetime | None = None


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
    filled, _ = fill_defaults(x, defaults)
    engagement = predict(model, filled) if len(filled) else np.zeros(0)
    quality = filled["news_quality"].to_numpy()
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
        """A Ranker for a model and the metadata logged with it (its fill values)."""
        return cls(model, version, meta["defaults"], ranking.engagement_weight, ranking.quality_weight)

    def features(self, user: dict | None, news: pd.DataFrame, request_time: datetime) -> pd.DataFrame:
        """One row per candidate: user features, article features, request features."""
        n = len(news)
        x = pd.DataFrame(
            {
                **{c: news[c].to_numpy() for c in NEWS_COLUMNS},
                **{c: [user.get(c) if user else None] * n for c in USER_COLUMNS},
                "request_time": np.full(n, request_time.timestamp()),
            },
            index=news.index,
        )
        return pd.concat([x, request_features(x)], axis=1)

    def recommend(
        self,
        req: RecommendRequest,
        user: dict | None,
        news: pd.DataFrame,
        unknown: list[str],
        features_as_of: datetime | None = None,
    ) -> tuple[Recommendation, pd.DataFrame]:
        """Rank `news` (the candidates' article features, indexed by news_id; missing values
        where the store has none) for the request; also return the scored rows for the
        prediction log."""
        now = req.request_time or datetime.now(UTC)
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        x = self.features(user, news, now)
        if user is None:  # a new reader: no history to personalise on
            filled, _ = fill_defaults(x, self.defaults)
            quality = filled["news_quality"].to_numpy()
            pop = popularity(filled["news_clicks_1d"], filled["news_imps_1d"])  # the evaluation baseline's
            engagement = pop / max(pop.max(initial=0.0), 1.0)
            score = blend(engagement, quality, None, self.engagement_weight, self.quality_weight)
            reason = "unknown user: ranked by quality and popularity"
        else:
            engagement, quality, score = score_candidates(
                self.model, self.defaults, x, None, self.engagement_weight, self.quality_weight
            )
            reason = None
        rank = rank_within(np.nan_to_num(score, nan=-np.inf)).astype(np.int64)
        order = np.empty(len(rank), dtype=np.int64)
        order[rank - 1] = np.arange(len(rank))  # the inverse of the ranks: no second sort
        order = order[: req.k]
        request_id = uuid.uuid4().hex
        items = [
            Item(
                news_id=str(news.index[i]),
                engagement=float(engagement[i]),
                quality=float(quality[i]),
                score=float(score[i]),
            )
            for i in order
        ]
        scored = pd.DataFrame(
            {
                **{c: x[c].to_numpy(np.float64, na_value=np.nan) for c in MODEL_FEATURES},
                "news_id": news.index.to_numpy(),
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
                "features_as_of": pd.to_datetime([features_as_of] * len(news), utc=True),  # NaT when unknown
            }
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
