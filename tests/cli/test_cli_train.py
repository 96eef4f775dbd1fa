"""`edgedistill train | evaluate | crossval | models` end to end on the toy feature cache."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from edgedistill.cli.main import app  # noqa: E402

runner = CliRunner()
FAST = ["--epochs", "8", "--min-steps", "0", "--batch-size", "16", "--threads", "1", "--device", "cpu", "--model-arg", "width=8"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, toy_features_dir):
    out = tmp_path_factory.mktemp("runs") / "cnn4"
    result = invoke("train", toy_features_dir, "-o", out, *FAST, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_writes_a_model_with_test_metrics(model_dir):
    out, figures = model_dir
    meta = json.loads((out / "meta.json").read_text())
    assert meta["schema"] == "edgedistill.model" and meta["model"] == "cnn4"
    assert meta["metrics"]["accuracy"] == figures["accuracy"] >= 0.75
    assert meta["training_data"] == {"source": "train split", "n_samples": 64}
    assert (out / "model.safetensors").exists()
    assert not out.with_name(out.name + ".ckpt.safetensors").exists()


def test_evaluate_matches_train_and_writes_plot_and_predictions(model_dir, toy_features_dir, tmp_path):
    out, figures = model_dir
    result = invoke("evaluate", out, toy_features_dir, "--confusion", tmp_path / "cm.png",
                    "--predictions", tmp_path / "p.npz", "--versus", out, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["accuracy"] == figures["accuracy"]
    assert data["mcnemar"]["n_discordant"] == 0 and data["mcnemar"]["p_value"] == 1.0
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    with np.load(tmp_path / "p.npz", allow_pickle=False) as saved:
        assert (saved["y_pred"] == saved["y_true"]).mean() == pytest.approx(figures["accuracy"])


def test_per_class_and_coreset_sources(toy_featureset, toy_features_dir, tmp_path):
    from edgedistill.methods.coreset import Coreset, save_coreset

    result = invoke("train", toy_features_dir, "-o", tmp_path / "r", "--per-class", 3, *FAST, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_train"] == 12
    train = toy_featureset.by_split("train")
    pick = np.concatenate([np.flatnonzero(train.y == c)[:2] for c in range(4)])
    soft = np.eye(4, dtype=np.float32)[train.y[pick]]
    core = save_coreset(tmp_path / "core", Coreset(np.asarray(train.x[pick]), train.y[pick], toy_featureset.labels,
                                                   toy_featureset.config, y_soft=soft), {"name": "test"}, 0, None)
    result = invoke("train", toy_features_dir, "-o", tmp_path / "c", "--coreset", core, *FAST, "--json")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["training_data"]["source"] == "coreset" and meta["training_data"]["soft_labels"] is True


def test_refusals_name_the_problem(toy_featureset, toy_features_dir, tmp_path):
    from edgedistill.features import get_preset
    from edgedistill.methods.coreset import Coreset, save_coreset

    other = get_preset("esc50")
    core = save_coreset(tmp_path / "core", Coreset(np.zeros((4, *other.shape), np.float32), np.arange(4), toy_featureset.labels,
                                                   other), {"name": "test"}, 0, None)
    renamed = save_coreset(tmp_path / "renamed", Coreset(np.zeros((4, *toy_featureset.config.shape), np.float32), np.arange(4),
                                                         ["w", "x", "y", "z"], toy_featureset.config), {"name": "test"}, 0, None)
    cases = [
        (["--coreset", core], f"made with features {other.feature_id} but"),
        (["--coreset", renamed], "coreset classes ['w', 'x', 'y', 'z'] differ from the feature set's classes ['class0'"),
        (["--per-class", 100], "100 samples per class requested but the train split"),
        (["--per-class", 2, "--coreset", core], "either --coreset or --per-class"),
        (["--model", "nope"], "unknown model 'nope'"),
        (["--resume"], "no checkpoint"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, ["train", str(toy_features_dir), "-o", str(tmp_path / "x"), *map(str, extra)])
        assert result.exit_code != 0
        assert isinstance(result.exception, ValueError) and message in str(result.exception), (extra, result.exception)


def test_crossval_stratified(toy_features_dir):
    result = invoke("crossval", toy_features_dir, "--protocol", "stratified", "--k", 3, *FAST, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_folds"] == 3 and sum(f["n_test"] for f in data["folds"]) == 96
    assert data["accuracy_mean"] >= 0.7
    assert data["accuracy_std"] == pytest.approx(np.std([f["accuracy"] for f in data["folds"]]))


def test_models_lists_every_model():
    result = invoke("models", "--json")
    assert result.exit_code == 0, result.output
    from edgedistill.models import MODELS

    assert set(json.loads(result.stdout)["models"]) == set(MODELS.names())
