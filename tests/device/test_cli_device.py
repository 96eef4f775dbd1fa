"""`edgedistill device infer|bench|sample|train|build-step` end to end through the CLI."""

import json

import numpy as np
from typer.testing import CliRunner

from edgedistill.cli.main import app

runner = CliRunner()


def invoke_json(args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_infer_and_bench(classifier_export, toy_test_wavs):
    paths, y, _ = toy_test_wavs
    data = invoke_json(["device", "infer", str(classifier_export), *map(str, paths[:3]), "--top-k", "1"])
    assert [r["top"][0]["label"] for r in data["results"]] == [f"class{c}" for c in y[:3]]
    table = runner.invoke(app, ["device", "infer", str(classifier_export), str(paths[0])])
    assert table.exit_code == 0 and "class" in table.stdout
    bench = invoke_json(["device", "bench", str(classifier_export / "model.fp32.onnx"), "--runs", "5", "--warmup", "1"])
    assert bench["p50_ms"] > 0 and bench["size_bytes"] > 0


def test_sample_then_train_krr_then_infer(tmp_path, generator_export, random_features_export, toy_coreset, toy_features_dir, toy_test_wavs):
    samples = invoke_json(["device", "sample", str(generator_export), "--ppc", "4", "--out", str(tmp_path / "s.npz")])
    assert samples["n"] == 16 and set(samples["counts"].values()) == {4}
    trained = invoke_json(["device", "train", "krr", str(random_features_export), "--data", str(toy_coreset),
                           "--eval", str(toy_features_dir), "--eval-split", "test", "--out", str(tmp_path / "krr")])
    assert trained["accuracy"] >= 0.75 and trained["mode"] == "krr"
    from_samples = invoke_json(["device", "train", "krr", str(random_features_export), "--data", str(tmp_path / "s.npz"),
                                "--out", str(tmp_path / "krr2")])
    assert from_samples["n_train"] == 16
    paths, _, _ = toy_test_wavs
    data = invoke_json(["device", "infer", str(tmp_path / "krr"), str(paths[0])])
    assert data["results"][0]["top"][0]["label"].startswith("class")


def test_build_step_and_train_full(tmp_path, toy_features_dir):
    built = invoke_json(["device", "build-step", "--features", str(toy_features_dir), "--hidden1", "8", "--hidden2", "8",
                         "--out", str(tmp_path / "step")])
    assert built["labels"] == [f"class{c}" for c in range(4)]
    trained = invoke_json(["device", "train", "full", str(tmp_path / "step"), "--data", str(toy_features_dir), "--data-split",
                           "train", "--epochs", "3", "--out", str(tmp_path / "full")])
    assert trained["final_loss"] < trained["first_loss"]


def test_user_errors_exit_2_with_one_line(tmp_path, classifier_export, toy_test_wavs):
    import subprocess
    import sys

    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "edgedistill.cli.main", "device", "bench", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2 and "corrupt" in proc.stderr and "Traceback" not in proc.stderr
    result = runner.invoke(app, ["device", "train", "krr", str(classifier_export), "--data", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and isinstance(result.exception, ValueError)
