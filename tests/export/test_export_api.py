"""export_module / export_generator_module / export_random_features on toy torch modules: files
run in onnxruntime and LiteRT within tolerance of torch, int8 agrees, meta is embedded and
readable, bad input is refused with no half-written directory."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from edgedistill.export.api import export_generator_module, export_module, export_random_features, read_export  # noqa: E402
from edgedistill.export.graphs import classifier_spec, generator_spec, torch_outputs  # noqa: E402
from edgedistill.export.onnx_export import read_metadata  # noqa: E402
from edgedistill.export.validate import run_file  # noqa: E402
from edgedistill.features import get_preset  # noqa: E402

FP32_ATOL = {".onnx": 1e-4, ".tflite": 1e-3}
INT8_AGREEMENT_FLOOR = 0.8


@pytest.fixture(scope="module")
def trained_toy(toy_featureset):
    """ToyClassifier (batch-safe ops) fitted for 40 Adam steps on the toy train split."""
    from toy_models import ToyClassifier

    torch.manual_seed(0)
    train = toy_featureset.by_split("train")
    f, t = toy_featureset.config.shape
    model = ToyClassifier(f, toy_featureset.n_classes, width=8)
    x = torch.from_numpy(np.asarray(train.x))
    model.mean.copy_(x.mean(dim=(0, 2)))
    model.var.copy_(x.var(dim=(0, 2)) + 1e-5)
    y = torch.from_numpy(np.asarray(train.y))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def classifier_export(tmp_path_factory, trained_toy, toy_featureset):
    test = toy_featureset.by_split("test")
    calib = np.asarray(toy_featureset.by_split("train").x)  # all classes: a class-sorted slice would miscalibrate
    out = tmp_path_factory.mktemp("exp") / "toy"
    meta = {"feature_config": toy_featureset.config, "labels": toy_featureset.labels, "seed": 0, "source": {"what": "toy"}}
    return export_module(trained_toy, toy_featureset.config.shape, out, formats="onnx,tflite", int8=True, calibration=calib,
                         meta=meta, validate_on=(np.asarray(test.x), test.y))


def test_all_files_written_and_validated(classifier_export, toy_featureset):
    meta = read_export(classifier_export)
    assert set(meta.extra["files"]) == {"model.fp32.onnx", "model.int8.onnx", "model.fp32.tflite", "model.int8.tflite"}
    assert meta.feature_id == toy_featureset.config.feature_id and meta.labels == toy_featureset.labels
    for name, entry in meta.extra["files"].items():
        assert (classifier_export / name).stat().st_size == entry["size_bytes"]
        v = entry["validation"]
        assert v["n"] == int((toy_featureset.split == "test").sum())
        if entry["precision"] == "fp32":
            assert v["max_abs_diff"] <= FP32_ATOL[name[name.rfind("."):]] * max(1.0, v["torch_max_abs"])
            assert v["top1_agreement"] == 1.0
        else:
            assert v["top1_agreement"] >= INT8_AGREEMENT_FLOOR
        assert v["torch_accuracy"] >= 0.7  # the toy model learned something, so agreement is meaningful
    assert meta.extra["files"]["model.int8.tflite"]["size_bytes"] < meta.extra["files"]["model.fp32.tflite"]["size_bytes"]
    assert meta.extra["files"]["model.fp32.onnx"]["batch"] == "dynamic"


def test_files_rerun_in_runtimes_match_torch_at_other_batch_sizes(classifier_export, trained_toy, toy_featureset):
    x = np.asarray(toy_featureset.x[:5], dtype=np.float32)
    spec = classifier_spec(toy_featureset.config.shape)
    ref = torch_outputs(trained_toy, spec, {"features": x})
    for suffix, atol in FP32_ATOL.items():
        got = run_file(classifier_export / f"model.fp32{suffix}", {"features": x})
        assert got.shape == (5, toy_featureset.n_classes)
        np.testing.assert_allclose(got, ref, atol=atol)


def test_meta_embedded_in_onnx_matches_meta_json(classifier_export):
    embedded = read_metadata(classifier_export / "model.int8.onnx")
    on_disk = json.loads((classifier_export / "meta.json").read_text())
    assert embedded["schema"] == "edgedistill.export" and embedded["labels"] == on_disk["labels"]
    assert embedded["feature_config"] == on_disk["feature_config"]
    for name, entry in on_disk["files"].items():
        assert embedded["files"][name]["validation"] == entry["validation"]


def test_int8_tflite_default_keeps_float_io(classifier_export):
    entry = read_export(classifier_export).extra["files"]["model.int8.tflite"]
    assert entry["io_dtype"] == "float32" and entry["int8"].startswith("dynamic")


def test_static_int8_tflite_records_io_quantization(tmp_path, trained_toy, toy_featureset):
    calib = np.asarray(toy_featureset.by_split("train").x)
    out = export_module(trained_toy, toy_featureset.config.shape, tmp_path / "s", formats="tflite", int8=True,
                        calibration=calib, meta={"feature_config": toy_featureset.config, "labels": toy_featureset.labels},
                        tflite_int8="static", min_int8_agreement=0.0)
    entry = read_export(out).extra["files"]["model.int8.tflite"]
    assert entry["io_dtype"] == "int8" and entry["input_quantization"]["features"]["scale"] > 0
    x = calib[:3]
    assert run_file(out / "model.int8.tflite", {"features": x}).shape == (3, toy_featureset.n_classes)


def test_generator_exports_to_both_formats(tmp_path):
    from toy_models import ToyGenerator

    torch.manual_seed(0)
    config = get_preset("kws")
    labels = ["a", "b", "c"]
    gen = ToyGenerator(z_dim=8, n_classes=3, shape=config.shape).eval()
    out = export_generator_module(gen, 8, tmp_path / "gen", formats=("onnx", "tflite"), int8=False,
                                  meta={"feature_config": config.to_dict(), "labels": labels}, calibration_samples=8)
    meta = read_export(out)
    assert meta.extra["graph"]["inputs"] == {"z": [8], "label_onehot": [3]}
    spec = generator_spec(8, 3)
    inputs = spec.example(3, np.random.default_rng(5))
    ref = torch_outputs(gen, spec, inputs)
    for suffix, atol in FP32_ATOL.items():
        got = run_file(out / f"model.fp32{suffix}", inputs)
        assert got.shape == (3, *config.shape)
        np.testing.assert_allclose(got, ref, atol=atol * max(1.0, np.abs(ref).max()))


def test_random_feature_nets_export_with_int8(tmp_path, toy_featureset):
    from toy_models import ToyRandomFeatures

    nets = [ToyRandomFeatures(width=8, seed=s) for s in range(2)]
    x = np.asarray(toy_featureset.x[:16], dtype=np.float32)
    out = export_random_features(nets, toy_featureset.config.shape, tmp_path / "rf", formats="onnx", int8=True, calibration=x,
                                 meta={"feature_config": toy_featureset.config, "n_nets": 2})
    meta = read_export(out)
    assert meta.extra["graph"]["output"] == "phi" and meta.extra["n_nets"] == 2
    phi = run_file(out / "model.fp32.onnx", {"features": x[:4]})
    assert phi.shape == (4, 16)
    assert meta.extra["files"]["model.int8.onnx"]["validation"]["rel_max_diff"] <= 0.25


def test_with_frontend_takes_audio_and_matches_numpy_frontend(tmp_path, trained_toy, toy_featureset, toy_audio):
    config = toy_featureset.config
    waves, y, speakers = toy_audio
    test = speakers == "spk0"  # the toy set's test speaker
    out = export_module(trained_toy, config.shape, tmp_path / "fe", formats="onnx,tflite", int8=False, with_frontend=True,
                        meta={"feature_config": config, "labels": toy_featureset.labels}, validate_audio=(waves[test], y[test]))
    meta = read_export(out)
    assert meta.extra["graph"]["inputs"] == {"audio": [config.clip_samples]}
    for entry in meta.extra["files"].values():
        v = entry["validation"]
        assert v["top1_agreement"] == 1.0 and v["accuracy"] == v["torch_accuracy"] >= 0.7
    features = toy_featureset.x[:3]
    ref = torch_outputs(trained_toy, classifier_spec(config.shape), {"features": np.asarray(features)})
    got = run_file(out / "model.fp32.onnx", {"audio": waves[:3]})
    np.testing.assert_allclose(got, ref, atol=2e-3 * max(1.0, np.abs(ref).max()))
    with pytest.raises(ValueError, match="int8 is not supported with the front-end"):
        export_module(trained_toy, config.shape, tmp_path / "fe8", int8=True, calibration=features, with_frontend=True,
                      meta={"feature_config": config, "labels": toy_featureset.labels})


class _DataDependent(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: not exportable
            return x.mean(dim=2)
        return x.amax(dim=2)


def _meta(config, n=4):
    return {"feature_config": config.to_dict(), "labels": [f"c{i}" for i in range(n)]}


def test_bad_inputs_give_clear_errors_and_leave_nothing(tmp_path, trained_toy, toy_featureset):
    config = toy_featureset.config
    shape = config.shape
    x = np.zeros((4, *shape), np.float32)
    cases = [
        (dict(meta=_meta(config, 3)), "4 labels|3 labels"),
        (dict(meta=_meta(config), int8=True), "calibration"),
        (dict(meta=_meta(config), formats="coreml"), "choose from: onnx, tflite"),
        (dict(meta=_meta(config), int8=True, calibration=np.zeros((4, 3, 3), np.float32)), r"expected \(N, "),
        (dict(meta={"labels": ["a", "b", "c", "d"]}), "feature_config"),
        (dict(meta=_meta(config), validate_on=(x, np.zeros(3))), "one class index per example"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("int8", False)
        with pytest.raises(ValueError, match=message):
            export_module(trained_toy, shape, tmp_path / "bad", **kwargs)
        assert not list(tmp_path.iterdir()), f"{kwargs} left files behind"
    with pytest.raises(ValueError, match="ONNX export of _DataDependent failed"):
        export_module(_DataDependent(), shape, tmp_path / "dd", formats="onnx", int8=False,
                      meta={"feature_config": config.to_dict(), "labels": [f"c{i}" for i in range(shape[0])]})
    assert not list(tmp_path.iterdir())


def test_existing_output_is_never_overwritten(classifier_export, trained_toy, toy_featureset):
    from edgedistill.artifacts import ArtifactError

    with pytest.raises(ArtifactError, match="already exists"):
        export_module(trained_toy, toy_featureset.config.shape, classifier_export, formats="onnx", int8=False,
                      meta={"feature_config": toy_featureset.config, "labels": toy_featureset.labels})
