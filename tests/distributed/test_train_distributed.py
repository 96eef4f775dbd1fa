"""Classifier training under DistributedDataParallel (gloo on CPU): two ranks give the weights of
one process to float tolerance, a checkpoint of a two-rank run resumes in one process, and
`train --nproc 2` writes one artifact from rank 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.data.featureset import FeatureSet  # noqa: E402
from edgedistill.model_artifact import load_model  # noqa: E402
from edgedistill.train_config import TrainConfig  # noqa: E402
from edgedistill.training import train_model  # noqa: E402

WORKER = Path(__file__).with_name("rank_worker.py")
MODEL = {"width": 4, "dropout": 0.0}  # as rank_worker.TRAIN_MODEL
CONFIG = TrainConfig(epochs=2, min_steps=0, batch_size=16, threads=1, device="cpu", augment=True)
ATOL = 1e-5


def torchrun(nproc: int, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-3000:]


def single(feat: Path, config: TrainConfig, **kwargs):
    train = FeatureSet.load(feat).by_split("train")
    return train_model("cnn4", np.asarray(train.x), train.y, train.labels, config, model_kwargs=MODEL, progress=False,
                       **kwargs)


def assert_same_weights(ranks, trained) -> None:
    state = trained.module.state_dict()
    for key, value in state.items():
        np.testing.assert_allclose(ranks[f"param.{key}"], value.numpy(), atol=ATOL, rtol=1e-4, err_msg=key)


def test_two_ranks_train_the_weights_of_one_process(toy_features_dir, tmp_path):
    out = tmp_path / "ranks.npz"
    torchrun(2, str(WORKER), "train", str(toy_features_dir), json.dumps(CONFIG.to_dict()), str(out))
    trained = single(toy_features_dir, CONFIG)
    with np.load(out) as ranks:
        assert int(ranks["world_size"]) == 2
        assert_same_weights(ranks, trained)
        np.testing.assert_allclose(ranks["losses"], [h["loss"] for h in trained.history], rtol=1e-5)
    # training moved the weights far beyond the tolerance
    untrained = single(toy_features_dir, CONFIG.replace(epochs=1))
    moved = max(float((a - b).abs().max()) for a, b in zip(trained.module.state_dict().values(),
                                                           untrained.module.state_dict().values()))
    assert moved > 100 * ATOL


def test_two_rank_checkpoint_resumes_in_one_process(toy_features_dir, tmp_path):
    checkpoint = tmp_path / "run.ckpt.safetensors"
    torchrun(2, str(WORKER), "train", str(toy_features_dir), json.dumps(CONFIG.replace(epochs=1).to_dict()),
             str(tmp_path / "half.npz"), str(checkpoint))
    assert checkpoint.exists()
    resumed = single(toy_features_dir, CONFIG, checkpoint=checkpoint, resume=True)
    straight = single(toy_features_dir, CONFIG)
    for (key, a), b in zip(resumed.module.state_dict().items(), straight.module.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=ATOL, rtol=1e-4, err_msg=key)


def test_train_nproc_writes_one_artifact(toy_features_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "edgedistill", "train", str(toy_features_dir), "--out", str(tmp_path / "model"),
           "--nproc", "2", "--model-arg", "width=4", "--model-arg", "dropout=0", "--epochs", "1", "--min-steps", "0",
           "--batch-size", "16", "--device", "cpu", "--threads", "1", "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # rank 0 alone prints
    assert summary["epochs_run"] == 1
    loaded = load_model(tmp_path / "model")
    assert loaded.meta.extra["world_size"] == 2 and loaded.train_config.nproc == 2
    assert not (tmp_path / "model.ckpt.safetensors").exists()
