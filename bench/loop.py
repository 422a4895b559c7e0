"""Live days through the real stack (`make loop`): seconds per live day split by part, days
with a retrain and days without one apart, next to the same days simulated in process
(`make simulate`'s drift policy on the loop's world, the floor: the same ranking, metrics
and Evidently judgement without HTTP, Feast, DVC or Prefect), in one run. Evidently is
imported before the first live day, as the simulated days find it.

Usage: python bench/loop.py [DAYS [SHOCK_DAY]]   (default 3 1: a shock on the second day)
       python bench/loop.py --report             (read the last reports/loop.json instead)
Target: a day without a retrain costs at most 3x a simulated policy-day.
"""

from __future__ import annotations

import json
import os
import sys

from common import ROOT, save_result

PARTS = {
    "advance": "moving the online store forward, hour by hour, until the service reads it:",
    "collect": "  collecting the log since the last move",
    "build": "  building the feature rows of the hour",
    "push": "  pushing them to Feast's online store",
    "pickup": "  until every worker reads the move",
    "requests": "the readers' requests",
    "log": "waiting for the service's prediction log",
    "monitor": "the monitor flow (Evidently reports, the drift gate, the event)",
    "retrain": "the retrain flow (collect, features, training set, train, evaluate, gate)",
    "deploy": "its deploy subflow (package, hot swap)",
    "night": "from the event to the retrain's end (the above two and the trigger's latency)",
    "day": "the whole live day",
}


def run(days: int, shock_day: int) -> dict:
    os.environ.setdefault("NEWSREC_ROOT", str(ROOT))
    from newsrec.bootstrap import context
    from newsrec.stages.ui import ui, url

    ui(context().paths, ["prefect"])  # the server the drift event goes to, as `make loop` starts it
    # Evidently's modules take about 6 s to import. The simulated days run later in this
    # process and find them imported, so the live days do too: without this the first
    # night alone paid the process's start-up, which no simulated day pays.
    import monitoring.reports  # noqa: F401

    os.environ["PREFECT_API_URL"] = url("prefect") + "/api"
    from flows.loop import loop

    return loop(days=days, scenario="interest_shock", shock_day=shock_day)


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def report(r: dict) -> dict:
    days = r["policies"]["drift"]
    groups = {
        "without a retrain": [d for d in days if not d["retrained"]],
        "with a retrain": [d for d in days if d["retrained"]],
    }
    floor = r["simulated"]["seconds_per_day"]
    readers = mean([d["requests"] for d in days])
    print(
        f"{len(days)} live days of {r['scenario']} (shock on day {r['shock_day']}), {readers:,.0f} readers a day, one run"
    )
    print(f"  {'part':>9} " + " ".join(f"{k + f' ({len(v)})':>22}" for k, v in groups.items()))
    table = {}
    for part, what in PARTS.items():
        row = {
            k: mean([(d["seconds"] | d.get("advance_seconds", {})).get(part, 0.0) for d in v])
            for k, v in groups.items()
        }
        table[part] = row
        print(f"  {part:>9} " + " ".join(f"{x:20.1f} s" for x in row.values()) + f"   {what}")
    plain, retrain = table["day"]["without a retrain"], table["day"]["with a retrain"]
    print(f"  the same days simulated in process: {floor:.2f} s per policy-day (Evidently judgement included)")
    print(f"  a live day without a retrain: {plain / floor:.1f}x a simulated policy-day (target: at most 3x)")
    print(f"  a retrain day costs {retrain - plain:+.1f} s more than one without ({retrain / plain:.1f}x)")
    return {"parts": table, "simulated_policy_day": floor, "ratio": plain / floor, "retrain_extra": retrain - plain}


def main() -> None:
    if sys.argv[1:2] == ["--report"]:
        r = json.loads((ROOT / "reports" / "loop.json").read_text())
    else:
        a = [int(x) for x in sys.argv[1:3]]
        r = run(a[0] if a else 3, a[1] if len(a) > 1 else 1)
    save_result("loop", report(r))


if __name__ == "__main__":
    main()
