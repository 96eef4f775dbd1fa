"""`edgedistill export RUN --target ...` and `export formats` through the CLI on a trained cnn4 model artifact."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from edgedistill.cli.main import app  # noqa: E402

runner = CliRunner()


def test_export_model_cli_int8_onnx_with_eval(tmp_path, toy_model_dir, toy_features_dir):
    out = tmp_path / "exp"
    result = runner.invoke(app, ["export", str(toy_model_dir), "--out", str(out), "--target", "onnx,tflite",
                                 "--int8", "--calibration", str(toy_features_dir), "--eval", str(toy_features_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["files"]) == {"model.fp32.onnx", "model.int8.onnx", "model.fp32.tflite", "model.int8.tflite"}
    for name, figures in data["files"].items():
        assert figures["n"] == 16 and figures["top1_agreement"] >= 0.8, name
        assert abs(figures["accuracy"] - figures["torch_accuracy"]) <= 0.15, name
    meta = json.loads((out / "meta.json").read_text())
    assert meta["source"]["schema"] == "edgedistill.model" and meta["calibration_source"].endswith("toy")


def test_export_model_cli_refuses_wrong_artifact(tmp_path, toy_features_dir):
    result = runner.invoke(app, ["export", str(toy_features_dir), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "edgedistill.features artifact" in str(result.exception)
    assert not (tmp_path / "x").exists()


def test_export_formats_lists_the_table():
    result = runner.invoke(app, ["export", "formats", "--json"])
    assert result.exit_code == 0
    assert [f["format"] for f in json.loads(result.stdout)["formats"]] == ["onnx", "tflite"]
