"""Device runtime: ORT and LiteRT agree with torch and each other, batch-1 fallback, bad model files."""

import shutil

import numpy as np
import pytest

from edgedistill.device.predictor import load_predictor
from edgedistill.device.runtime import ModelFileError, backend_for, load_session

TORCH_ATOL = 1e-4  # fp32 graph vs torch eager on the same input
BACKEND_ATOL = 1e-4  # onnxruntime vs LiteRT


def test_onnx_matches_torch_with_dynamic_batch(classifier_export, trained_cnn, toy_featureset):
    import torch

    session = load_session(classifier_export / "model.fp32.onnx")
    assert session.backend == "onnxruntime" and session.input_names == ["features"] and not session.fixed_batch
    x = toy_featureset.x[:7]
    with torch.no_grad():
        expected = trained_cnn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session.run(x), expected, atol=TORCH_ATOL)


def test_litert_agrees_with_onnxruntime(classifier_export, classifier_tflite, toy_featureset):
    onnx_model = load_predictor(classifier_export)
    tflite_model = load_predictor(classifier_tflite, backend="litert")
    assert tflite_model.info["backend"] == "litert"
    x = toy_featureset.x[:5]  # batch 5 through a batch-1 TFLite graph: the fallback runs row by row
    np.testing.assert_allclose(tflite_model.logits(x), onnx_model.logits(x), atol=BACKEND_ATOL)
    assert (tflite_model.logits(x).argmax(1) == onnx_model.logits(x).argmax(1)).all()


def test_corrupt_and_unknown_model_files(tmp_path, classifier_export):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_session(bad)
    truncated = tmp_path / "half.onnx"
    truncated.write_bytes((classifier_export / "model.fp32.onnx").read_bytes()[:500])
    with pytest.raises(ModelFileError, match="half.onnx"):
        load_session(truncated)
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_session(tmp_path / "empty.tflite")
    with pytest.raises(ValueError, match="unknown model file type"):
        backend_for(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="cannot run on litert"):
        backend_for(tmp_path / "model.onnx", "litert")
    with pytest.raises(ModelFileError, match="no such model file"):
        load_session(tmp_path / "missing.onnx")


def test_model_without_metadata_is_refused(tmp_path, classifier_export):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(classifier_export / "model.fp32.onnx", alone / "model.fp32.onnx")
    with pytest.raises(ValueError, match="no edgedistill metadata"):
        load_predictor(alone / "model.fp32.onnx")


def test_input_shape_mismatch_is_refused(classifier_export, toy_featureset):
    model = load_predictor(classifier_export)
    with pytest.raises(ValueError, match="features of shape"):
        model.logits(toy_featureset.x[:2, :, :50])
