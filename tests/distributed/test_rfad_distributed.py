"""RFAD data-parallel over torch.distributed ranks (gloo on CPU): two ranks give the coreset of one
process to float tolerance, a checkpoint written at one world size resumes at another, and
`--nproc 2` re-launches the command under torchrun with rank 0 alone writing the artifact."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.data.featureset import FeatureSet  # noqa: E402
from edgedistill.methods.coreset import load_coreset  # noqa: E402
from edgedistill.methods.rfad import RFADConfig, distill  # noqa: E402

WORKER = Path(__file__).with_name("rank_worker.py")
SMALL = dict(ipc=2, n_nets=2, width=4, n_features=16, batch_size=24, threads=1, device="cpu", eval_every=2, init="real")
ATOL = 2e-5  # float32 sums of the two ranks' gradient halves vs one sum; Adam keeps them at this level


def torchrun(nproc: int, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGEDISTILL_TEST_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def train_split(feat: Path):
    return FeatureSet.load(feat).by_split("train")


@pytest.mark.parametrize("loss", ["mse", "platt"])
def test_two_ranks_equal_one_process(toy_features_dir, tmp_path, loss):
    config = RFADConfig(steps=4, loss=loss, learn_labels=loss == "platt", **SMALL)
    out = tmp_path / "ranks.npz"
    torchrun(2, str(WORKER), "rfad", str(toy_features_dir), json.dumps(config.to_dict()), str(out))
    train = train_split(toy_features_dir)
    single = distill(train, config, progress=False)
    with np.load(out) as ranks:
        assert int(ranks["world_size"]) == 2
        np.testing.assert_allclose(ranks["x"], single.x, atol=ATOL * float(np.abs(single.x).max()), rtol=0)
        np.testing.assert_allclose(ranks["losses"], [r["loss"] for r in single.meta.extra["history"] if "loss" in r],
                                   rtol=1e-5)
    # the tolerance is far below what a step changes
    assert np.abs(single.x - distill(train, config.replace(steps=3), progress=False).x).max() > 100 * ATOL


def test_checkpoint_of_two_ranks_resumes_in_one(toy_features_dir, tmp_path):
    config = RFADConfig(steps=4, **SMALL)
    checkpoint = tmp_path / "run.ckpt.npz"
    torchrun(2, str(WORKER), "rfad", str(toy_features_dir), json.dumps(config.replace(steps=2).to_dict()),
             str(tmp_path / "half.npz"), str(checkpoint))
    assert checkpoint.exists()
    train = train_split(toy_features_dir)
    resumed = distill(train, config, progress=False, checkpoint=checkpoint)
    straight = distill(train, config, progress=False)
    np.testing.assert_allclose(resumed.x, straight.x, atol=ATOL * float(np.abs(straight.x).max()), rtol=0)


def test_nproc_relaunches_under_torchrun_and_rank0_writes(toy_features_dir, tmp_path):
    args = ["--steps", "3", "--ipc", "2", "--n-nets", "2", "--width", "4", "--n-features", "16", "--batch-size", "24",
            "--init", "real", "--device", "cpu", "--threads", "1", "-q", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "edgedistill", "distill", "rfad", str(toy_features_dir), "--out",
                          str(tmp_path / "two"), "--nproc", "2", *args], capture_output=True, text=True, timeout=180, env=env)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "edgedistill", "distill", "rfad", str(toy_features_dir), "--out",
                          str(tmp_path / "one"), *args], capture_output=True, text=True, timeout=180, env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    # one JSON summary (rank 0 only), the artifact written once, no checkpoint left behind
    summary = json.loads(two.stdout)
    assert summary["world_size"] == 2 and summary["steps_run"] == 3
    assert not (tmp_path / "two.ckpt.npz").exists()
    a, b = load_coreset(tmp_path / "two"), load_coreset(tmp_path / "one")
    assert a.meta.method["config"]["nproc"] == 2
    np.testing.assert_allclose(a.x, b.x, atol=ATOL * float(np.abs(b.x).max()), rtol=0)
