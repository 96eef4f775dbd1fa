"""`TrainConfig`: how a classifier is trained, each setting declared once (default and help).

Written into every model artifact; the CLI's training options are generated from it. stdlib
only: must not import torch (the CLI reads it to build `--help`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgedistill.config import DEVICE_HELP, NPROC_HELP, PRECISION_HELP, PRECISIONS, SEED_HELP, THREADS_HELP, Settings, setting


@dataclass(frozen=True)
class TrainConfig(Settings):
    """How a classifier is trained (Adam, cosine-decayed learning rate).

    augment: SpecAugment-style masks (one frequency band of up to F/8 bands and one time span of
    up to T/8 frames, filled with the band mean) and a random time shift of up to T/10 frames.
    min_steps: a floor on optimiser steps: epoch-based training gives a 20-clip set one step per
    epoch, so small sets (coresets, tiny budgets) get more epochs; comparing budgets fairly
    needs it. validations: how many epochs are scored on the validation split, evenly spaced and
    the last one always among them (0: every epoch); a 20-clip set trained for 120 one-step epochs
    spends more time scoring than training otherwise. The checkpoint is written at the same
    epochs. patience: counted in validations; the best validated epoch's weights are kept either way.
    precision: the model's forward (and so backward) under bf16 autocast, loss and Adam in float32
    (auto: on CUDA only; tests/test_training_precision.py states the tolerance).
    """

    epochs: int = setting(30, "Training epochs (at least --min-steps optimiser steps in all).")
    min_steps: int = setting(100, "Train for at least this many optimiser steps (small sets get more epochs; 0: just --epochs).")
    batch_size: int = setting(64, "Clips per optimiser step.")
    lr: float = setting(3e-3, "Adam learning rate (cosine-decayed to 0; the papers use 2e-4 for long runs).")
    weight_decay: float = setting(1e-4, "Adam weight decay.")
    label_smoothing: float = setting(0.0, "Cross-entropy label smoothing (hard labels only).")
    augment: bool = setting(True, "SpecAugment-style masks and time shift while training.")
    balanced: bool = setting(False, "Class-balanced batch sampling instead of plain shuffling.")
    validations: int = setting(0, "Epochs scored on the validation split, evenly spaced, the last included (0: every epoch).")
    patience: int = setting(0, "Stop after this many validations without a better accuracy (0: never).")
    precision: str = setting("auto", PRECISION_HELP)
    device: str = setting("auto", DEVICE_HELP, result=False)
    threads: int | None = setting(None, THREADS_HELP, result=False)
    nproc: int = setting(1, NPROC_HELP, result=False)
    seed: int = setting(0, SEED_HELP)

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs={self.epochs} (need >= 1)")
        if self.min_steps < 0:
            problems.append(f"min_steps={self.min_steps} (need >= 0)")
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} (need >= 1)")
        if not self.lr > 0:
            problems.append(f"lr={self.lr} (need > 0)")
        if self.weight_decay < 0 or not 0 <= self.label_smoothing < 1:
            problems.append("weight_decay must be >= 0 and label_smoothing in [0, 1)")
        if not isinstance(self.nproc, int) or self.nproc < 1:
            problems.append(f"nproc={self.nproc} (need >= 1)")
        if self.patience < 0 or self.validations < 0 or (self.threads is not None and self.threads < 1):
            problems.append("patience and validations must be >= 0 and threads >= 1 (or None)")
        if self.precision not in PRECISIONS:
            problems.append(f"precision={self.precision!r} (choose one of {', '.join(PRECISIONS)})")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def validated(self, epoch: int, epochs: int) -> bool:
        """Whether epoch `epoch` (1-based) of `epochs` is scored on the validation split (and checkpointed)."""
        every = 1 if not self.validations else max(1, epochs // self.validations)
        return epoch % every == 0 or epoch == epochs

    def epochs_for(self, n: int) -> int:
        """Epochs to run on n clips: `epochs`, or more where that gives fewer than `min_steps` steps."""
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))
