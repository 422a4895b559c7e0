"""Traffic from logged impressions: each labeled impression becomes a request (its user,
its candidates, its time), and the clicks the reader gave are the outcome of whatever the
service showed. Used by `newsrec traffic` (over HTTP) and by the simulated days (in process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd


def requests_from(
    imps: pd.DataFrame, n: int, seed: int = 0, last_days: int | None = 1
) -> Iterator[tuple[dict, dict[str, int]]]:
    """Up to n requests drawn from the labeled impressions of the last days, in time order;
    each with the clicks of its candidates ({news_id: 0/1})."""
    imps = imps[imps["clicked"].notna()]
    if last_days:
        cut = imps["time"].max().normalize() - pd.Timedelta(days=last_days - 1)
        imps = imps[imps["time"] >= cut]
    ids = imps["impression_id"].unique()
    rng = np.random.default_rng(seed)
    pick = set(rng.choice(ids, min(n, len(ids)), replace=False).tolist())
    chosen = imps[imps["impression_id"].isin(pick)].sort_values(["time", "impression_id", "position"])
    for _, g in chosen.groupby("impression_id", sort=False):
        req = {
            "user_id": str(g["user_id"].iloc[0]),
            "candidates": g["news_id"].astype(str).tolist(),
            "k": 10,
            "request_time": g["time"].iloc[0].isoformat(),
        }
        yield req, dict(zip(g["news_id"].astype(str), g["clicked"].astype(int)))


def outcomes(response: dict, clicks: dict[str, int]) -> pd.DataFrame:
    """The reader's clicks on the items the response showed."""
    shown = [i["news_id"] for i in response["items"]]
    return pd.DataFrame(
        {
            "request_id": response["request_id"],
            "news_id": shown,
            "clicked": [clicks.get(n, 0) for n in shown],
            "request_time": pd.Timestamp(response["request_time"]),
        }
    )


def replay(
    requests: Iterator[tuple[dict, dict[str, int]]],
    recommend: Callable[[dict], dict],
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Send every request through `recommend` and collect the outcomes of what was shown."""
    parts = []
    for i, (req, clicks) in enumerate(requests, 1):
        parts.append(outcomes(recommend(req), clicks))
        if progress:
            progress(i)
    return (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["request_id", "news_id", "clicked", "request_time"])
    )
