"""What each retraining policy is worth: the clicks and quality it gains over a baseline
policy (the static model), the compute it spends retraining, and its net value under a cost
model (params simulate.economics):

    net = value_per_click * clicks
          - cost_per_unclicked * (shown - clicks) - cost_per_low_quality_click * low-quality clicks
          - cost_per_compute_hour * retraining hours

Any policy can be made to pay off by the choice of those values, so each policy also gets
its break-even value per click: the value at which its net equals the baseline's.
"""

from __future__ import annotations

from newsrec.config import Economics

COUNTS = ("shown", "clicks", "low_quality_clicks", "retrain_seconds")


def totals(days: list[dict]) -> dict[str, float]:
    """A policy's days summed: items shown, clicks on them, clicks on low-quality items,
    seconds spent retraining; and the mean true quality of what was shown."""
    t = {k: float(sum(d.get(k, 0.0) for d in days)) for k in COUNTS}
    shown = t["shown"]
    t["quality@10"] = sum(d["quality@10"] * d["shown"] for d in days) / shown if shown else float("nan")
    return t


def net_value(t: dict[str, float], c: Economics, value_per_click: float | None = None) -> dict[str, float]:
    """The value of a policy's totals and what its wrong predictions and compute cost."""
    v = c.value_per_click if value_per_click is None else value_per_click
    value = v * t["clicks"]
    wrong = c.cost_per_unclicked * (t["shown"] - t["clicks"]) + c.cost_per_low_quality_click * t["low_quality_clicks"]
    compute = c.cost_per_compute_hour * t["retrain_seconds"] / 3600
    return {"value": value, "wrong_prediction_cost": wrong, "compute_cost": compute, "net": value - wrong - compute}


def break_even(t: dict[str, float], base: dict[str, float], c: Economics) -> tuple[float | None, str]:
    """The value per click at which the policy's net equals the baseline's, and when it pays
    off: `above` (or `below`) that value, `always` or `never`."""
    gained = t["clicks"] - base["clicks"]
    costs = {k: net_value(x, c, 0.0) for k, x in (("p", t), ("b", base))}
    extra = -(costs["p"]["net"] - costs["b"]["net"])  # what the policy costs beyond the baseline, clicks aside
    if gained == 0:
        return None, "always" if extra < 0 else "never"
    v = extra / gained
    if gained > 0:
        return max(v, 0.0), "always" if v <= 0 else "above"
    return (v, "below") if v > 0 else (None, "never")


def economics(policies: dict[str, list[dict]], c: Economics, baseline: str = "never") -> dict:
    """The economics block: per policy its totals, value, costs and net; against `baseline`
    (when it is among the policies) the clicks and quality gained, the net gain and the
    break-even value per click."""
    t = {name: totals(days) for name, days in policies.items()}
    base = t.get(baseline)
    out: dict = {"baseline": baseline if base else None, "cost_model": c.model_dump(), "policies": {}}
    for name, x in t.items():
        e = x | net_value(x, c)
        if base is not None and name != baseline:
            v, when = break_even(x, base, c)
            e |= {
                "clicks_gained": x["clicks"] - base["clicks"],
                "quality_gained": x["quality@10"] - base["quality@10"],
                "net_gain": e["net"] - net_value(base, c)["net"],
                "break_even_value_per_click": v,
                "pays_off": when,
            }
        out["policies"][name] = e
    return out


def verdict(block: dict) -> str:
    """One line: which policy pays off best against the baseline, by how much, from which
    value per click."""
    c = block["cost_model"]
    rows = {n: e for n, e in block["policies"].items() if "net_gain" in e}
    if not rows:
        return "no policy to compare with a baseline"
    name, e = max(rows.items(), key=lambda kv: kv[1]["net_gain"])
    spent = f"{e['clicks_gained']:+,.0f} clicks, quality@10 {e['quality_gained']:+.4f}, {e['retrain_seconds']:.0f} s retraining"
    if e["net_gain"] <= 0:
        return (
            f"no policy pays off against {block['baseline']} at {c['value_per_click']} per click "
            f"(the best, {name}: {e['net_gain']:+.2f} net; {spent})"
        )
    when = {
        "always": "at any value per click",
        "above": f"from {e['break_even_value_per_click']:.5f} per click",
        "below": f"below {e['break_even_value_per_click']:.5f} per click",
    }.get(e["pays_off"], "")
    return (
        f"{name} pays off best: {e['net_gain']:+.2f} net against {block['baseline']} at {c['value_per_click']} per click "
        f"({spent}), {when}"
    )
