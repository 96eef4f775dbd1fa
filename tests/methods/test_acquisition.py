"""Acquisition functions against values worked by hand."""

import math

import numpy as np
import pytest

from edgedistill.methods.acquisition import (
    MODEL_FREE, STRATEGIES, acquire, bald, entropy, margin, placeholder_probs, random, variation_ratios,
)

# Two MC passes over three pool items, two classes.
PROBS = np.array([
    [[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]],
    [[0.5, 0.5], [0.1, 0.9], [1.0, 0.0]],
])


def test_entropy_by_hand():
    # mean probs: [.5,.5], [.5,.5], [1,0] -> ln2, ln2, 0
    np.testing.assert_allclose(entropy(PROBS), [math.log(2), math.log(2), 0.0], atol=1e-12)


def test_variation_ratios_by_hand():
    np.testing.assert_allclose(variation_ratios(PROBS), [0.5, 0.5, 0.0])


def test_bald_by_hand():
    # item 0: both passes agree at .5 -> MI = ln2 - ln2 = 0
    # item 1: passes disagree: H(mean) = ln2; mean H = -(.9 ln .9 + .1 ln .1)
    h_pass = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    np.testing.assert_allclose(bald(PROBS), [0.0, math.log(2) - h_pass, 0.0], atol=1e-12)


def test_margin_by_hand():
    probs = np.array([[[0.6, 0.3, 0.1], [0.4, 0.35, 0.25]]])
    np.testing.assert_allclose(margin(probs), [-0.3, -0.05])


def test_bald_prefers_disagreement_entropy_does_not():
    assert acquire("bald", PROBS, 1)[0] == 1
    assert list(acquire("entropy", PROBS, 2)) == [0, 1]  # tie broken by index


def test_random_is_seeded_and_needs_rng():
    a = random(PROBS, rng=np.random.default_rng(0))
    b = random(PROBS, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="seeded"):
        random(PROBS)


def test_two_dimensional_probs_are_one_pass():
    np.testing.assert_allclose(entropy(PROBS[0]), [math.log(2), 0.325082973, 0.0], atol=1e-8)


def test_bad_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(np.array([[2.0, 3.0]]))
    with pytest.raises(ValueError, match="cannot acquire 5"):
        acquire("entropy", PROBS, 5)
    with pytest.raises(ValueError, match="unknown acquisition strategy 'bold'; choose one of: random"):
        acquire("bold", PROBS, 1)


def test_every_strategy_is_tested():
    tested = {"random", "entropy", "variation-ratios", "bald", "margin"}
    assert set(STRATEGIES.names()) == tested


def test_model_free_strategies_rank_placeholder_probs_like_any_probs():
    assert MODEL_FREE == {"random"}
    stand_in = placeholder_probs(5)
    assert stand_in.shape == (1, 5, 1)
    real = np.full((3, 5, 4), 0.25)
    np.testing.assert_array_equal(acquire("random", stand_in, 3, rng=np.random.default_rng(7)),
                                  acquire("random", real, 3, rng=np.random.default_rng(7)))
