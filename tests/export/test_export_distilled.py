"""Export of the distillers' artifacts: a saved GAN generator (export_generator, CLI) and RFAD's
random-feature nets (export_random_features). Skipped until those parts are on the branch."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from edgedistill.export.api import export_random_features, read_export  # noqa: E402
from edgedistill.export.validate import run_file  # noqa: E402


@pytest.fixture
def generator_dir(tmp_path, toy_featureset):
    gan = pytest.importorskip("edgedistill.methods.gan.artifact")
    from edgedistill.methods.gan.architectures import build

    torch.manual_seed(0)
    kwargs = {"n_classes": toy_featureset.n_classes, "input_shape": toy_featureset.config.shape, "z_dim": 8, "width": 8}
    generator, _ = build("gan-cnn", **kwargs)
    trained = gan.TrainedGenerator(module=generator.eval(), arch="gan-cnn", builder_kwargs=kwargs, labels=toy_featureset.labels,
                                   config=toy_featureset.config, class_prior=np.full(toy_featureset.n_classes, 0.25))
    return gan.save_generator(tmp_path / "gen", trained, seed=0)


@pytest.mark.slow  # ~30 s: the toy generator export in test_export_api covers the default run
def test_saved_generator_exports_through_cli(tmp_path, generator_dir, toy_featureset):
    from typer.testing import CliRunner

    from edgedistill.cli.main import app

    out = tmp_path / "gen-export"
    result = CliRunner().invoke(app, ["export", str(generator_dir), "--out", str(out),
                                      "--target", "onnx,tflite", "--samples", "8", "--json"])
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    assert set(files) == {"model.fp32.onnx", "model.fp32.tflite"}
    meta = read_export(out)
    assert meta.extra["graph"]["inputs"] == {"z": [8], "label_onehot": [toy_featureset.n_classes]}
    assert meta.extra["source"]["schema"] == "edgedistill.generator"
    z = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    onehot = np.eye(toy_featureset.n_classes, dtype=np.float32)[[0, 1, 2]]
    got = run_file(out / "model.fp32.onnx", {"z": z, "label_onehot": onehot})
    assert got.shape == (3, *toy_featureset.config.shape)


def test_rfad_coreset_nets_export_through_cli(tmp_path, toy_featureset):
    rf = pytest.importorskip("edgedistill.methods.random_features")
    from typer.testing import CliRunner

    from edgedistill.cli.main import app
    from edgedistill.methods.coreset import Coreset, save_coreset

    x = np.asarray(toy_featureset.x[::8], dtype=np.float32)
    mean, std = rf.band_stats(x)
    config = rf.RandomFeatureConfig(n_nets=2, width=4, depth=2, n_features=8)
    coreset = Coreset(x=x, y=np.asarray(toy_featureset.y[::8]), labels=toy_featureset.labels, config=toy_featureset.config)
    coreset_dir = save_coreset(tmp_path / "coreset", coreset, {"name": "rfad"}, seed=5, source_manifest_hash=None,
                               extra={"random_features": config.to_dict(), "rf_norm": {"mean": mean.tolist(), "std": std.tolist()}})
    out = tmp_path / "nets"
    result = CliRunner().invoke(app, ["export", str(coreset_dir), "--out", str(out), "--target", "onnx", "--json"])
    assert result.exit_code == 0, result.output
    meta = read_export(out)
    assert meta.seed == 5 and meta.extra["n_nets"] == 2 and meta.extra["graph"]["output"] == "phi"
    nets = rf.random_feature_nets(toy_featureset.config.shape, config, 5, mean, std, im2col=False)
    with torch.no_grad():
        ref = nets(torch.from_numpy(x[:3])).numpy()
    np.testing.assert_allclose(run_file(out / "model.fp32.onnx", {"features": x[:3]}), ref, atol=1e-4 * max(1.0, np.abs(ref).max()))


def test_rfad_random_feature_nets_export(tmp_path, toy_featureset):
    rf = pytest.importorskip("edgedistill.methods.random_features")

    shape = toy_featureset.config.shape
    config = rf.RandomFeatureConfig(n_nets=2, width=8, depth=2, n_features=16)
    x = np.asarray(toy_featureset.x[:16], dtype=np.float32)
    mean, std = rf.band_stats(x)
    nets = rf.random_feature_nets(shape, config, seed=3, mean=mean, std=std, im2col=False)
    out = export_random_features(nets, shape, tmp_path / "rf", formats="onnx,tflite", calibration=x,
                                 meta={"feature_config": toy_featureset.config, "random_features": config.to_dict(), "seed": 3})
    meta = read_export(out)
    for entry in meta.extra["files"].values():
        assert entry["validation"]["rel_max_diff"] <= 1e-3
    with torch.no_grad():
        ref = nets(torch.from_numpy(x[:4])).numpy()
    np.testing.assert_allclose(run_file(out / "model.fp32.tflite", {"features": x[:4]}), ref, atol=1e-3 * max(1.0, np.abs(ref).max()))
