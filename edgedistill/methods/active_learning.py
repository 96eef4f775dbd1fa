"""Pool-based active learning: the baseline the distilled coresets are compared against.

A seeded, class-stratified random initial set is labelled; each round the model is trained on
the labelled set (from scratch, as Gal et al. 2017 and the audio distillation paper do, or
warm-started from the previous round's weights), scored on the test set, and the acquisition
strategy picks the next batch from the unlabelled pool (MC-dropout passes for BALD; `random`
never runs the model over the pool). Every round's labelled indices (a prefix of the acquisition
order) and test figures are kept.

Nested budgets: one run can stop at several budgets on its way ("20%,30%,40%,60%"): the
labelled-set sizes grow linearly in `rounds` rounds from the initial set to the smallest budget
and again from each budget to the next, so a round ends exactly at every budget and that round's
test accuracy is the budget's figure. The rounds up to a budget are the same as those of a run
that stops there (same seed, same smaller budgets), so one trajectory replaces one run per budget.

Budget and round arithmetic are numpy-only; torch comes in through `edgedistill.training`,
imported inside `run_active_learning`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgedistill.config import SEED_HELP, Settings, setting
from edgedistill.data.featureset import FeatureSet
from edgedistill.methods.acquisition import MODEL_FREE, NEEDS_MC_PASSES, STRATEGIES, acquire, placeholder_probs


@dataclass(frozen=True)
class ALConfig(Settings):
    """Settings of one active-learning run.

    strategy: an acquisition strategy (see `STRATEGIES`). budget: labelled samples at the end,
    "20%" of the training pool or a count ("50"), or several comma-separated budgets
    ("60%,40%,30%,20%", any order): a round ends exactly at each and the run stops at the
    largest. initial: size of the random, class-stratified initial labelled set (None: one per
    class, or a fifth of the smallest budget when that is larger). rounds: acquisition rounds
    from the initial set to the smallest budget and from each budget to the next (fewer where a
    gap is smaller than `rounds` samples). mc_passes: stochastic forward passes with dropout on for
    the strategies that need them (BALD); the others use the deterministic model. warm_start:
    start each round from the previous round's weights instead of a fresh initialisation.
    seed: seeds the initial set, the random strategy and the dropout masks (training uses the
    TrainConfig seed plus the round number).
    """

    strategy: str = setting("entropy", "Acquisition strategy: random, entropy, variation-ratios, bald, margin.")
    budget: str = setting("20%", "Labelled samples at the end: a percentage of the train split (20%) or a count (50); "
                                 "several comma-separated budgets (20%,40%) end a round at each and stop at the largest.")
    initial: int | None = setting(None, "Random initial labelled set (default: one per class or a fifth of the budget, "
                                        "whichever is larger).")
    rounds: int = setting(4, "Acquisition rounds from the initial set to the smallest budget and from each budget to the "
                             "next (a round ends at every budget).")
    mc_passes: int = setting(10, "MC-dropout passes for BALD.")
    warm_start: bool = setting(False, "Start each round from the previous round's weights, or retrain from scratch.",
                               flag="--warm-start/--retrain")
    seed: int = setting(0, SEED_HELP)

    def __post_init__(self) -> None:
        STRATEGIES.get_entry(self.strategy)
        if self.rounds < 1:
            raise ValueError(f"rounds={self.rounds}: need at least 1 acquisition round")
        if self.strategy in NEEDS_MC_PASSES and self.mc_passes < 2:
            raise ValueError(f"mc_passes={self.mc_passes}: {self.strategy} needs at least 2 MC-dropout passes")
        if self.mc_passes < 1:
            raise ValueError(f"mc_passes={self.mc_passes}: need at least 1")
        if self.initial is not None and self.initial < 1:
            raise ValueError(f"initial={self.initial}: the initial labelled set needs at least 1 sample")
        object.__setattr__(self, "budget", str(self.budget).strip())



def parse_budget(budget: str | int, pool_size: int, n_classes: int) -> int:
    """A budget as a count of labelled samples: "20%" of the pool (rounded half up) or a count.

    A budget below the number of classes or above the pool is an error naming both figures.
    """
    text = str(budget).strip()
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if not 0 < percent <= 100:
                raise ValueError
            count = math.floor(pool_size * percent / 100 + 0.5)
        else:
            count = int(text)
    except ValueError:
        raise ValueError(f"budget {budget!r}: give a percentage in (0, 100] like 20% or a count like 50") from None
    if count > pool_size:
        raise ValueError(f"budget {budget!r} is {count} samples but the training pool has only {pool_size}")
    if count < n_classes:
        raise ValueError(f"budget {budget!r} is {count} samples, fewer than the {n_classes} classes; raise it")
    return count


def parse_budgets(budget: str | int, pool_size: int, n_classes: int) -> list[int]:
    """Comma-separated budgets ("60%,40%" or "50,20%") as sorted distinct counts (see `parse_budget`)."""
    parts = [part for part in str(budget).split(",") if part.strip()]
    if not parts:
        raise ValueError(f"budget {budget!r}: give at least one budget, like 20% or 60%,40%,30%,20%")
    return sorted({parse_budget(part, pool_size, n_classes) for part in parts})


def initial_size(initial: int | None, budget: int, n_classes: int) -> int:
    """Size of the initial labelled set: `initial`, or max(classes, budget // 5); never above the budget."""
    size = max(n_classes, budget // 5) if initial is None else int(initial)
    if size > budget:
        raise ValueError(f"the initial labelled set ({size}) is larger than the budget ({budget}); lower --initial")
    return size


def stratified_initial(y: np.ndarray, size: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """`size` distinct random indices: one per class present first (while size allows), the rest at random."""
    present = [c for c in range(n_classes) if (y == c).any()]
    first = [int(rng.choice(np.flatnonzero(y == c))) for c in rng.permutation(present)[:size]]
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), first))[: size - len(first)]
    return np.concatenate([np.array(first, dtype=np.int64), rest.astype(np.int64)])


