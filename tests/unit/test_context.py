"""The impression context (features.context), worked by hand, and the one function of
training (every impression of a frame at once) equal to serving's (one request at a time)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from newsrec.features.context import context_arrays, impression_context
from newsrec.features.spec import CONTEXT


def test_ranks_and_gaps_by_hand():
    x = {
        "freshness_hours": np.array([5.0, 1.0, np.nan, 1.0, 3.0]),
        "news_clicks_1d": np.array([2.0, 7.0, 7.0, np.nan, 0.0]),
        "news_imps_1d": np.array([10.0, 20.0, 30.0, 5.0, 1.0]),
    }
    got = context_arrays(x)
    # freshest first, ties share the best rank; an article without an age has none
    np.testing.assert_array_equal(got["fresh_rank"], [4, 1, np.nan, 1, 3])
    np.testing.assert_array_equal(got["fresh_gap"], [4.0, 0.0, np.nan, 0.0, 2.0])
    # the popularity baseline: clicks, ties broken by impressions (30 > 20, 5 > 1); missing clicks are 0
    np.testing.assert_array_equal(got["pop_rank"], [3, 2, 1, 4, 5])  # 0 clicks: 5 impressions before 1
    np.testing.assert_array_equal(got["pop_gap"], [5.0, 0.0, 0.0, 7.0, 7.0])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_frame_of_impressions_gets_what_each_request_alone_gets(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    frame = pd.DataFrame(
        {
            "impression_id": rng.integers(0, 6, n),
            "freshness_hours": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 5, n).astype(float)),
            "news_clicks_1d": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 4, n).astype(float)),
            "news_imps_1d": rng.integers(0, 9, n).astype(float),
        },
        index=rng.permutation(n) + 100,
    )
    whole = impression_context(frame)
    assert list(whole.columns) == CONTEXT and whole.index.equals(frame.index)
    for _, one in frame.groupby("impression_id"):
        alone = context_arrays({c: one[c].to_numpy() for c in ("freshness_hours", "news_clicks_1d", "news_imps_1d")})
        np.testing.assert_array_equal(whole.loc[one.index].to_numpy(), np.column_stack([alone[c] for c in CONTEXT]))
