"""`edgedistill distill rfad FEAT` and `edgedistill krr-score` / `evaluate CORESET FEAT` end to end on the toy feature cache."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgedistill.cli.main import app

pytest.importorskip("torch")
runner = CliRunner()
SMALL = ["--n-nets", "2", "--width", "4", "--n-features", "32", "--batch-size", "32", "--threads", "1", "--device", "cpu"]


def test_distill_then_krr_score(toy_features_dir, tmp_path):
    out = tmp_path / "cs"
    result = runner.invoke(app, ["distill", "rfad", str(toy_features_dir), "--ipc", "2",
                                 "--out", str(out), "--steps", "4", "--eval-every", "2", "--quiet", "--json", *SMALL])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_samples"] == 8 and data["steps_run"] == 4 and 0 <= data["valid_krr_accuracy"] <= 1
    meta = json.loads((out / "meta.json").read_text())
    assert meta["schema"] == "edgedistill.coreset" and meta["method"]["config"]["width"] == 4
    assert meta["plot"] == "history.png"
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the run's curves and feature maps
    assert not (tmp_path / "cs.ckpt.npz").exists()

    score = runner.invoke(app, ["krr-score", str(out), str(toy_features_dir), "--draws", "2",
                                "--device", "cpu", "--json"])
    assert score.exit_code == 0, score.output
    scored = json.loads(score.stdout)
    assert 0.25 < scored["accuracy"] <= 1 and len(scored["accuracies"]) == 2 and scored["n"] == 16
    assert np.isclose(scored["accuracy"], np.mean(scored["accuracies"]))

    via_evaluate = runner.invoke(app, ["evaluate", str(out), str(toy_features_dir), "--draws", "2",
                                       "--json"])
    assert via_evaluate.exit_code == 0, via_evaluate.output
    assert json.loads(via_evaluate.stdout)["accuracies"] == scored["accuracies"]


def test_distill_refuses_existing_out_and_unknown_method(toy_features_dir, tmp_path):
    result = runner.invoke(app, ["distill", "rfad", str(toy_features_dir), "--out", str(tmp_path)])
    assert result.exit_code != 0 and "already exists" in str(result.exception)
    result = runner.invoke(app, ["distill", "nope", str(toy_features_dir), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "nope" in result.output
