"""Which live day `newsrec traffic` lives when it is not told: the first one the pipeline has
not trained on, read from the time the built store is up to date with."""

from __future__ import annotations

import pandas as pd
import pytest

from newsrec.stages.traffic import days_into

START = pd.Timestamp("2026-11-09", tz="UTC")


@pytest.mark.parametrize(
    ("as_of", "days"),
    [
        ("2026-11-07T00:00:00", 0),  # built on the logged days only
        ("2026-11-09T00:00:00", 0),  # up to the first live day: it is still to live
        ("2026-11-10T00:00:00", 1),  # live day 0 served and collected: live day 1 next
        ("2026-11-12T00:00:00", 3),
        ("2026-11-10T05:00:00", 2),  # part of live day 1 in the store: the next whole day
    ],
)
def test_the_next_live_day_is_the_first_the_store_has_not_begun(as_of, days):
    assert days_into(pd.Timestamp(as_of, tz="UTC"), START) == days
