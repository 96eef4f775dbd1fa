"""GAN distillation data-parallel over torch.distributed ranks (gloo on CPU): two ranks train the
generator of one process to float tolerance (same L_SML pool, global batch-norm statistics,
global feature matching), a state written by two ranks resumes in one process, and
`distill gan --nproc 2` writes one artifact from rank 0; a killed two-rank run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.data.featureset import FeatureSet  # noqa: E402
from edgedistill.methods.gan.artifact import load_generator  # noqa: E402
from edgedistill.methods.gan.config import GANConfig  # noqa: E402
from edgedistill.methods.gan.loop import CHECKPOINT_FILE, distill  # noqa: E402
from edgedistill.methods.gan.pool import CheckpointPool  # noqa: E402

WORKER = Path(__file__).with_name("rank_worker.py")
# two pool classifiers: one trained by each rank, then exchanged
SMALL = dict(z_dim=8, width=8, batch_size=16, n_critic=1, pool_models=2, pool_epochs=1, pool_every=1, pool_width=4,
             device="cpu", threads=1)
ATOL = 2e-5
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def small_feat(tmp_path_factory, toy_featureset) -> Path:
    """The toy set at 13 MFCCs and every 4th frame, saved as a feature cache (train split only used)."""
    from edgedistill.features import FeatureConfig

    x = np.ascontiguousarray(toy_featureset.x[:, :13, ::4])
    data = FeatureSet(x=x, y=toy_featureset.y, labels=toy_featureset.labels, config=FeatureConfig(n_mfcc=13, hop_ms=40.0),
                      split=toy_featureset.split, speaker=toy_featureset.speaker, path=toy_featureset.path, dataset="toy13")
    return data.save(tmp_path_factory.mktemp("gan-feat") / "toy13")


def torchrun(nproc: int, *args: str) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]


def train_split(feat: Path):
    return FeatureSet.load(feat).by_split("train")


def assert_same(state: dict, params, scale: float = 1.0) -> None:
    for key, value in state.items():
        np.testing.assert_allclose(params[f"param.{key}"], value.numpy(), atol=ATOL * scale, rtol=1e-4, err_msg=key)


@pytest.mark.parametrize("arch", ["gan-cnn", "gan-att"])
def test_two_ranks_train_the_generator_of_one_process(small_feat, tmp_path, arch):
    config = GANConfig(arch=arch, steps=4, **SMALL)
    out = tmp_path / "ranks.npz"
    torchrun(2, str(WORKER), "gan", str(small_feat), json.dumps(config.to_dict()), str(out))
    train = train_split(small_feat)
    single = distill(train, config, progress=False)
    assert single.gan_config["nproc"] == 1
    with np.load(out) as ranks:
        assert int(ranks["world_size"]) == 2
        assert_same(single.module.state_dict(), ranks)
        np.testing.assert_allclose(ranks["loss_g"], [h["loss_g"] for h in single.history], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ranks["loss_d"], [h["loss_d"] for h in single.history], rtol=1e-4, atol=1e-5)
    # the tolerance is far below what one step changes
    shorter = distill(train, config.replace(steps=3), progress=False).module.state_dict()
    moved = max(float((a - b).abs().max()) for a, b in zip(single.module.state_dict().values(), shorter.values()))
    assert moved > 100 * ATOL


def test_pool_trained_once_per_classifier_is_the_same_on_every_rank(small_feat, tmp_path):
    """One rank trains each classifier; the exchanged pool equals the one-process pool exactly."""
    script = tmp_path / "pool.py"
    script.write_text(
        "import sys, numpy as np, torch\n"
        "from edgedistill import distributed\n"
        "from edgedistill.data.featureset import FeatureSet\n"
        "from edgedistill.methods.gan.pool import CheckpointPool\n"
        "torch.set_num_threads(1)\n"
        "device = distributed.setup('cpu')\n"
        "t = FeatureSet.load(sys.argv[1]).by_split('train')\n"
        "pool = CheckpointPool.train(t.x, t.y, list(t.labels), model='cnn4', model_kwargs={'width': 4}, models=3, epochs=2,\n"
        "                            every=1, seed=0, device=device, threads=1)\n"
        "np.savez(f'{sys.argv[2]}.{distributed.rank()}.npz', **{f'{i}.{k}': v.numpy() for i, s in enumerate(pool.checkpoints)\n"
        "                                                   for k, v in s.items()})\n")
    torchrun(2, str(script), str(small_feat), str(tmp_path / "pool"))
    train = train_split(small_feat)
    single = CheckpointPool.train(train.x, train.y, list(train.labels), model="cnn4", model_kwargs={"width": 4}, models=3,
                                  epochs=2, every=1, seed=0, device=torch.device("cpu"), threads=1)
    assert len(single) == 6
    with np.load(tmp_path / "pool.0.npz") as rank0, np.load(tmp_path / "pool.1.npz") as rank1:
        for i, state in enumerate(single.checkpoints):
            for key, value in state.items():
                np.testing.assert_array_equal(rank0[f"{i}.{key}"], rank1[f"{i}.{key}"], err_msg=f"{i}.{key}")
                np.testing.assert_allclose(rank0[f"{i}.{key}"], value.numpy(), atol=1e-6, rtol=1e-5, err_msg=f"{i}.{key}")


def test_state_of_two_ranks_resumes_in_one_process(small_feat, tmp_path):
    config = GANConfig(steps=4, checkpoint_every=1, **SMALL)
    checkpoint = tmp_path / "ckpt"
    torchrun(2, str(WORKER), "gan", str(small_feat), json.dumps(config.replace(steps=2).to_dict()),
             str(tmp_path / "half.npz"), str(checkpoint))
    saved = torch.load(checkpoint / CHECKPOINT_FILE, weights_only=True)
    assert saved["step"] == 2 and saved["config"]["nproc"] == 2
    train = train_split(small_feat)
    resumed = distill(train, config, progress=False, checkpoint=checkpoint, resume=True)
    straight = distill(train, config, progress=False)
    for key, value in straight.module.state_dict().items():
        np.testing.assert_allclose(resumed.module.state_dict()[key].numpy(), value.numpy(), atol=ATOL, rtol=1e-4,
                                   err_msg=key)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]


def cli(feat: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edgedistill", "distill", "gan", str(feat), "--out", str(out), "--z-dim", "8",
            "--width", "8", "--batch-size", "16", "--n-critic", "1", "--pool-models", "2", "--pool-epochs", "1",
            "--pool-every", "1", "--pool-width", "4", "--valid-split", "", "--device", "cpu", "--threads", "1",
            "-q", "--json", *extra]


def test_nproc_2_writes_one_artifact_equal_to_one_process(small_feat, tmp_path):
    two = subprocess.run(cli(small_feat, tmp_path / "two", "--steps", "3", "--nproc", "2"), capture_output=True,
                         text=True, timeout=240, env=ENV)
    assert two.returncode == 0, two.stderr[-3000:]
    summary = json.loads(two.stdout)  # rank 0 alone prints
    assert summary["world_size"] == 2 and summary["steps"] == 3
    assert not (tmp_path / "two.ckpt").exists()
    one = subprocess.run(cli(small_feat, tmp_path / "one", "--steps", "3"), capture_output=True, text=True, timeout=240,
                         env=ENV)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = load_generator(tmp_path / "two"), load_generator(tmp_path / "one")
    assert a.gan_config["nproc"] == 2 and b.gan_config["nproc"] == 1
    for key, value in b.module.state_dict().items():
        np.testing.assert_allclose(a.module.state_dict()[key].numpy(), value.numpy(), atol=ATOL, rtol=1e-4, err_msg=key)


def test_killed_two_rank_run_resumes_in_one_process(small_feat, tmp_path):
    steps = "12"
    # the command `--nproc 2` runs (torchrun starts the ranks in their own sessions and stops them on SIGTERM)
    args = cli(small_feat, tmp_path / "gen", "--steps", steps, "--checkpoint-every", "1")
    run = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
                            *args[2:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    state = tmp_path / "gen.ckpt" / CHECKPOINT_FILE
    deadline = time.monotonic() + 180
    while not state.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGTERM)  # mid-run: torchrun terminates both ranks and exits
    stderr = run.communicate(timeout=90)[1]
    assert run.returncode != 0, stderr[-3000:]
    assert state.exists(), stderr[-3000:]
    killed_at = int(torch.load(state, weights_only=True)["step"])
    assert 1 <= killed_at < int(steps), killed_at
    assert not (tmp_path / "gen").exists()
    resumed = subprocess.run(cli(small_feat, tmp_path / "gen", "--steps", steps, "--resume"), capture_output=True,
                             text=True, timeout=240, env=ENV)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = subprocess.run(cli(small_feat, tmp_path / "straight", "--steps", steps), capture_output=True, text=True,
                              timeout=240, env=ENV)
    assert straight.returncode == 0, straight.stderr[-3000:]
    a, b = load_generator(tmp_path / "gen"), load_generator(tmp_path / "straight")
    for key, value in b.module.state_dict().items():
        np.testing.assert_allclose(a.module.state_dict()[key].numpy(), value.numpy(), atol=ATOL, rtol=1e-4, err_msg=key)
