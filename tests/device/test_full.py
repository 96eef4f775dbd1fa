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
