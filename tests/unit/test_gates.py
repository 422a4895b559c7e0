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
