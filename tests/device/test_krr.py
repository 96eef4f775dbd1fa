"""`krr` mode: closed-form KRR in numpy equals the textbook solve; LOO formula; accuracy from a coreset."""

import numpy as np
import pytest

from edgedistill.device.krr import krr_fit, krr_reference, platt_scale, regression_targets
from edgedistill.device.predictor import load_predictor
from edgedistill.device.runtime import load_session
from edgedistill.device.train import train

ACCURACY_FLOOR = 0.75  # toy test speaker, 4 classes, 10 coreset clips per class


def test_krr_fit_equals_reference_solve(rng):
    phi_c, phi_b = rng.standard_normal((30, 50)), rng.standard_normal((8, 50))
    targets = regression_targets(rng.integers(0, 3, 30), 3)
    w, _ = krr_fit(phi_c, targets, reg=1e-2)
    np.testing.assert_allclose(phi_b @ w, krr_reference(phi_c, targets, phi_b, 1e-2), rtol=1e-8, atol=1e-10)


def test_leave_one_out_formula_matches_refitting(rng):
    phi, y = rng.standard_normal((12, 20)), rng.integers(0, 3, 12)
    targets = regression_targets(y, 3)
    _, loo = krr_fit(phi, targets, reg=0.1)
    ridge = 0.1 * np.mean(np.sum(phi**2, axis=1))
    for i in range(12):
        keep = np.arange(12) != i
        k = phi[keep] @ phi[keep].T
        expected = phi[i] @ phi[keep].T @ np.linalg.solve(k + ridge * np.eye(11), targets[keep])
        np.testing.assert_allclose(loo[i], expected, rtol=1e-8, atol=1e-10)


def test_platt_scale_sharpens_separable_scores():
    scores = np.array([[0.6, -0.3], [-0.4, 0.5], [0.5, -0.5]])
    assert platt_scale(scores, np.array([0, 1, 0])) > 10


def test_krr_from_coreset_accuracy_and_reference(tmp_path, toy_coreset, toy_features_dir, random_features_export, toy_splits):
    path, summary = train("krr", random_features_export, toy_coreset, tmp_path / "krr", eval_data=toy_features_dir,
                          eval_split="test", options={"reg": 1e-3})
    assert summary["accuracy"] >= ACCURACY_FLOOR and summary["n"] == 16 and summary["n_train"] == 40
    model = load_predictor(path)
    _, test = toy_splits
    # numpy reference from the same random features: K_BC (K_CC + λI)^-1 Y
    session = load_session(random_features_export / "model.fp32.onnx")
    coreset = np.load(toy_coreset / "coreset.npz")
    expected = krr_reference(session.run(coreset["x"]).astype(np.float64), regression_targets(coreset["y"], 4),
                             session.run(test.x).astype(np.float64), 1e-3)
    scale = float(np.load(path / "params.npz")["scale"])
    np.testing.assert_allclose(model.logits(test.x), scale * expected, rtol=1e-6, atol=1e-8)
    assert np.mean(model.logits(test.x).argmax(1) == test.y) == pytest.approx(summary["accuracy"])


def test_krr_uses_learned_labels(tmp_path, toy_coreset, random_features_export):
    from edgedistill.methods.coreset import load_coreset, save_coreset

    coreset = load_coreset(toy_coreset)
    coreset.y_soft = (regression_targets(coreset.y, 4) * 2.0).astype(np.float32)
    soft = save_coreset(tmp_path / "soft", coreset, {"name": "subset"}, 0, None)
    hard_path, _ = train("krr", random_features_export, toy_coreset, tmp_path / "hard")
    soft_path, _ = train("krr", random_features_export, soft, tmp_path / "soft_model")
    w_hard, w_soft = np.load(hard_path / "params.npz")["w"], np.load(soft_path / "params.npz")["w"]
    np.testing.assert_allclose(w_soft, 2.0 * w_hard, rtol=1e-8)


def test_bad_options_and_data(tmp_path, toy_coreset, random_features_export):
    with pytest.raises(ValueError, match="unknown option"):
        train("krr", random_features_export, toy_coreset, tmp_path / "a", options={"epochs": 3})
    with pytest.raises(ValueError, match="unknown device training mode"):
        train("svm", random_features_export, toy_coreset, tmp_path / "b")
    with pytest.raises(ValueError, match="not a coreset"):
        train("krr", random_features_export, tmp_path / "nothing", tmp_path / "c")
