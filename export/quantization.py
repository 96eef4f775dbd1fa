"""int8 quantization of exported files, calibrated on the distilled data itself.

ONNX: static QDQ quantization with onnxruntime.quantization (after ``quant_pre_process``):
per-channel int8 weights, int8 activations, float32 graph inputs and outputs.
TFLite: ai-edge-quantizer on the fp32 flatbuffer. "static" = full integer (``static_wi8_ai8``):
int8 weights and activations, and int8 inputs/outputs whose scale and zero point are returned
(and written to meta) so callers quantize inputs and dequantize outputs; "dynamic" = dynamic
range (``dynamic_wi8_afp32``): int8 weights, float32 activations and inputs/outputs.
Calibration arrays are named like the graph inputs. No torch import.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

TFLITE_MODES = ("static", "dynamic")


def _batches(calibration: dict[str, np.ndarray], batch: int) -> Iterator[dict[str, np.ndarray]]:
    n = len(next(iter(calibration.values())))
    for start in range(0, n, batch):
        yield {k: np.ascontiguousarray(v[start:start + batch], dtype=np.float32) for k, v in calibration.items()}


def check_calibration(calibration: dict[str, np.ndarray], inputs: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Calibration arrays named and shaped like the graph inputs (N, *shape), N >= 1, finite."""
    missing = [k for k in inputs if k not in calibration]
    if missing:
        raise ValueError(f"int8 calibration data lacks input(s) {', '.join(missing)}; give arrays for {', '.join(inputs)}")
    n = None
    for name, shape in inputs.items():
        arr = np.asarray(calibration[name], dtype=np.float32)
        if arr.ndim != len(shape) + 1 or tuple(arr.shape[1:]) != tuple(shape):
            raise ValueError(f"int8 calibration input {name!r} has shape {arr.shape}; expected (N, {', '.join(map(str, shape))})")
        if len(arr) == 0 or not np.isfinite(arr).all():
            raise ValueError(f"int8 calibration input {name!r} is empty or has NaN/inf values")
        if n is not None and len(arr) != n:
            raise ValueError("int8 calibration inputs have different numbers of examples")
        n = len(arr)
    return {name: np.asarray(calibration[name], dtype=np.float32) for name in inputs}


def quantize_onnx(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: dict[str, np.ndarray],
                  batch_size: int = 1) -> dict[str, Any]:
    """Static QDQ int8 copy of an fp32 ONNX file. batch_size: calibration batch (1 for a batch-1 graph)."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = _batches(calibration, batch_size)

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(dir=Path(out_path).parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        preprocessed = True
        try:
            with _quiet():
                quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=False)
        except Exception:  # symbolic shape inference can fail on some graphs: quantize the raw graph
            preprocessed = False
            prepared = Path(fp32_path)
        with _quiet():
            quantize_static(
                str(prepared), str(out_path), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
    return {"int8": "static QDQ", "pre_processed": preprocessed, "calibration_examples": len(next(iter(calibration.values()))),
            "io_dtype": "float32"}


def quantize_tflite(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: dict[str, np.ndarray] | None,
                    mode: str = "static", batch_size: int = 1) -> dict[str, Any]:
    """int8 copy of an fp32 .tflite file ('static' full integer or 'dynamic' range, see module doc)."""
    from ai_edge_quantizer import quantizer, recipe

    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite int8 mode {mode!r}; choose from: {', '.join(TFLITE_MODES)}")
    qt = quantizer.Quantizer(str(fp32_path), recipe.static_wi8_ai8() if mode == "static" else recipe.dynamic_wi8_afp32())
    result = None
    with _quiet():
        if qt.need_calibration:
            if calibration is None:
                raise ValueError("static int8 TFLite quantization needs calibration data (--calibration)")
            result = qt.calibrate({"serving_default": list(_batches(calibration, batch_size))}, num_threads=1)
        qt.quantize(result, enable_progress_report=False).export_model(str(out_path), overwrite=True)
    info: dict[str, Any] = {"int8": "static full-integer" if mode == "static" else "dynamic-range (int8 weights, float activations)"}
    info.update(io_quantization(out_path))
    if calibration is not None:
        info["calibration_examples"] = len(next(iter(calibration.values())))
    return info


def io_quantization(path: str | os.PathLike) -> dict[str, Any]:
    """{"io_dtype": "int8"|"float32", "input_quantization": {name: {scale, zero_point}}, "output_quantization": ...}."""
    from edgedistill.export.validate import tflite_signature

    _, inputs, outputs = tflite_signature(path)
    dtypes = {np.dtype(d["dtype"]).name for d in [*inputs.values(), *outputs.values()]}
    info: dict[str, Any] = {"io_dtype": "int8" if "int8" in dtypes else "float32"}
    if "int8" in dtypes:
        info["input_quantization"] = {k: _qparams(d) for k, d in inputs.items()}
        info["output_quantization"] = {k: _qparams(d) for k, d in outputs.items()}
    return info


def _qparams(detail: dict) -> dict[str, float]:
    scale, zero = detail["quantization"]
    return {"scale": float(scale), "zero_point": int(zero)}


@contextlib.contextmanager
def _quiet():
    """Silence the quantizers' stdout chatter and INFO logging (stdout belongs to the CLI)."""
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.getLogger().setLevel(level)
