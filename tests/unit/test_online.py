"""The service's view of one online store (adapters.feast.Snapshot), without Feast: which
rows a request gets, and the ids the store does not hold yet."""

import numpy as np
import pandas as pd

from newsrec.adapters.feast import Snapshot

TABLE = pd.DataFrame(
    {"first_seen_ts": [10.0, 30.0, 20.0], "news_ctr": [0.1, 0.2, 0.3]},
    index=pd.Index(["N1", "N2", "N3"], name="news_id"),
)


def snap(n: int = 2) -> Snapshot:
    return Snapshot(("s", 0), store=None, as_of=pd.Timestamp("2026-11-09", tz="UTC"), table=TABLE, freshest_n=n)


def test_no_candidates_gives_the_freshest_n():
    news, unknown = snap(2).lookup(None)
    assert news.index.tolist() == ["N2", "N3"] and unknown == []


def test_candidates_keep_their_order_once_and_unknown_ones_get_missing_features():
    news, unknown = snap().lookup(["N3", "N9", "N1", "N3"])
    assert news.index.tolist() == ["N3", "N9", "N1"] and unknown == ["N9"]
    assert np.isnan(news.loc["N9", "news_ctr"]) and news.loc["N1", "news_ctr"] == 0.1