def round_sizes(initial: int, budget: int, rounds: int) -> list[int]:
    """Labelled-set sizes: the initial set, then each round's, strictly growing, ending at the budget."""
    if not 0 < initial <= budget:
        raise ValueError(f"need 0 < initial ({initial}) <= budget ({budget})")
    steps = np.linspace(initial, budget, rounds + 1).round().astype(int)
    return sorted(set(steps.tolist()))


def nested_round_sizes(initial: int, budgets: list[int], rounds: int) -> list[int]:
    """Labelled-set sizes through several budgets: `rounds` rounds to the smallest, then to each next one.

    Every budget is one of the sizes; the first `k` segments are exactly the schedule of a run
    whose largest budget is the k-th.
    """
    sizes = [initial]
    for budget in sorted(budgets):
        sizes += [size for size in round_sizes(sizes[-1], budget, rounds) if size > sizes[-1]]
    return sizes


def split_arrays(feats: FeatureSet, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, y) of one split of a feature set, read into memory, or None when the split is empty."""
    mask = feats.split == name
    return (np.asarray(feats.x[mask]), feats.y[mask]) if mask.any() else None


@dataclass
class ALResult:
    """One run's outcome.

    indices: labelled pool indices in acquisition order (round r's labelled set is
    ``indices[:rounds[r]["n_labelled"]]``). rounds: per round n_labelled, n_acquired and, when a
    test set was given, accuracy and uar. budget: the largest budget (where the run stopped);
    budgets: every budget, ascending (each is some round's n_labelled). trained: the last round's
    TrainedModel.
    """

    indices: np.ndarray
    rounds: list[dict[str, Any]]
    budgets: list[int]
    trained: Any = None

    @property
    def budget(self) -> int:
        """The largest budget: where the run stopped."""
        return self.budgets[-1]

    def at_budget(self, budget: int) -> dict[str, Any]:
        """The record of the round that ended with exactly `budget` samples labelled."""
        for record in self.rounds:
            if record["n_labelled"] == budget:
                return record
        raise KeyError(f"no round ended at {budget} labelled samples (rounds ended at "
                       f"{[r['n_labelled'] for r in self.rounds]})")

    @property
    def acquired_round(self) -> np.ndarray:
        """The round (0 = initial set) in which each entry of `indices` was labelled."""
        out = np.zeros(len(self.indices), dtype=np.int64)
        for record in self.rounds[1:]:
            out[record["n_labelled"] - record["n_acquired"]:record["n_labelled"]] = record["round"]
        return out


def run_active_learning(
    pool: FeatureSet,
    model: str,
    config: ALConfig,
    train_config,
    *,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    model_kwargs: dict | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> ALResult:
    """Active learning on `pool` (the training split) until exactly the (largest) budget is labelled.

    train_config: a `TrainConfig` used for every round (its seed plus the round number).
    test: (x, y) scored after every round. valid: (x, y) for the trainer's best-epoch choice.
    Every round trains for at least `train_config.min_steps` optimiser steps.
    on_round: called with each round's record (for progress display).
    """
    from edgedistill.evaluate import evaluate_model
    from edgedistill.training import train_model

    rng = np.random.default_rng(config.seed)
    budgets = parse_budgets(config.budget, len(pool), pool.n_classes)
    sizes = nested_round_sizes(initial_size(config.initial, budgets[0], pool.n_classes), budgets, config.rounds)
    labelled = stratified_initial(pool.y, sizes[0], pool.n_classes, rng)
    passes = config.mc_passes if config.strategy in NEEDS_MC_PASSES else 0
    rounds: list[dict[str, Any]] = []
    trained = None
    for round_index, size in enumerate(sizes):
        acquired = size - len(labelled)
        if acquired > 0:
            unlabelled = np.setdiff1d(np.arange(len(pool)), labelled)
            probs = placeholder_probs(len(unlabelled)) if config.strategy in MODEL_FREE else trained.predict_proba(
                np.asarray(pool.x[unlabelled]), mc_passes=passes, seed=config.seed * 1000 + round_index)
            picked = acquire(config.strategy, probs, acquired, rng=rng)
            labelled = np.concatenate([labelled, unlabelled[picked]])
        init_state = trained.state_dict() if (config.warm_start and trained is not None) else None
        trained = train_model(
            model, np.asarray(pool.x[labelled]), pool.y[labelled], pool.labels,
            dataclasses.replace(train_config, seed=train_config.seed + round_index),
            model_kwargs=model_kwargs, valid=valid, init_state=init_state, progress=False,
        )
        record: dict[str, Any] = {"round": round_index, "n_labelled": int(len(labelled)),
                                  "n_acquired": int(len(labelled) if round_index == 0 else acquired)}
        if test is not None:
            metrics = evaluate_model(trained, *test)
            record.update(accuracy=float(metrics["accuracy"]), uar=float(metrics["uar"]))
        rounds.append(record)
        if on_round:
            on_round(record)
    budget = budgets[-1]
    if len(labelled) != budget or len(np.unique(labelled)) != budget:
        raise RuntimeError(f"active learning labelled {len(labelled)} samples for a budget of {budget}")  # a bug, not user input
    return ALResult(indices=labelled, rounds=rounds, budgets=budgets, trained=trained)
