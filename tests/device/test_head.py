"""`head` mode: numpy gradients match finite differences; a head on a frozen backbone learns the toy set."""

import numpy as np
import pytest

from edgedistill.device.head import HeadConfig, init_head, loss_and_grads
from edgedistill.device.predictor import load_predictor
from edgedistill.device.train import train

ACCURACY_FLOOR = 0.75


@pytest.mark.parametrize("hidden", [0, 6])
def test_gradients_match_finite_differences(rng, hidden):
    z, y = rng.standard_normal((9, 5)), rng.integers(0, 3, 9)
    params = init_head(5, 3, hidden, rng)
    params["b"] += 0.1
    _, grads = loss_and_grads(params, z, y, weight_decay=0.05)
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            up, _ = loss_and_grads(params, z, y, 0.05)
            value[idx] = old - eps
            down, _ = loss_and_grads(params, z, y, 0.05)
            value[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("hidden", [0, 16])
def test_head_on_backbone_learns(tmp_path, backbone_export, toy_features_dir, hidden):
    path, summary = train("head", backbone_export, toy_features_dir, tmp_path / "head", data_split="train",
                          eval_data=toy_features_dir, eval_split="test", options={"hidden": hidden, "epochs": 60})
    assert summary["final_loss"] < summary["first_loss"]
    assert summary["accuracy"] >= ACCURACY_FLOOR and summary["train_accuracy"] >= ACCURACY_FLOOR
    assert load_predictor(path).labels == [f"class{c}" for c in range(4)]


def test_head_config_is_checked():
    with pytest.raises(ValueError, match="lr > 0"):
        HeadConfig(lr=0.0)
