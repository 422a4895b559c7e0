"""`newsrec traffic`: replay labeled impressions of the last day against the running
service and record the clicks of what it showed (data/outcomes, reports/traffic.json), so
that monitoring has a window with known outcomes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

import pandas as pd

from newsrec.config import Paths
from newsrec.console import Say, progress
from newsrec.data.canonical import read_table
from newsrec.data.io import write_json
from newsrec.predlog import write_outcomes
from newsrec.replay import replay, requests_from


@dataclass(frozen=True)
class Traffic:
    """reports/traffic.json"""

    requests: int
    days: list[str]
    shown: int
    ctr: float


def client(url: str):
    """POST /recommend on the service at `url`; a service that does not answer is named."""

    def recommend(req: dict) -> dict:
        r = urllib.request.Request(
            f"{url}/recommend", data=json.dumps(req).encode(), headers={"content-type": "application/json"}
        )
        try:
            return json.loads(urllib.request.urlopen(r, timeout=60).read())
        except urllib.error.URLError as e:
            raise ValueError(f"{url}: the service does not answer ({e}); start it with `make serve`") from None

    return recommend


def traffic(paths: Paths, url: str, requests: int = 500, seed: int = 0, say: Say | None = None) -> Traffic:
    """Send `requests` impressions of the last day to the service at `url`."""
    say = say or progress("traffic")
    imps = read_table(paths.table("impressions"))
    step = max(requests // 10, 1)
    out = replay(
        requests_from(imps, requests, seed=seed),
        client(url),
        lambda i: say(f"{i:,}/{requests:,} requests") if i % step == 0 else None,
    )
    write_outcomes(paths.outcomes, out)
    days = sorted(pd.to_datetime(out["request_time"], utc=True).dt.strftime("%Y-%m-%d").unique().tolist())
    result = Traffic(int(out["request_id"].nunique()), days, len(out), float(out["clicked"].mean()))
    write_json(paths.traffic, asdict(result))
    say(
        f"{result.requests:,} responses, {result.shown:,} shown items, CTR {result.ctr:.3f}; "
        f"outcomes -> {paths.outcomes}; the service logs to {paths.predictions}"
    )
    return result
