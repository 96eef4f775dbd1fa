"""Typer options shared by commands that train classifiers (select, compare), mapped one to one
onto `TrainConfig` and `ALConfig` fields. Torch-free: TrainConfig is imported inside `train_config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

Features = Annotated[Optional[Path], typer.Argument(help="Feature cache directory (from `edgedistill features`/prepare) "
                                                         "with train and test splits.", show_default=False)]
FeaturesOption = Annotated[Optional[Path], typer.Option("--features", "-f", help="Same as the FEAT argument.",
                                                        show_default=False)]
Model = Annotated[str, typer.Option(help="Classifier to train (cnn4, resnet18, dscnn-s, dscnn-m, dscnn-l).")]
ModelArgs = Annotated[Optional[List[str]], typer.Option("--model-arg", help="Model builder argument key=value "
                                                     "(repeatable), e.g. width=16 or dropout=0.5.", show_default=False)]
Rounds = Annotated[int, typer.Option(help="Active-learning acquisition rounds from the initial set to the smallest "
                                          "budget and from each budget to the next (a round ends at every budget).")]
MCPasses = Annotated[int, typer.Option(help="MC-dropout passes for BALD.")]
WarmStart = Annotated[bool, typer.Option("--warm-start/--retrain", help="Start each AL round from the previous round's "
                                                                         "weights, or retrain from scratch.")]
Epochs = Annotated[int, typer.Option(help="Training epochs per model.")]
MinSteps = Annotated[int, typer.Option(help="Train every model for at least this many optimiser steps (small "
                                             "budgets get more epochs; 0: just --epochs).")]
BatchSize = Annotated[int, typer.Option(help="Clips per training step.")]
LearningRate = Annotated[float, typer.Option("--lr", help="Adam learning rate (cosine-decayed to 0).")]
Augment = Annotated[bool, typer.Option("--augment/--no-augment", help="SpecAugment masks and time shift while training.")]
Device = Annotated[str, typer.Option(help="Training device: auto, cpu, cuda or cuda:N.")]
Threads = Annotated[Optional[int], typer.Option(help="torch CPU threads per training process (default: cores / workers).",
                                                show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def features_path(argument: Path | None, option: Path | None) -> Path:
    """The feature cache given as the FEAT argument or --features (exactly one of them)."""
    if (argument is None) == (option is None):
        raise ValueError("give the feature cache once: as the FEAT argument or as --features DIR")
    return argument or option


def model_kwargs(items: list[str] | None) -> dict:
    """{"width": 16} from ["width=16"]; values are read as JSON (numbers, true/false) or kept as text."""
    import json

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model-arg {item!r}: write key=value, e.g. width=16")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def train_config(epochs: int, batch_size: int, lr: float, augment: bool, device: str, threads: int | None, seed: int = 0):
    """A TrainConfig from the shared training options."""
    from edgedistill.training import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, augment=augment, device=device, threads=threads, seed=seed)
