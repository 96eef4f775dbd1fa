"""Numerical validation of exported files in the real runtimes (onnxruntime, ai-edge-litert).

Each exported file is loaded and run on held-out inputs; its outputs are compared with torch:
max absolute difference, top-1 agreement and accuracy (classifiers, when labels are given).
A file outside its tolerance is an error that says by how much. int8 TFLite files with int8
inputs/outputs are fed quantized inputs and their outputs dequantized with the file's own scale
and zero point. Runs with one thread. No torch import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.device.runtime import dequantize_output, quantize_input


def run_onnx(path: str | os.PathLike, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Run an ONNX file on named inputs (first output returned); a fixed batch-1 graph is fed one example at a time."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    dims = {i.name: i.shape[0] for i in session.get_inputs()}
    step = 1 if any(d == 1 for d in dims.values()) else batch_size
    n = len(next(iter(inputs.values())))
    outs = [session.run(None, {k: np.ascontiguousarray(v[s:s + step], dtype=np.float32) for k, v in inputs.items()})[0]
            for s in range(0, n, step)]
    return np.concatenate(outs).astype(np.float32)


def tflite_signature(path: str | os.PathLike):
    """(runner, input details by name, output details by name) of a file's ``serving_default`` signature."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ValueError(f"{path}: TFLite file has no signature; re-export it with edgedistill")
    runner = interpreter.get_signature_runner(next(iter(signatures)))
    return runner, runner.get_input_details(), runner.get_output_details()


def run_tflite(path: str | os.PathLike, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Run a .tflite file on named float32 inputs -> float32 output (int8 I/O quantized/dequantized)."""
    runner, in_details, out_details = tflite_signature(path)
    fixed = any(int(d["shape_signature"][0]) == 1 for d in in_details.values())
    step = 1 if fixed else batch_size
    n = len(next(iter(inputs.values())))
    out_name = next(iter(out_details))
    outs = []
    for s in range(0, n, step):
        feed = {k: quantize_input(np.asarray(v[s:s + step], dtype=np.float32), in_details[k]) for k, v in inputs.items()}
        outs.append(dequantize_output(runner(**feed)[out_name], out_details[out_name]))
    return np.concatenate(outs)


RUNNERS = {".onnx": run_onnx, ".tflite": run_tflite}


def run_file(path: str | os.PathLike, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Run an exported file in its runtime (by suffix)."""
    suffix = Path(path).suffix
    if suffix not in RUNNERS:
        raise ValueError(f"{path}: cannot run a {suffix or 'suffix-less'} file; known: {', '.join(RUNNERS)}")
    return RUNNERS[suffix](path, inputs)


def compare(reference: np.ndarray, exported: np.ndarray, kind: str, labels: np.ndarray | None = None) -> dict[str, Any]:
    """Figures for one file: max_abs_diff, rel_max_diff (max diff / max |reference|), torch_max_abs, n; for
    classifiers also top1_agreement, and accuracy (exported) and torch_accuracy when labels are given."""
    if reference.shape != exported.shape:
        raise ValueError(f"exported output shape {exported.shape} differs from torch output {reference.shape}")
    diff = float(np.max(np.abs(reference - exported))) if reference.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    figures: dict[str, Any] = {"n": int(len(reference)), "max_abs_diff": diff, "rel_max_diff": diff / max(scale, 1e-12),
                               "torch_max_abs": scale}
    if kind == "classifier":
        top = exported.argmax(axis=1)
        figures["top1_agreement"] = float(np.mean(top == reference.argmax(axis=1)))
        if labels is not None:
            figures["accuracy"] = float(np.mean(top == labels))
            figures["torch_accuracy"] = float(np.mean(reference.argmax(axis=1) == labels))
    return figures


def check(figures: dict[str, Any], *, file: str, precision: str, kind: str, fp32_atol: float,
          min_int8_agreement: float, int8_rel_tol: float, real_inputs: bool) -> None:
    """Raise ValueError when a file is outside its tolerance.

    fp32: max_abs_diff <= fp32_atol * max(1, max |torch output|). int8 classifiers: top1_agreement
    >= min_int8_agreement on real inputs (random inputs say little about int8). int8 generator /
    random features: rel_max_diff <= int8_rel_tol.
    """
    if precision == "fp32":
        limit = fp32_atol * max(1.0, figures["torch_max_abs"])
        if figures["max_abs_diff"] > limit:
            raise ValueError(f"{file}: output differs from torch by {figures['max_abs_diff']:.3g} (tolerance {limit:.3g}); "
                             "the converter changed the model's numerics: check for unsupported ops")
    elif kind == "classifier":
        if real_inputs and figures["top1_agreement"] < min_int8_agreement:
            raise ValueError(f"{file}: int8 model agrees with torch on only {figures['top1_agreement']:.1%} of top-1 predictions "
                             f"(floor {min_int8_agreement:.0%}); calibrate on more representative data or ship fp32")
    elif figures["rel_max_diff"] > int8_rel_tol:
        raise ValueError(f"{file}: int8 output differs from torch by {figures['rel_max_diff']:.1%} of its range "
                         f"(tolerance {int8_rel_tol:.0%}); ship fp32 for this graph")
