"""Quickstart settings and the run state shared by its stages. Must not import torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgedistill.config import SEED_HELP, Settings, setting

DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


@dataclass(frozen=True)
class QuickstartConfig(Settings):
    """What the quickstart runs. The defaults aim at under 10 minutes on two CPU cores.

    words / per_word: the synthesised keywords and clips of each (speaker-disjoint splits).
    speakers: synthetic speakers (default: about one per three clips of a word).
    ipc: coreset samples per class. rfad_steps / rfad_batch: RFAD optimisation steps and real
    clips per step. rfad_time_pool: a kernel averaged over time (words sit anywhere in the 1 s
    clip; KRR on all training clips: 0.42 with it, 0.23 without). rfad_init: where the coreset
    starts ("kmeans": the clips nearest k-means centroids of each class; "real": random clips).
    model / width / epochs: the classifier trained on the coreset, on random real clips and on
    the full train split; min_steps: a floor on optimiser steps, so a 100-clip set gets as many
    updates as it needs.
    formats / int8: what is exported. device_epochs: epochs of on-device `full` training.
    bench_runs: timed inferences per exported file. seed: every stage's seed. workers:
    synthesis and feature-extraction processes.
    """

    words: tuple[str, ...] = setting(DEFAULT_WORDS, "Comma-separated keywords to synthesise.")
    per_word: int = setting(80, "Synthesised clips per word (speaker-disjoint train/valid/test splits).")
    speakers: int | None = setting(None, "Synthetic speakers (default: about one per three clips of a word).")
    ipc: int = setting(10, "Coreset samples per class.")
    rfad_steps: int = setting(150, "RFAD optimisation steps.")
    rfad_batch: int = setting(64, "RFAD real clips per step.")
    rfad_time_pool: bool = setting(True, "RFAD kernel averaged over time (words sit anywhere in the 1 s clip).")
    rfad_init: str = setting("kmeans", "Where the coreset starts: kmeans (clips nearest k-means centroids) or real.")
    model: str = setting("cnn4", "Classifier trained on the coreset, on random real clips and on the full train split.")
    width: int = setting(16, "Width of the classifier.")
    epochs: int = setting(30, "Training epochs per model.")
    min_steps: int = setting(200, "Optimiser steps at least per model (a 100-clip set gets the updates it needs).")
    seeds: int = setting(3, "Training seeds per row (mean ± std).")
    formats: tuple[str, ...] = setting(("onnx", "tflite"), "Comma-separated export targets.")
    int8: bool = setting(True, "Also export int8 files (calibrated on the coreset).")
    device_epochs: int = setting(100, "Epochs of on-device `full` training.")
    bench_runs: int = setting(200, "Timed inferences per exported file.", result=False)
    seed: int = setting(0, SEED_HELP)
    workers: int = setting(1, "Synthesis and feature-extraction processes.", result=False)

    def __post_init__(self) -> None:
        if len(self.words) < 2 or len(set(self.words)) != len(self.words):
            raise ValueError(f"quickstart needs at least two distinct words, got {list(self.words)}")
        for name in ("per_word", "ipc", "rfad_steps", "rfad_batch", "width", "epochs", "seeds", "device_epochs", "bench_runs", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"quickstart {name} must be >= 1, got {getattr(self, name)}")
        from edgedistill.methods.rfad import INITS  # torch-free at import

        if self.rfad_init not in INITS:
            raise ValueError(f"quickstart rfad_init {self.rfad_init!r} unknown; choose one of {', '.join(INITS)}")

    @classmethod
    def tiny(cls, **changes: Any) -> "QuickstartConfig":
        """A few-word, few-step configuration for tests and smoke runs."""
        base = cls(per_word=30, speakers=30, ipc=5, rfad_steps=80, epochs=10, min_steps=40, seeds=2, device_epochs=10,
                   bench_runs=20)
        return replace(base, **changes)



@dataclass
class Run:
    """One quickstart run: its folder, its settings and the figures each stage produced."""

    out: Path
    config: QuickstartConfig
    progress: bool = True
    results: dict[str, Any] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)
