"""The model card's size section, and the packaging line that lands in it."""

from newsrec.modelcard import PACKAGED, SIZE, model_card, with_packaging_cost

SIZED = {
    "configurations": {
        "full": {
            "overrides": {},
            "valid_ndcg@10": 0.5461,
            "bytes": 314632,
            "trees": 84,
            "leaves": 2604,
            "us_per_candidate": 7.47,
        },
        "smaller": {
            "overrides": {"max_iter": 50, "max_leaf_nodes": 15},
            "valid_ndcg@10": 0.5464,
            "bytes": 104780,
            "trees": 50,
            "leaves": 750,
            "us_per_candidate": 4.64,
        },
    },
    "registered": "full",
    "size_reasons": ["valid_ndcg@10: smaller 0.5464 vs full 0.5461", "registered: full (train.prefer_smaller is off)"],
}


def _card(size=SIZED) -> str:
    metrics = {"model": {"auc": 0.7, "mrr": 0.4, "ndcg@5": 0.45, "ndcg@10": 0.5}}
    realised = {"blend": {"true_ctr@10": 0.1}}
    return model_card("m", "3", "run", True, ["ok"], metrics, realised, {}, {"seed": 7}, ["f"], "sim", size)


def test_the_size_section_shows_metric_against_size_and_cost_for_each_configuration():
    card = _card()
    lines = card.splitlines()
    assert SIZE in lines and lines.index(SIZE) < lines.index("## Parameters")
    assert "| configuration | validation ndcg@10 | bytes | trees | leaves | µs per candidate |" in lines
    assert "| full | 0.5461 | 314,632 | 84 | 2,604 | 7.47 |" in lines
    assert "| smaller (max_iter=50, max_leaf_nodes=15) | 0.5464 | 104,780 | 50 | 750 | 4.64 |" in lines
    assert "**Registered:** the full configuration." in lines
    assert "- registered: full (train.prefer_smaller is off)" in lines
    for kept in ("## Features", "## Metrics on the test days", "## Intended use and limits"):
        assert kept in card
    assert "Not recorded" in _card(size=None)


def test_the_packaging_line_ends_the_size_section_once():
    card = with_packaging_cost(_card(), f"{PACKAGED} 5.10 µs per candidate")
    lines = card.splitlines()
    at = lines.index(f"{PACKAGED} 5.10 µs per candidate")
    assert lines.index(SIZE) < at < lines.index("## Parameters")
    assert lines[at - 2] == "- registered: full (train.prefer_smaller is off)" and lines[at + 2] == "## Parameters"
    again = with_packaging_cost(card, f"{PACKAGED} 4.90 µs per candidate")
    assert again.count(PACKAGED) == 1 and "4.90 µs" in again  # packaged again: the new measurement only
    assert again == with_packaging_cost(_card(), f"{PACKAGED} 4.90 µs per candidate")
    bare = with_packaging_cost("# Model card: m v3\n\n## Parameters\n", f"{PACKAGED} 1.00 µs per candidate")
    assert bare.endswith(f"{SIZE}\n\n{PACKAGED} 1.00 µs per candidate\n")


def test_the_ablation_section_replaces_its_earlier_self_before_the_parameters():
    from newsrec.modelcard import ABLATION, ablation_section, with_section

    def report(x: float) -> dict:
        g = {"features": [], "test_ndcg@10": x, "test_auc": 0.7}
        return {
            "when": "2026-12-06T00:00:00+00:00",
            "trainset": "abc",
            "rows": {"train": 10, "valid": 5, "test": 5},
            "groups": {"every feature": g, "user": g | {"features": ["a", "b"], "test_ndcg@10_change": -0.1}},
            "objectives": {
                "o1": {
                    "valid_ndcg@10": 0.5,
                    "test_ndcg@10": 0.5,
                    "test_auc": 0.7,
                    "fit_seconds": 1.0,
                    "valid_ndcg@10_range": [0.499, 0.501],
                    "test_ndcg@10_range": [0.498, 0.501],
                    "seeds": {"7": {}, "8": {}},
                }
            },
            "best": "o1",
            "why": "the pipeline's stays",
        }

    card = "# Model card\n\n## Size and scoring cost\n\nx\n\n## Parameters\n\n- a: 1\n"
    once = with_section(card, ABLATION, ablation_section(report(0.5)))
    twice = with_section(once, ABLATION, ablation_section(report(0.6)))
    assert twice.count(ABLATION) == 1 and "| every feature | 0 | 0.6000 |" in twice and "0.5000 | |" not in twice
    assert twice.index("## Size and scoring cost") < twice.index(ABLATION) < twice.index("## Parameters")
    assert "| without user | 2 | 0.6000 | -0.1000 | 0.7000 |" in twice
    assert "2 seeds lands between 0.4980 and 0.5010 test nDCG@10: a change within 0.0030 is chance" in twice
    assert "| o1 (best) | 0.5000 (0.4990-0.5010) | 0.5000 (0.4980-0.5010) |" in twice
    assert "**Kept:** the pipeline's stays." in twice
    assert twice.endswith("## Parameters\n\n- a: 1\n")
