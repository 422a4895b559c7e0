"""The ranking objective, worked by hand: weighted rating, popularity, positions in a list,
scaling, the blend, the top k and what it realises."""

import numpy as np
import pytest

from newsrec.ranking import blend, minmax, popularity, rank_within, realised, top_k_mask, weighted_rating


def test_weighted_rating_shrinks_the_mean_toward_the_prior():
    # R = 4.0 from v = 5 votes, m = 5, C = 3.0: half the weight each -> 3.5
    assert weighted_rating(4.0, 5, 5.0, 3.0) == pytest.approx(3.5)
    # no votes: the prior C alone; many votes: close to R
    assert weighted_rating(5.0, 0, 5.0, 2.0) == pytest.approx(2.0)
    assert weighted_rating(5.0, 995, 5.0, 2.0) == pytest.approx(5.0 * 0.995 + 2.0 * 0.005)
    np.testing.assert_allclose(weighted_rating([1.0, 0.0], [1, 3], 1.0, [0.5, 0.5]), [0.75, 0.125])


def test_popularity_is_clicks_with_impressions_as_the_tie_break():
    pop = popularity([3, 3, 5, np.nan], [100, 200, 1, 50])
    np.testing.assert_allclose(pop, [3.0001, 3.0002, 5.000001, 0.00005])
    assert list(np.argsort(-pop)) == [2, 1, 0, 3]


def test_rank_within_each_list_ties_in_input_order_nan_unranked():
    r = rank_within([0.2, 0.9, 0.2, 0.5, np.nan], None)
    np.testing.assert_array_equal(r, [3, 1, 4, 2, np.nan])
    g = rank_within([0.2, 0.9, 0.2, 0.5, 0.1], ["a", "a", "b", "b", "a"])
    np.testing.assert_array_equal(g, [2, 1, 2, 1, 3])
    np.testing.assert_array_equal(rank_within([1.0, 1.0, 1.0], [7, 7, 7]), [1, 2, 3])


def test_minmax_scales_each_list_and_a_flat_list_is_one_half():
    np.testing.assert_allclose(minmax([2.0, 4.0, 3.0], None), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(minmax([2.0, 4.0, 7.0, 7.0], [1, 1, 2, 2]), [0.0, 1.0, 0.5, 0.5])
    assert minmax([], None).size == 0


def test_blend_weights_the_scaled_terms():
    # engagement scaled to [0, 1, 0.5], quality to [1, 0, 0.5]
    s = blend([0.1, 0.3, 0.2], [0.9, 0.1, 0.5], None, 0.2, 0.8)
    np.testing.assert_allclose(s, [0.8, 0.2, 0.5])


def test_top_k_takes_exactly_k_of_each_list():
    scores, groups = [0.9, 0.1, 0.5, 0.3, 0.8, 0.7], [1, 1, 1, 2, 2, 2]
    np.testing.assert_array_equal(top_k_mask(scores, groups, 2), [True, False, True, False, True, True])
    np.testing.assert_array_equal(top_k_mask(scores, groups, 1), [True, False, False, False, True, False])
    assert top_k_mask(scores, groups, 3).all()


def test_realised_is_the_mean_over_each_top_k():
    scores, groups = [0.9, 0.1, 0.5, 0.3, 0.8, 0.7], [1, 1, 1, 2, 2, 2]
    clicks = np.array([1, 1, 0, 1, 0, 1])
    # top 2: rows 0, 2 (clicks 1, 0) and rows 4, 5 (clicks 0, 1) -> 2 of 4
    assert realised(scores, groups, {"ctr": clicks}, 2) == {"ctr@2": 0.5}
    assert realised(scores, groups, {"ctr": clicks}, 1) == {"ctr@1": 0.5}


def test_flat_single_list_and_missing_impressions():
    np.testing.assert_allclose(minmax([3.0, 3.0], None), [0.5, 0.5])
    np.testing.assert_allclose(popularity([2, 2], [np.nan, 10]), [2.0, 2.00001])  # no impressions known: 0
