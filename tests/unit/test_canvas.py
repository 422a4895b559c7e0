"""The canvas renders the team's words and says which run is missing where there are no numbers yet."""

from __future__ import annotations

from pathlib import Path

import yaml

from newsrec.canvas import canvas
from newsrec.config import Params

ROOT = Path(__file__).resolve().parents[2]


def bare_facts() -> dict:
    p = Params()
    keys = ("ranking", "promote_params", "monitor_params", "train_params")
    return dict(
        zip(keys, (p.ranking.model_dump(), p.promote.model_dump(), p.monitor.model_dump(), p.train.model_dump()))
    )


def test_a_project_with_no_runs_yet_names_the_target_of_each_missing_section():
    human = yaml.safe_load((ROOT / "docs" / "canvas.yaml").read_text())
    text = canvas(human, bare_facts())
    assert text.startswith("# ML canvas: newsrec") and "No champion yet." in text
    for missing in ("make validate", "make features", "make evaluate", "make promote", "make loop", "make monitor"):
        assert f"(`{missing}`)" in text, missing
    assert human["value_proposition"].strip() in text  # the team's words, as written
    assert "| SRE | " in text
    assert "ctr@10 -10%, quality@10 +5% (reported by the gate)" in text  # the success criteria from params


def test_ml_earns_its_place_only_when_the_model_beats_both_rules():
    m = {
        n: {"auc": 0.6, "mrr": 0.3, "ndcg@5": 0.3, "ndcg@10": v}
        for n, v in (("model", 0.40), ("popularity", 0.45), ("quality", 0.30))
    }
    real = {"blend": {"ctr@10": 0.1, "quality@10": 0.6}, "popularity": {"ctr@10": 0.1, "quality@10": 0.5}}
    text = canvas({}, bare_facts() | {"metrics": m, "realised": real})
    assert "nDCG@10 over popularity-only: -0.0500 (0.4000 vs 0.4500)" in text
    assert "**ML does not earn its place**" in text
    assert "the served blend's quality@10 against popularity's: +20.0%" in text


def test_words_that_are_not_valid_yaml_are_one_line_naming_where(tmp_path):
    import pytest

    from newsrec.config import Paths
    from newsrec.stages.canvas import canvas as write_canvas

    paths = Paths(tmp_path)
    paths.canvas_words.parent.mkdir(parents=True)
    paths.canvas_words.write_text("value_proposition: ok\nstakeholders: [unclosed\n")
    with pytest.raises(ValueError) as e:
        write_canvas(Params(), paths, registry=None, store=None)
    assert "\n" not in str(e.value) and "not valid YAML at line 3" in str(e.value)
