"""`full` mode: the device trains the whole temporal CNN by running the exported train-step graph."""

import numpy as np
import pytest

from edgedistill.device.predictor import load_predictor
from edgedistill.device.train import train

ACCURACY_FLOOR = 0.75


def test_full_training_from_feature_set(tmp_path, train_step_export, toy_features_dir, toy_splits):
    path, summary = train("full", train_step_export, toy_features_dir, tmp_path / "full", data_split="train",
                          eval_data=toy_features_dir, eval_split="test", options={"epochs": 15, "lr": 1e-2})
    assert summary["final_loss"] < 0.5 * summary["first_loss"]
    assert summary["accuracy"] >= ACCURACY_FLOOR
    model = load_predictor(path)
    _, test = toy_splits
    assert np.mean(model.predict_proba(test.x).argmax(1) == test.y) == pytest.approx(summary["accuracy"])


def test_full_refuses_a_non_step_graph(tmp_path, classifier_export, toy_features_dir):
    with pytest.raises(ValueError, match="train-step"):
        train("full", classifier_export, toy_features_dir, tmp_path / "x")


def test_dead_channels_do_not_make_nan(train_step_export, toy_featureset):
    """Parameters with an exactly zero gradient (here: a whole conv channel zeroed, so ReLU keeps it dead) stay finite."""
    import numpy as np

    from edgedistill.device import full
    from edgedistill.device.runtime import load_session

    session = load_session(train_step_export / "train_step.onnx")
    params = np.load(train_step_export / "init.npz")["params"].astype(np.float32).copy()
    taps = 3 * toy_featureset.config.shape[0]  # kernel 3 x bands
    params[: taps] = 0.0  # w1 row 0: channel 0 of conv1 outputs relu(b1[0] = 0) = 0 everywhere
    x = toy_featureset.x[:4]
    targets = np.eye(len(toy_featureset.labels), dtype=np.float32)[toy_featureset.y[:4]]
    zeros = np.zeros_like(params)
    _, new, _, _ = full.train_step(session, params, zeros, zeros, x, targets, *full.band_stats(x), 1e-3, 1, 0.0)
    assert np.all(np.isfinite(new))
