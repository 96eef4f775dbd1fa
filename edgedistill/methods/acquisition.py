"""Active-learning acquisition functions: pure functions of predicted probabilities.

Every strategy takes ``probs`` of shape (T, N, C): T stochastic forward passes (MC dropout; T = 1
for a deterministic model) over N pool items and C classes, and returns scores (N,) where a
HIGHER score means "label this first". numpy only: must not import torch.

- entropy:           H[mean_t p_t]                          (max predictive entropy)
- variation-ratios:  1 - max_c mean_t p_t                    (Freeman 1965, as in Gal et al. 2017)
- bald:              H[mean_t p_t] - mean_t H[p_t]           (mutual information, Houlsby et al. 2011)
- margin:            -(p_(1) - p_(2)) of mean_t p_t         (smallest top-2 margin first)
- random:            uniform random scores from a seeded generator
Entropies are in nats; 0 log 0 is taken as 0.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgedistill.registry import Registry

_EPS = 1e-12


def _check(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 2:
        probs = probs[None]
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape (T, N, C) or (N, C), got {probs.shape}")
    if not np.all(np.isfinite(probs)) or probs.min() < -1e-9:
        raise ValueError("probs must be finite and non-negative")
    if not np.allclose(probs.sum(-1), 1.0, atol=1e-4):
        raise ValueError("probs must sum to 1 over classes (pass softmax outputs, not logits)")
    return probs


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.clip(p, _EPS, 1.0))).sum(-1)


def entropy(probs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    return _entropy(_check(probs).mean(0))


def variation_ratios(probs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    return 1.0 - _check(probs).mean(0).max(-1)


def bald(probs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    probs = _check(probs)
    return _entropy(probs.mean(0)) - _entropy(probs).mean(0)


def margin(probs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    mean = np.sort(_check(probs).mean(0), axis=-1)
    return -(mean[:, -1] - mean[:, -2]) if mean.shape[-1] > 1 else np.zeros(len(mean))


def random(probs: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    if rng is None:
        raise ValueError("the random strategy needs a seeded numpy Generator (rng=...)")
    return rng.random(_check(probs).shape[1])


STRATEGIES = Registry("acquisition strategy", {
    "random": "edgedistill.methods.acquisition:random",
    "entropy": "edgedistill.methods.acquisition:entropy",
    "variation-ratios": "edgedistill.methods.acquisition:variation_ratios",
    "bald": "edgedistill.methods.acquisition:bald",
    "margin": "edgedistill.methods.acquisition:margin",
})

# Strategies that need several stochastic passes to mean anything (T > 1).
NEEDS_MC_PASSES = frozenset({"bald"})
# Strategies whose scores ignore the probabilities: the loop does not run the model over the pool.
MODEL_FREE = frozenset({"random"})


def placeholder_probs(n: int) -> np.ndarray:
    """A (1, n, 1) stand-in for the probabilities of n pool items, for the `MODEL_FREE` strategies (no copy)."""
    return np.broadcast_to(np.ones((), dtype=np.float64), (1, n, 1))


def acquire(strategy: str, probs: np.ndarray, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices (into the N pool items) of the k highest-scoring items, best first; ties by index."""
    score: Callable = STRATEGIES.get_entry(strategy)
    scores = score(probs, rng=rng)
    if not 0 <= k <= len(scores):
        raise ValueError(f"cannot acquire {k} items from a pool of {len(scores)}")
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:k]
