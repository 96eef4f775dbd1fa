"""Pool-based active learning: the baseline the distilled coresets are compared against.

A seeded, class-stratified random initial set is labelled; each round the model is trained on
the labelled set, scored on the test set, and the acquisition strategy picks the next batch
from the unlabelled pool (MC dropout passes for BALD); it stops exactly at the budget. Every
round's labelled indices and test accuracy are kept. torch is imported inside functions.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from edgedistill.data.featureset import FeatureSet
from edgedistill.methods.acquisition import NEEDS_MC_PASSES, STRATEGIES, acquire


@dataclass(frozen=True)
class ALConfig:
    """Settings of one active-learning run.

    strategy: an acquisition strategy (see `STRATEGIES`). budget: "20%" of the training pool,
    or a count of labelled samples ("50"). initial: size of the random initial labelled set
    (None: one per class, or a fifth of the budget when that is larger). rounds: acquisition
    rounds to reach the budget. mc_passes: stochastic passes for the scores (BALD needs > 1;
    other strategies use 1 unless asked). warm_start: keep training the previous round's
    model instead of training from scratch.
    """

    strategy: str = "entropy"
    budget: str = "20%"
    initial: int | None = None
    rounds: int = 4
    mc_passes: int = 10
    warm_start: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        STRATEGIES.get_entry(self.strategy)
        if self.rounds < 1:
            raise ValueError("rounds must be >= 1")
        if self.mc_passes < 1:
            raise ValueError("mc_passes must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "ALConfig", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ALConfig":
        data = {k: v for k, v in data.items() if k != "type"}
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown ALConfig field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def parse_budget(budget: str | int, pool_size: int, n_classes: int) -> int:
    """A budget as a count of labelled samples: "20%" of the pool or a plain count."""
    text = str(budget).strip()
    try:
        count = math.floor(pool_size * float(text[:-1]) / 100 + 0.5) if text.endswith("%") else int(text)
    except ValueError:
        raise ValueError(f"budget {budget!r}: give a percentage like 20% or a count like 50") from None
    if count > pool_size:
        raise ValueError(f"budget {budget!r} is {count} samples but the training pool has only {pool_size}")
    if count < n_classes:
        raise ValueError(f"budget {budget!r} is {count} samples, fewer than the {n_classes} classes; raise it")
    return count


def stratified_initial(y: np.ndarray, size: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """`size` random indices with every class present (one per class first, then at random)."""
    first = [rng.choice(np.flatnonzero(y == c)) for c in range(n_classes) if (y == c).any()]
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), first))[: max(0, size - len(first))]
    return np.concatenate([np.array(first, dtype=int), rest.astype(int)])[:size]


def round_sizes(initial: int, budget: int, rounds: int) -> list[int]:
    """Labelled-set sizes after the initial set and each round, ending exactly at the budget."""
    steps = np.linspace(initial, budget, rounds + 1).round().astype(int)
    return sorted(set(steps.tolist()))


def predict_probs(model, x: np.ndarray, passes: int, seed: int, batch_size: int = 256) -> np.ndarray:
    """Softmax outputs (passes, N, C); passes > 1 runs dropout layers in training mode (MC dropout)."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
    if passes > 1:
        if not dropouts:
            raise ValueError(f"{type(model).__name__} has no dropout layer: MC-dropout scores (BALD) need one")
        for module in dropouts:
            module.train()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    out = []
    try:
        with torch.no_grad():
            for _ in range(passes):
                chunks = [torch.softmax(model(torch.as_tensor(np.asarray(x[i : i + batch_size]), device=device)), -1)
                          for i in range(0, len(x), batch_size)]
                out.append(torch.cat(chunks).double().cpu().numpy())
    finally:
        torch.random.set_rng_state(generator_state)
        model.eval()
    return np.stack(out)


@dataclass
class ALResult:
    """Outcome of one run: the final labelled indices (into the pool) and every round's figures."""

    indices: np.ndarray
    rounds: list[dict[str, Any]]
    model: Any = None

    @property
    def accuracy(self) -> float:
        return float(self.rounds[-1]["accuracy"])


def run_active_learning(
    pool: FeatureSet,
    test: FeatureSet,
    model_name: str,
    config: ALConfig,
    train_config,
    valid: FeatureSet | None = None,
    model_kwargs: dict | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> ALResult:
    """Active learning on `pool` (the training split) until `config.budget` samples are labelled."""
    from edgedistill.evaluate import evaluate_model
    from edgedistill.training import train_model

    rng = np.random.default_rng(config.seed)
    budget = parse_budget(config.budget, len(pool), pool.n_classes)
    initial = config.initial or max(pool.n_classes, budget // 5)
    if initial > budget:
        raise ValueError(f"initial labelled set ({initial}) is larger than the budget ({budget})")
    labelled = stratified_initial(pool.y, initial, pool.n_classes, rng)
    passes = config.mc_passes if config.strategy in NEEDS_MC_PASSES else 1
    rounds, model = [], None
    sizes = round_sizes(len(labelled), budget, config.rounds)
    for round_index, size in enumerate(sizes):
        if size > len(labelled):
            unlabelled = np.setdiff1d(np.arange(len(pool)), labelled)
            probs = predict_probs(model, pool.x[unlabelled], passes, seed=config.seed * 1000 + round_index)
            picked = acquire(config.strategy, probs, size - len(labelled), rng=rng)
            labelled = np.concatenate([labelled, unlabelled[picked]])
        run_config = dataclasses.replace(train_config, seed=train_config.seed + round_index)
        trained = train_model(
            model_name, np.asarray(pool.x[labelled]), pool.y[labelled], pool.labels, pool.config, run_config,
            valid=valid, model_kwargs=model_kwargs, init_model=model if config.warm_start else None,
        )
        model = trained.model
        metrics = evaluate_model(model, test)
        record = {"round": round_index, "n_labelled": int(len(labelled)), "accuracy": float(metrics["accuracy"]),
                  "uar": float(metrics["uar"]), "indices": labelled.tolist()}
        rounds.append(record)
        if on_round:
            on_round(record)
    return ALResult(indices=labelled, rounds=rounds, model=model)
