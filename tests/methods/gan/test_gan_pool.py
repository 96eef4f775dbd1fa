"""The L_SML pool: snapshots come from `train_model` on a registered model; drawing loads one of them."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.methods.gan.config import GANConfig  # noqa: E402
from edgedistill.methods.gan.pool import CheckpointPool, accuracy_and_uar, snapshot_states  # noqa: E402
from edgedistill.training import TrainConfig, train_model  # noqa: E402

KWARGS = {"width": 4}


@pytest.fixture(scope="module")
def small_train(toy_featureset):
    train = toy_featureset.by_split("train")
    return np.ascontiguousarray(train.x[:, :13, ::4]), train.y, list(train.labels)


def test_snapshots_are_train_model_cycles_warm_started(small_train):
    x, y, labels = small_train
    states = snapshot_states("cnn4", KWARGS, x, y, labels, epochs=5, every=2, seed=7, device="cpu", threads=1)
    assert len(states) == 2  # 5 // 2 cycles; the odd epoch is dropped
    first = train_model("cnn4", x, y, labels, TrainConfig(min_steps=0, epochs=2, device="cpu", threads=1, seed=7), model_kwargs=KWARGS,
                        progress=False)
    second = train_model("cnn4", x, y, labels, TrainConfig(min_steps=0, epochs=2, device="cpu", threads=1, seed=8), model_kwargs=KWARGS,
                         init_state=first.state_dict(), progress=False)
    for state, trained in zip(states, (first, second)):
        for key, value in trained.state_dict().items():
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert not torch.equal(states[0]["classifier.weight"], states[1]["classifier.weight"])
    with pytest.raises(ValueError, match="every"):
        snapshot_states("cnn4", KWARGS, x, y, labels, epochs=1, every=2, seed=0)


def test_pool_draws_its_checkpoints_frozen(small_train):
    x, y, labels = small_train
    pool = CheckpointPool.train(x, y, labels, model="cnn4", model_kwargs=KWARGS, models=2, epochs=20, every=10, seed=0,
                                device=torch.device("cpu"), threads=1)
    assert len(pool) == 4 and type(pool.model).__name__ == "CNN4"
    assert not any(p.requires_grad for p in pool.model.parameters())
    torch.manual_seed(0)
    for _ in range(6):
        weight = pool.draw().classifier.weight
        assert any(torch.equal(weight, c["classifier.weight"]) for c in pool.checkpoints)
    # the last snapshot is a trained classifier: well above chance (0.25) on its own training data
    pool.model.load_state_dict(pool.checkpoints[-1])
    with torch.no_grad():
        predicted = pool.model(torch.as_tensor(x)).argmax(1).numpy()
    assert accuracy_and_uar(y, predicted, len(labels))["uar"] > 0.5
    with pytest.raises(ValueError, match="no checkpoints"):
        CheckpointPool("cnn4", KWARGS, 4, (13, 26), [], torch.device("cpu"))


def test_accuracy_and_uar_against_hand_counts():
    scores = accuracy_and_uar(np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 1, 1, 2, 0]), 4)
    assert scores["accuracy"] == pytest.approx(3 / 6)
    assert scores["uar"] == pytest.approx((1 / 3 + 1 + 1 / 2) / 3)  # class 3 absent from y_true


def test_pool_model_must_be_registered():
    with pytest.raises(ValueError, match="pool_model: unknown model 'smallcnn'; choose one of cnn4"):
        GANConfig(pool_model="smallcnn")
    assert GANConfig.from_dict(GANConfig(pool_model="dscnn-s", pool_width=8).to_dict()).pool_model == "dscnn-s"
