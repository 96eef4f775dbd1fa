"""The device bundle: layout, ORT files against their ONNX sources, and a package-free consumer
(tests/export/bundle_consumer.py: onnxruntime + numpy + json only) that scores raw PCM and
trains with the train-step graph exactly as bundle.json describes, reaching the weights of
`edgedistill device train full`."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgedistill.cli.main import app

CONSUMER = Path(__file__).resolve().parent / "bundle_consumer.py"
AUDIO_ATOL = 2e-3  # in-graph float32 front-end vs the numpy float64 one (export.api.FRONTEND_ATOL)
WEIGHTS_ATOL = 1e-4  # consumer (ORT files) vs device train full (onnxruntime on the .onnx), float32 rounding
LOOP = {"epochs": 3, "batch_size": 8, "lr": 3e-3, "seed": 0}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, toy_featureset):
    """A toy coreset (6 clips per class, with random-feature settings) and a width-4 cnn4 trained on it."""
    from edgedistill.methods.coreset import Coreset, save_coreset
    from edgedistill.model_artifact import save_model
    from edgedistill.training import TrainConfig, train_model

    root = tmp_path_factory.mktemp("bundle-run")
    train = toy_featureset.by_split("train")
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(train.y == c), 6, replace=False) for c in range(toy_featureset.n_classes)])
    x, y = train.x[pick], train.y[pick]
    norm = {"mean": x.mean(axis=(0, 2)).tolist(), "std": (x.std(axis=(0, 2)) + 1e-6).tolist()}
    core = save_coreset(root / "coreset", Coreset(x=x, y=y, labels=toy_featureset.labels, config=toy_featureset.config),
                        {"name": "subset"}, 0, None,
                        extra={"random_features": {"n_nets": 2, "width": 4, "depth": 2, "n_features": 16, "time_pool": True},
                               "rf_norm": norm})
    config = TrainConfig(epochs=3, min_steps=0, batch_size=32, lr=3e-3, augment=False, device="auto", threads=1, seed=0)
    trained = train_model("cnn4", x, y, toy_featureset.labels, config, model_kwargs={"width": 4}, progress=False)
    model = save_model(root / "model", trained, toy_featureset.config, seed=0, source_manifest_hash=toy_featureset.manifest_hash(),
                       metrics={}, extra={"training_data": {"source": "coreset", "coreset": str(core)}})
    return {"root": root, "model": model, "coreset": core, "trained": trained}


@pytest.fixture(scope="module")
def bundle(toy_run):
    """An ONNX (+ ORT) bundle written through the CLI (TFLite is covered by the slow test)."""
    out = toy_run["root"] / "bundle"
    result = CliRunner().invoke(app, ["export", "bundle", str(toy_run["model"]), "--out", str(out), "--formats", "onnx",
                                      "--epochs", "3", "--batch-size", "8", "--json"])
    assert result.exit_code == 0, result.output
    return out


def test_bundle_layout_and_description(bundle):
    spec = json.loads((bundle / "bundle.json").read_text())
    for name in ["classifier/audio.fp32.onnx", "classifier/audio.fp32.ort", "classifier/features.fp32.ort",
                 "classifier/features.int8.ort", "frontend/frontend.fp32.ort", "krr/random_features.fp32.ort",
                 "train/train_step.ort", "train/forward.ort", "coreset/x.f32", "coreset/y.i32", "labels.txt",
                 "thresholds.json", "required_operators.config"]:
        assert name in spec["files"] and (bundle / name).stat().st_size == spec["files"][name]["size_bytes"], name
    audio = spec["graphs"]["classify_audio"]
    assert audio["inputs"] == [{"name": "audio", "shape": ["batch", spec["audio"]["clip_samples"]], "dtype": "float32"}]
    assert audio["outputs"][0]["shape"] == ["batch", len(spec["labels"])]
    assert spec["graphs"]["classify_features_int8"]["quantization"]["onnx"]["io_dtype"] == "float32"
    assert [i["name"] for i in spec["graphs"]["train_step"]["inputs"]] == list(spec["training"]["inputs"])
    header = json.loads((bundle / "coreset" / "x.json").read_text())
    assert header["dtype"] == "float32" and header["shape"][1:] == spec["features"]["shape"]
    assert (bundle / "labels.txt").read_text().splitlines() == spec["labels"]


def test_ort_files_match_their_onnx_sources(bundle):
    from edgedistill.export.ort_format import compare_ort, required_operators

    spec = json.loads((bundle / "bundle.json").read_text())
    checks = spec["ort_format"]["validation"]
    assert len(checks) == 7
    for diffs in checks.values():
        assert max(diffs["max_abs_diff"].values()) <= 1e-5
    x = np.fromfile(bundle / "coreset" / "x.f32", dtype="<f4").reshape(-1, *spec["features"]["shape"])[:4]
    again = compare_ort(bundle / "classifier/features.fp32.onnx", bundle / "classifier/features.fp32.ort", {"features": x})
    assert again["max_abs_diff"]["logits"] <= 1e-5
    ops = required_operators(bundle / "required_operators.config")
    assert "MatMul" in ops["ai.onnx;13"]  # the real-DFT STFT and the train step's im2col convolutions


def test_package_free_consumer_scores_pcm_and_reproduces_device_training(bundle, toy_run, toy_audio, tmp_path):
    from edgedistill.device.devmodel import load_params
    from edgedistill.device.features import extract_batch
    from edgedistill.export.validate import run_onnx

    source = CONSUMER.read_text()
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"json", "sys", "pathlib", "numpy", "onnxruntime"}, imported

    waves = toy_audio[0][:5]
    pcm = np.clip(np.round(waves * 32768), -32768, 32767).astype("<i2")
    (tmp_path / "clips.pcm").write_bytes(pcm.tobytes())
    report_file = tmp_path / "report.json"
    blocker = ("import runpy, sys; sys.modules['edgedistill'] = None; sys.modules['torch'] = None; "
               f"sys.argv = {[str(CONSUMER), str(bundle), str(tmp_path / 'clips.pcm'), str(report_file)]!r}; "
               f"runpy.run_path({str(CONSUMER)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-I", "-c", blocker], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(report_file.read_text())
    assert report["modules"] == []

    # scores from raw PCM == host: numpy front-end on the same int16 samples -> the features graph
    host = run_onnx(bundle / "classifier/features.fp32.onnx",
                    {"features": extract_batch(pcm.astype(np.float32) / 32768.0, _config(bundle))})
    assert np.max(np.abs(np.array(report["scores"]["logits"]) - host)) <= AUDIO_ATOL

    # the bundle's loop == `edgedistill device train full` on the same coreset
    out = tmp_path / "device-full"
    result = CliRunner().invoke(app, ["device", "train", "full", str(bundle / "train"), "--data", str(toy_run["coreset"]),
                                      "--out", str(out), "--epochs", str(LOOP["epochs"]), "--batch-size", str(LOOP["batch_size"]),
                                      "--lr", str(LOOP["lr"]), "--seed", str(LOOP["seed"])])
    assert result.exit_code == 0, result.output
    expected = load_params(out)["params"]
    trained = np.array(report["training"]["params"], dtype=np.float32)
    assert report["training"]["steps"] == LOOP["epochs"] * int(np.ceil(24 / LOOP["batch_size"]))
    assert np.max(np.abs(trained - expected)) <= WEIGHTS_ATOL
    assert not np.allclose(trained, np.fromfile(bundle / "train/init_params.f32", dtype="<f4"))
    reference = np.fromfile(bundle / "train/reference_params.f32", dtype="<f4")
    assert np.max(np.abs(trained - reference)) <= WEIGHTS_ATOL


def _config(bundle: Path):
    from edgedistill.device.features import FeatureConfig

    return FeatureConfig.from_dict(json.loads((bundle / "bundle.json").read_text())["features"]["config"])


def test_bundle_refuses_existing_out_and_a_model_without_coreset(bundle, toy_run, tmp_path):
    from edgedistill.export.bundle import BundleConfig, BundleError, write_bundle

    result = CliRunner().invoke(app, ["export", str(toy_run["model"]), "--target", "bundle", "--out", str(bundle)])
    assert result.exit_code != 0  # the console entry point turns this ValueError into one line and exit 2
    assert isinstance(result.exception, ValueError) and "already exists" in str(result.exception)
    meta = json.loads((toy_run["model"] / "meta.json").read_text())
    meta["training_data"] = {"source": "train split"}
    other = tmp_path / "model"
    other.mkdir()
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="training_data.coreset"):
        write_bundle(other, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    with pytest.raises(BundleError, match="formats"):
        BundleConfig(formats=("tflite",))
