"""Beyond-accuracy metrics against lists worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from newsrec.beyond import beyond_accuracy, diversity

# three lists; k = 3
#   list 1: a(x) 5, b(x) 4, c(y) 3, d(z) 2, c clicked  -> shown a, b, c
#   list 2: a(x) 1, e(y) 3, a clicked                  -> shown e, a
#   list 3: f(z) 1, f clicked                          -> shown f
G = [1, 1, 1, 1, 2, 2, 3]
ITEMS = ["a", "b", "c", "d", "a", "e", "f"]
CATS = ["x", "x", "y", "z", "x", "y", "z"]
SCORES = [5, 4, 3, 2, 1, 3, 1]
CLICKED = [0, 0, 1, 0, 1, 0, 1]


def test_hand_worked_lists():
    m = beyond_accuracy(G, ITEMS, CATS, SCORES, CLICKED, k=3)
    # diversity: list 1 has pairs (a,b) same, (a,c) and (b,c) different: 2/3; list 2: 1;
    # list 3 has one item and does not count
    assert m["diversity@3"] == pytest.approx((2 / 3 + 1) / 2)
    # coverage: a, b, c, e, f shown of a..f
    assert m["coverage@3"] == pytest.approx(5 / 6)
    # novelty: L = 3 lists; a, c, f clicked in one list each: p = 2/4 -> 1 bit; b, e: p = 1/4 -> 2 bits
    # list 1: (1 + 2 + 1) / 3; list 2: (2 + 1) / 2; list 3: 1
    assert m["novelty@3"] == pytest.approx((4 / 3 + 3 / 2 + 1) / 3)


def test_the_ranking_decides_what_counts():
    # reversed scores in list 1: d, c, b shown (z, y, x: every pair differs), a never shown in list 1
    rev = [2, 3, 4, 5, 1, 3, 1]
    m = beyond_accuracy(G, ITEMS, CATS, rev, CLICKED, k=3)
    assert m["diversity@3"] == pytest.approx(1.0)
    assert m["coverage@3"] == pytest.approx(6 / 6)
    # list 1 now shows d (2 bits), c (1), b (2)
    assert m["novelty@3"] == pytest.approx(((2 + 1 + 2) / 3 + 3 / 2 + 1) / 3)


def test_unknown_categories_are_one_category_and_unknown_clicks_count_as_none():
    assert diversity([1, 1, 1], [None, np.nan, "x"]) == pytest.approx(2 / 3)
    m = beyond_accuracy([1, 1], ["a", "b"], ["x", "y"], [2, 1], [np.nan, np.nan], k=10)
    assert m["novelty@10"] == pytest.approx(math.log2(2))  # nothing clicked: p = 1 / (1 + 1)
    assert m["diversity@10"] == 1.0


def test_no_list_long_enough_and_no_rows():
    assert math.isnan(diversity([1, 2], ["x", "y"]))
    assert all(math.isnan(v) for v in beyond_accuracy([], [], [], [], [], k=10).values())
