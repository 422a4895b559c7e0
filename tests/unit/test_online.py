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
    assert np.isnan(news["news_ctr"][1]) and news["news_ctr"][2] == 0.1 and news["first_seen_ts"][0] == 20.0


def test_lookup_gives_what_a_reindex_of_the_table_gives():
    """The arrays a request gets are the table reindexed by its candidates, column by
    column, whatever mix of known, unknown and repeated ids it asks for."""
    table = TABLE.assign(news_emb=pd.Series([[1.0, 0.0], None, [0.5, 0.5]], index=TABLE.index, dtype=object))
    s = Snapshot(("s", 0), store=None, as_of=None, table=table, freshest_n=2)
    rng = np.random.default_rng(0)
    for _ in range(30):
        asked = rng.choice(["N1", "N2", "N3", "N8", "N9"], int(rng.integers(0, 8))).tolist()
        news, unknown = s.lookup(asked)
        want = table.reindex(list(dict.fromkeys(asked)))
        assert news.index.tolist() == want.index.tolist() and unknown == [i for i in want.index if i not in table.index]
        for c in table.columns:
            pd.testing.assert_series_equal(
                pd.Series(news[c], index=want.index, name=c, dtype=want[c].dtype), want[c], check_dtype=True
            )
