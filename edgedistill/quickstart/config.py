"""Quickstart settings and the run state shared by its stages. Must not import torch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgedistill.config import SEED_HELP, Settings, setting

DEFAULT_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


@dataclass(frozen=True)
class QuickstartConfig(Settings):
    """What the quickstart runs. The defaults aim at under 4 minutes on two idle CPU cores.

    words / per_word: the synthesised keywords and clips of each (speaker-disjoint splits).
    speakers: synthetic speakers (default: about one per three clips of a word).
    budgets: samples per class of the curve; one RFAD coreset per budget, and as many random real
    clips per class. rfad_steps / rfad_batch: RFAD optimisation steps and real clips per step.
    rfad_time_pool: a kernel averaged over time (words sit anywhere in the 1 s clip).
    rfad_init: where the coreset starts ("kmeans": the clips nearest k-means centroids of each
    class; "real": random clips). model / width / epochs / min_steps / batch_size: the classifier
    trained on every point of the curve (min_steps: a floor on optimiser steps, so a 20-clip set
    gets the updates it needs). validations: epochs of each run scored on the valid split (the best
    is kept; a 20-clip set trains 120 one-step epochs and would spend more time scoring than
    training). seeds: training seeds per point (mean ± std).
    al_strategy / al_rounds: the active-learning point, at the largest budget's number of clips.
    targets / int8: what `edgedistill export --target` writes for the model trained on the largest
    coreset, plus the device bundle. device_epochs: epochs of on-device `full` training.
    listen_repeats: how often each keyword is spoken in the stream the device listens to.
    new_word / new_clips: the word a new user (an unseen voice) teaches the device, and how many
    clips of it they record.
    bench_runs: timed inferences per exported file. seed: every stage's seed (each stage and job
    derives its own from it). workers: parallel processes (one torch thread each: the figures do
    not depend on it).
    """

    words: tuple[str, ...] = setting(DEFAULT_WORDS, "Comma-separated keywords to synthesise.")
    per_word: int = setting(80, "Synthesised clips per word (speaker-disjoint train/valid/test splits).")
    speakers: int | None = setting(None, "Synthetic speakers (default: about one per three clips of a word).")
    budgets: tuple[int, ...] = setting((2, 5, 10), "Comma-separated samples per class of the curve (one RFAD coreset each).")
    rfad_steps: int = setting(120, "RFAD optimisation steps per coreset.")
    rfad_batch: int = setting(64, "RFAD real clips per step.")
    rfad_time_pool: bool = setting(True, "RFAD kernel averaged over time (words sit anywhere in the 1 s clip).")
    rfad_init: str = setting("kmeans", "Where the coreset starts: kmeans (clips nearest k-means centroids) or real.")
    model: str = setting("cnn4", "Classifier trained at every point of the curve.")
    width: int = setting(16, "Width of the classifier.")
    epochs: int = setting(20, "Training epochs per model (at least --min-steps optimiser steps).")
    min_steps: int = setting(120, "Optimiser steps at least per model (a 20-clip set gets the updates it needs).")
    batch_size: int = setting(32, "Clips per optimiser step.")
    validations: int = setting(10, "Validation scores per training run, evenly spaced (the best scored epoch is kept).")
    seeds: int = setting(3, "Training seeds per point of the curve (mean ± std).")
    al_strategy: str = setting("entropy", "Active-learning strategy of the AL point (random, entropy, variation-ratios, bald, margin).")
    al_rounds: int = setting(1, "Active-learning acquisition rounds to each budget of the curve.")
    targets: tuple[str, ...] = setting(("onnx", "tflite"), "Comma-separated export targets for the chosen model (the "
                                                           "device bundle is always written).")
    int8: bool = setting(True, "Also export int8 files (calibrated on the coreset).")
    device_epochs: int = setting(100, "Epochs of on-device `full` training.")
    listen_repeats: int = setting(2, "Times each keyword is spoken in the `listen` stream (by the test split's unseen voices).")
    new_word: str = setting("seven", "The word the device learns in the `learn` stage (not one of --words).")
    new_clips: int = setting(5, "Clips of the new word spoken by the new user (a voice no clip was synthesised with).")
    bench_runs: int = setting(200, "Timed inferences per exported file.", result=False)
    seed: int = setting(0, SEED_HELP)
    workers: int = setting(2, "Parallel processes for RFAD and training jobs (one torch thread each).", result=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budgets", tuple(sorted({int(b) for b in self.budgets})))
        object.__setattr__(self, "targets", tuple(self.targets))
        if len(self.words) < 2 or len(set(self.words)) != len(self.words):
            raise ValueError(f"quickstart needs at least two distinct words, got {list(self.words)}")
        if self.new_word in self.words or not self.new_word.strip() or "/" in self.new_word:
            raise ValueError(f"quickstart new_word {self.new_word!r} must be a new word (not one of {list(self.words)}, no '/')")
        if not self.budgets or min(self.budgets) < 1:
            raise ValueError(f"quickstart budgets must be samples per class >= 1, got {list(self.budgets)}")
        for name in ("per_word", "rfad_steps", "rfad_batch", "width", "epochs", "batch_size", "seeds", "al_rounds",
                     "validations", "device_epochs", "listen_repeats", "new_clips", "bench_runs", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"quickstart {name} must be >= 1, got {getattr(self, name)}")
        if self.min_steps < 0:
            raise ValueError(f"quickstart min_steps must be >= 0, got {self.min_steps}")
        from edgedistill.methods.acquisition import STRATEGIES
        from edgedistill.methods.rfad import INITS  # torch-free at import

        if self.rfad_init not in INITS:
            raise ValueError(f"quickstart rfad_init {self.rfad_init!r} unknown; choose one of {', '.join(INITS)}")
        if self.al_strategy not in STRATEGIES:
            raise ValueError(f"quickstart al_strategy {self.al_strategy!r} unknown; choose one of {', '.join(STRATEGIES)}")
        unknown = [t for t in self.targets if t not in ("onnx", "tflite")]
        if unknown or not self.targets:
            raise ValueError(f"quickstart targets {list(self.targets)}: choose from onnx, tflite (the bundle is always written)")

    @property
    def chosen_ipc(self) -> int:
        """The budget whose coreset-trained model is exported and taken to the device: the largest."""
        return self.budgets[-1]

    @classmethod
    def tiny(cls, **changes: Any) -> "QuickstartConfig":
        """A smoke run: four words, two budgets, few steps, one seed, one export target."""
        base = cls(words=("yes", "no", "up", "down"), per_word=16, speakers=16, budgets=(1, 2), rfad_steps=10,
                   rfad_batch=32, epochs=2, min_steps=10, seeds=1, al_rounds=1, targets=("onnx",),
                   device_epochs=5, bench_runs=20)
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

    def say(self, message: str) -> None:
        """One indented status line under the stage's header (silent when the run is quiet)."""
        from edgedistill.progress import say

        say(f"  {message}", self.progress)

    @staticmethod
    def clear(*folders: Path) -> None:
        """Remove what an interrupted stage left (artifact writers never overwrite a folder)."""
        import shutil

        for folder in folders:
            if folder.exists():
                shutil.rmtree(folder)

    def seed(self, stage: str, *parts: int) -> int:
        """A seed of its own for each stage (and job), derived from the run's seed: stages rerun
        alone draw what they drew in the full run."""
        import zlib

        return (self.config.seed * 1_000_003 + zlib.crc32(stage.encode()) + sum(p * 7919 ** (i + 1) for i, p in enumerate(parts))) % 2**31
