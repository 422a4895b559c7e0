"""The economics of retraining policies, against numbers worked by hand."""

from __future__ import annotations

import pytest

from newsrec.config import Economics
from newsrec.economics import break_even, economics, totals, verdict

C = Economics(value_per_click=0.1, cost_per_compute_hour=36.0, cost_per_unclicked=0.01, cost_per_low_quality_click=0.5)


def day(shown, clicks, low, quality, seconds=0.0) -> dict:
    return {
        "shown": shown,
        "clicks": clicks,
        "low_quality_clicks": low,
        "quality@10": quality,
        "retrain_seconds": seconds,
    }


NEVER = [day(100, 10, 2, 0.5), day(100, 10, 2, 0.7)]
DRIFT = [day(100, 10, 2, 0.5, 100.0), day(100, 30, 3, 0.8)]


def test_totals_weigh_quality_by_what_was_shown():
    t = totals([day(100, 10, 2, 0.5), day(300, 10, 2, 0.9)])
    assert t["shown"] == 400 and t["clicks"] == 20 and t["low_quality_clicks"] == 4
    assert t["quality@10"] == pytest.approx((0.5 * 100 + 0.9 * 300) / 400)


def test_a_policy_priced_against_the_static_one():
    e = economics({"never": NEVER, "drift": DRIFT}, C)
    never, drift = e["policies"]["never"], e["policies"]["drift"]
    # never: value 0.1 * 20 = 2; wrong 0.01 * 180 + 0.5 * 4 = 3.8; compute 0; net -1.8
    assert never["value"] == pytest.approx(2.0)
    assert never["wrong_prediction_cost"] == pytest.approx(3.8)
    assert never["net"] == pytest.approx(-1.8)
    assert "net_gain" not in never
    # drift: value 0.1 * 40 = 4; wrong 0.01 * 160 + 0.5 * 5 = 4.1; compute 36 * 100 / 3600 = 1; net -1.1
    assert drift["compute_cost"] == pytest.approx(1.0)
    assert drift["net"] == pytest.approx(-1.1)
    assert drift["net_gain"] == pytest.approx(0.7)
    assert drift["clicks_gained"] == 20
    assert drift["quality_gained"] == pytest.approx(0.65 - 0.6)
    # at a value v per click: net_drift - net_never = 20 v - (4.1 + 1.0 - 3.8) = 20 v - 1.3, zero at v = 0.065
    assert drift["break_even_value_per_click"] == pytest.approx(0.065)
    assert drift["pays_off"] == "above"
    assert e["baseline"] == "never"


def test_break_even_cases():
    base = totals(NEVER)
    cheap = totals([day(100, 10, 2, 0.5), day(100, 30, 2, 0.8)])  # more clicks and fewer wrong predictions
    assert break_even(cheap, base, C) == (0.0, "always")
    fewer = totals([day(100, 5, 0, 0.5), day(100, 10, 0, 0.8)])  # fewer clicks, but 4 fewer low-quality ones
    v, when = break_even(fewer, base, C)
    # at v: 15 v - (0.01 * 185) vs 20 v - 3.8  ->  the policy wins while 5 v < 3.8 - 1.85 = 1.95: v < 0.39
    assert when == "below" and v == pytest.approx(0.39)
    same = totals([day(100, 10, 2, 0.5, 3600.0), day(100, 10, 2, 0.7)])
    assert break_even(same, base, C) == (None, "never")


def test_the_verdict_names_the_policy_and_the_value():
    line = verdict(economics({"never": NEVER, "drift": DRIFT}, C))
    assert line.startswith("drift pays off best: +0.70 net against never")
    assert "from 0.06500 per click" in line
    cheap = economics({"never": NEVER, "drift": DRIFT}, C.model_copy(update={"value_per_click": 0.01}))
    assert "no policy pays off against never at 0.01 per click (the best, drift: -1.10 net; +20 clicks" in verdict(
        cheap
    )
    assert economics({"drift": DRIFT}, C)["baseline"] is None
