"""Shared fixtures: seeded RNG, a generated toy audio feature set, the shared real data folder.

The toy set is synthesised here (class-specific chirps and harmonics with per-"speaker" pitch,
gain, time shift and noise), so the default test run needs no dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")).resolve()


def toy_waveforms(n_classes: int = 4, per_class: int = 24, n_speakers: int = 6, sample_rate: int = 16000,
                  seconds: float = 1.0, seed: int = 0):
    """Labelled toy clips: class c is a chirp from f_c with harmonics; speakers shift pitch.

    Returns (waves float32 (N, samples), y int (N,), speaker str (N,)).
    """
    rng = np.random.default_rng(seed)
    n = int(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    waves, labels, speakers = [], [], []
    for c in range(n_classes):
        base = 300.0 * (1.5 ** c)
        for i in range(per_class):
            spk = i % n_speakers
            pitch = 1.0 + 0.06 * (spk - n_speakers / 2) / n_speakers + rng.normal(0, 0.01)
            f0 = base * pitch
            sweep = (1 + (c % 2)) * 0.5 * f0 * t  # odd classes sweep faster
            phase = 2 * np.pi * (f0 * t + 0.5 * sweep * t)
            tone = sum(np.sin(k * phase) / k for k in range(1, 4))
            onset, length = rng.uniform(0.05, 0.3), rng.uniform(0.4, 0.6)
            envelope = np.clip((t - onset) / 0.03, 0, 1) * np.clip((onset + length - t) / 0.05, 0, 1)
            wave = 0.3 * rng.uniform(0.5, 1.5) * envelope * tone + rng.normal(0, 0.01, n)
            waves.append(wave.astype(np.float32))
            labels.append(c)
            speakers.append(f"spk{spk}")
    return np.stack(waves), np.array(labels), np.array(speakers, dtype=object)


def make_toy_featureset(n_classes: int = 4, per_class: int = 24, seed: int = 0, preset: str = "kws"):
    """A FeatureSet of toy clips with a speaker-disjoint split (train / valid / test)."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import extract_batch, get_preset

    config = get_preset(preset)
    waves, y, speakers = toy_waveforms(n_classes, per_class, sample_rate=config.sample_rate,
                                       seconds=config.clip_seconds, seed=seed)
    split_of = {"spk0": "test", "spk1": "valid"}
    split = np.array([split_of.get(s, "train") for s in speakers], dtype=object)
    return FeatureSet(
        x=extract_batch(waves, config), y=y, labels=[f"class{c}" for c in range(n_classes)], config=config,
        split=split, speaker=speakers, path=np.array([f"toy/{i}.wav" for i in range(len(y))], dtype=object),
        duration=np.full(len(y), config.clip_seconds), dataset="toy",
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def toy_featureset():
    return make_toy_featureset()


@pytest.fixture(scope="session")
def toy_features_dir(tmp_path_factory, toy_featureset) -> Path:
    """The toy feature set saved as a feature cache directory (read-only for tests)."""
    return toy_featureset.save(tmp_path_factory.mktemp("feat") / "toy")


def save_toy_generator(path: Path, pool, labels: list[str] | None = None) -> Path:
    """An untrained gan-cnn generator artifact for `pool`'s features and classes (or `labels`)."""
    torch = pytest.importorskip("torch")
    from edgedistill.methods.gan.architectures import build
    from edgedistill.methods.gan.artifact import TrainedGenerator, save_generator

    kwargs = {"n_classes": pool.n_classes, "input_shape": pool.config.shape, "z_dim": 8, "width": 8}
    module, _ = build("gan-cnn", **kwargs)
    module.norm.set_stats(torch.as_tensor(np.asarray(pool.x)))
    gen = TrainedGenerator(module=module.eval(), arch="gan-cnn", builder_kwargs=kwargs, labels=labels or list(pool.labels),
                           config=pool.config, class_prior=pool.class_counts() / len(pool), gan_config={"steps": 0})
    return save_generator(path, gen)


@pytest.fixture(scope="session")
def generator_factory():
    """`save_toy_generator`, for tests that need a generator with other classes."""
    return save_toy_generator


@pytest.fixture(scope="session")
def toy_generator_dir(tmp_path_factory, toy_featureset) -> Path:
    """A generator artifact (untrained) matching the toy feature set."""
    return save_toy_generator(tmp_path_factory.mktemp("generator") / "gen", toy_featureset.by_split("train"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data with the real audio samples; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real audio samples not found at {SHARED_DATA} (set EDGEDISTILL_SHARED_DATA)")
    return SHARED_DATA


def _limit_threads() -> None:
    """Keep torch to EDGEDISTILL_TEST_THREADS threads (default 2) so parallel runs do not oversubscribe."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(int(os.environ.get("EDGEDISTILL_TEST_THREADS", "2")))


_limit_threads()
