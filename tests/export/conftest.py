"""Export test fixtures: a small cnn4 trained on the toy feature set and saved as a model artifact."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_models


@pytest.fixture(scope="session")
def toy_model_dir(tmp_path_factory, toy_featureset) -> Path:
    """cnn4 (width 4) trained for a few epochs on the toy train split, saved as an artifact."""
    from edgedistill.model_artifact import save_model
    from edgedistill.training import TrainConfig, train_model

    train = toy_featureset.by_split("train")
    config = TrainConfig(min_steps=0, epochs=8, batch_size=32, lr=3e-3, augment=False, device="auto", threads=1, seed=0)
    trained = train_model("cnn4", train.x, train.y, toy_featureset.labels, config, model_kwargs={"width": 4}, progress=False)
    return save_model(tmp_path_factory.mktemp("model") / "cnn4", trained, toy_featureset.config, seed=0,
                      source_manifest_hash=toy_featureset.manifest_hash(), metrics={}, extra={"training_data": {"source": "toy"}})


@pytest.fixture(scope="session")
def toy_audio(toy_featureset):
    """(waves (N, samples), y, speakers) of the same toy clips the toy feature set was made from."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py")
    root = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root)
    config = toy_featureset.config
    return root.toy_waveforms(sample_rate=config.sample_rate, seconds=config.clip_seconds, seed=0)
