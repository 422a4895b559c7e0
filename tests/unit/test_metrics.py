"""The MIND metrics against cases worked out by hand, and AUC against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from newsrec.metrics import auc, mrr, ndcg, ranking_metrics


def test_hand_computed_single_impression():
    g = [1, 1, 1, 1]
    y = [0, 1, 0, 1]
    s = [0.9, 0.8, 0.1, 0.3]  # ranking: a(0) b(1) d(1) c(0) -> clicks at ranks 2 and 3
    # positives b(0.8), d(0.3) vs negatives a(0.9), c(0.1): b>c and d>c win, b<a and d<a lose
    assert auc(g, y, s) == pytest.approx(2 / 4)
    assert auc(g, y, s) == pytest.approx(roc_auc_score(y, s))
    assert mrr(g, y, s) == pytest.approx((1 / 2 + 1 / 3) / 2)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg(g, y, s, 10) == pytest.approx(dcg / ideal)
    assert ndcg(g, y, s, 2) == pytest.approx((1 / math.log2(3)) / ideal)


def test_averaged_over_impressions_and_single_class_skipped_for_auc():
    g = [1, 1, 2, 2, 3, 3]
    y = [1, 0, 0, 1, 1, 1]
    s = [0.9, 0.1, 0.9, 0.1, 0.5, 0.4]
    assert auc(g, y, s) == pytest.approx((1.0 + 0.0) / 2)  # impression 3 has no negative
    assert mrr(g, y, s) == pytest.approx((1 + 0.5 + (1 + 0.5) / 2) / 3)
    assert ndcg(g, y, s, 5) == pytest.approx((1 + (1 / math.log2(3)) / 1 + 1) / 3)


def test_ties_in_auc_count_one_half():
    assert auc([1, 1, 1], [1, 0, 0], [0.5, 0.5, 0.2]) == pytest.approx(0.75)


def test_perfect_and_random_rankings():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(500), 10)
    y = (rng.random(len(g)) < 0.2).astype(int)
    y[::10] = 1
    m = ranking_metrics(g, y, y + 0.0)
    assert m["auc"] == pytest.approx(1.0) and m["ndcg@10"] == pytest.approx(1.0)
    r = ranking_metrics(g, y, rng.random(len(g)))
    assert 0.45 < r["auc"] < 0.55 and r["ndcg@10"] < 0.8


def test_ranking_metrics_wires_each_metric_and_its_cutoff():
    # one impression, the only click at rank 6: inside nDCG@10, outside nDCG@5
    g, y = [1] * 8, [0, 0, 0, 0, 0, 1, 0, 0]
    s = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    m = ranking_metrics(g, y, s)
    assert list(m) == ["auc", "mrr", "ndcg@5", "ndcg@10"]
    assert m["auc"] == pytest.approx(2 / 7)  # the click beats 2 of the 7 skips
    assert m["mrr"] == pytest.approx(1 / 6)
    assert m["ndcg@5"] == 0.0
    assert m["ndcg@10"] == pytest.approx(1 / math.log2(7))


def test_mrr_counts_impressions_with_a_single_click_and_skips_those_without():
    g, y = [1, 1, 2, 2, 3, 3], [0, 1, 0, 0, 1, 0]
    s = [0.9, 0.1, 0.5, 0.4, 0.9, 0.1]
    assert mrr(g, y, s) == pytest.approx((1 / 2 + 1) / 2)  # impression 2 has no click
    assert math.isnan(mrr([1, 1], [0, 0], [0.3, 0.2])) and math.isnan(ndcg([1, 1], [0, 0], [0.3, 0.2], 10))
