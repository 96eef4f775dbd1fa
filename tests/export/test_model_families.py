"""Every model family in MODELS exports to ONNX and TFLite (fp32) and runs in onnxruntime and
LiteRT within tolerance of torch. Tiny inputs (16 MFCC x 21 frames) keep conversion quick."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("litert_torch")

from edgedistill.export.api import export_module, read_export  # noqa: E402
from edgedistill.features import get_preset  # noqa: E402
from edgedistill.models import MODELS, build_model  # noqa: E402

TINY = dataclasses.replace(get_preset("kws"), n_mfcc=16, n_mels=16, clip_seconds=0.2)
SMALL_KWARGS = {"cnn4": {"width": 4}, "resnet18": {"width": 4}}


# ser-head runs by default (one family always checked); conversions of the conv families take
# 15-55 s each on a shared core, so they run with the slow tests.
FAMILIES = [pytest.param(n, marks=() if n == "ser-head" else pytest.mark.slow) for n in MODELS.names()]


@pytest.mark.parametrize("name", FAMILIES)
def test_model_family_exports_within_tolerance(name, tmp_path, rng):
    torch.manual_seed(0)
    f, t = TINY.shape
    module = build_model(name, 3, (f, t), **SMALL_KWARGS.get(name, {})).eval()
    x = rng.standard_normal((6, f, t)).astype(np.float32)
    out = export_module(module, (f, t), tmp_path / name, formats="onnx,tflite", int8=False,
                        meta={"feature_config": TINY, "labels": ["a", "b", "c"]}, validate_on=(x, np.array([0, 1, 2] * 2)))
    files = read_export(out).extra["files"]
    assert set(files) == {"model.fp32.onnx", "model.fp32.tflite"}
    for entry in files.values():  # export_module already refused anything beyond tolerance; check the record
        assert entry["validation"]["top1_agreement"] == 1.0
        assert entry["validation"]["max_abs_diff"] <= 1e-3 * max(1.0, entry["validation"]["torch_max_abs"])
