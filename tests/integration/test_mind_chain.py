"""The training chain on MIND-format data in a scratch project: source -> ... -> gate, with
no ground truth, so no oracle and no realised true CTR."""

from __future__ import annotations

import json

from mind_fixture import write_mind
from scratch import METRIC_KEYS, make_project, sh


def test_mind_chain_reports_metrics_without_oracle(tmp_path):
    proj = make_project(
        tmp_path / "proj", trainset=dict(train_days=2, valid_days=1, test_days=1), train=dict(max_iter=50)
    )
    mind = write_mind(tmp_path / "MIND", n_lines=80)
    sh(proj, "newsrec", "source", "mind", str(mind))
    sh(proj, "dvc", "repro", "promote")
    m = json.loads((proj / "reports" / "metrics.json").read_text())
    assert set(m) == {"model", "popularity", "random", "quality"}  # no ground truth, no oracle
    assert all(set(v) == METRIC_KEYS for v in m.values())
    assert "true_ctr@10" not in json.loads((proj / "reports" / "evaluate.json").read_text())["realised"]["blend"]
