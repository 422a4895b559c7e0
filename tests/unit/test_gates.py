"""The promotion gate is a pure decision with readable reasons."""

from newsrec.config import Promote
from newsrec.gates import promotion_decision, success_decision

POP = {"ndcg@10": 0.40}


def test_first_model_needs_only_to_beat_popularity():
    d = promotion_decision({"ndcg@10": 0.50}, None, POP, Promote())
    assert d.ok and "beats popularity" in d.reasons[0] and "no champion yet" in d.reasons[1]
    assert not promotion_decision({"ndcg@10": 0.39}, None, POP, Promote()).ok


def test_must_beat_champion_by_the_margin():
    p = Promote(min_gain_over_champion=0.01)
    assert not promotion_decision({"ndcg@10": 0.505}, {"ndcg@10": 0.50}, POP, p).ok
    d = promotion_decision({"ndcg@10": 0.52}, {"ndcg@10": 0.50}, POP, p)
    assert d.ok and "gain +0.0200" in d.reasons[1]


def test_beating_champion_is_not_enough_without_beating_popularity():
    d = promotion_decision({"ndcg@10": 0.35}, {"ndcg@10": 0.30}, POP, Promote())
    assert not d.ok and "does not beat popularity" in d.reasons[0]


def test_missing_metric_is_refused():
    d = promotion_decision({"ndcg@10": float("nan")}, None, POP, Promote())
    assert not d.ok and "no ndcg@10" in d.reasons[0]


def test_other_metric_from_params():
    d = promotion_decision({"auc": 0.7, "ndcg@10": 0.1}, None, {"auc": 0.6, "ndcg@10": 0.4}, Promote(metric="auc"))
    assert d.ok


def test_a_rolled_back_version_is_refused_whatever_its_metrics():
    d = promotion_decision({"ndcg@10": 0.9}, {"ndcg@10": 0.1}, POP, Promote(), rolled_back="champion moved back to v1")
    assert not d.ok
    assert d.reasons == [
        "this version was rolled back (champion moved back to v1): only a person promotes it again "
        "(--allow-rolled-back)"
    ]
    assert promotion_decision({"ndcg@10": 0.9}, {"ndcg@10": 0.1}, POP, Promote(), rolled_back="").ok


REALISED = {
    "blend": {"ctr@10": 0.09, "quality@10": 0.63},
    "popularity": {"ctr@10": 0.10, "quality@10": 0.60},
}


def test_success_criteria_are_relative_changes_against_popularity():
    # ctr -10% (needs -10%: holds at the edge), quality +5% (needs +5%: holds)
    d = success_decision(REALISED, Promote(success={"ctr@10": -0.10, "quality@10": 0.05}))
    assert d.ok, d.reasons
    assert d.reasons[0].startswith("success: ctr@10 of the blend 0.0900 vs popularity 0.1000 (-10.0%, needs -10.0%)")
    d = success_decision(REALISED, Promote(success={"ctr@10": -0.05, "quality@10": 0.05}))
    assert not d.ok and d.reasons[0].endswith("MISSED") and d.reasons[1].endswith("holds")


def test_a_criterion_on_a_value_evaluate_did_not_measure_is_not_held():
    d = success_decision(REALISED, Promote(success={"diversity@10": 0.0}))
    assert not d.ok and "not measured" in d.reasons[0]
    assert success_decision(REALISED, Promote(success={})).ok  # no criteria: nothing to miss


FULL = {"valid_ndcg@10": 0.5461, "leaves": 2604, "us_per_candidate": 7.5}
SMALL = {"valid_ndcg@10": 0.5450, "leaves": 750, "us_per_candidate": 4.6}


def test_the_smaller_model_is_registered_only_when_preferred_and_within_the_tolerance():
    from newsrec.gates import size_decision

    d = size_decision(FULL, SMALL, "valid_ndcg@10", 0.002, prefer_smaller=True)
    assert d.ok and d.reasons[-1] == "registered: smaller (train.prefer_smaller, within the tolerance)"
    assert "smaller 0.5450 vs full 0.5461 (gap -0.0011, within the tolerance 0.0020)" in d.reasons[0]
    assert "0.29x the leaves (750 vs 2,604)" in d.reasons[1] and "0.61x the scoring cost (4.60 vs 7.50" in d.reasons[1]
    far = size_decision(FULL, SMALL, "valid_ndcg@10", 0.001, prefer_smaller=True)
    assert not far.ok and "beyond the tolerance 0.0010" in far.reasons[0] and "registered: full" in far.reasons[-1]
    off = size_decision(FULL, SMALL, "valid_ndcg@10", 0.002, prefer_smaller=False)
    assert not off.ok and off.reasons[-1] == "registered: full (train.prefer_smaller is off)"
    better = size_decision(FULL, SMALL | {"valid_ndcg@10": 0.56}, "valid_ndcg@10", 0.0, prefer_smaller=True)
    assert better.ok and "gap +0.0139" in better.reasons[0]  # a smaller model that is also better


def test_the_size_gate_keeps_the_full_model_without_a_metric_to_compare():
    from newsrec.gates import size_decision

    d = size_decision(FULL, SMALL | {"valid_ndcg@10": float("nan")}, "valid_ndcg@10", 0.1, prefer_smaller=True)
    assert not d.ok and "no valid_ndcg@10 to compare" in d.reasons[0]
    assert not size_decision(FULL, SMALL, "valid_auc", 0.1, prefer_smaller=True).ok
