"""ONNX -> ORT format (ONNX Runtime Mobile), with onnxruntime's own converter, and the check that
every ``.ort`` file computes what its ``.onnx`` source computes.

`convert_folder(folder)` runs ``python -m onnxruntime.tools.convert_onnx_models_to_ort`` on every
``.onnx`` file under `folder` (optimization style "Fixed": the graph optimizations are applied
once, here, so the phone does no graph rewriting); each ``x.onnx`` gets an ``x.ort`` beside it,
and the tool writes ``required_operators.config`` (the operator list a reduced ONNX Runtime
Mobile build needs; see onnxruntime's "custom build" docs). `compare_ort(onnx, ort, inputs)`
runs both files in onnxruntime on the same inputs and returns the largest difference per output.

numpy + onnxruntime only (no torch): the converter runs in a subprocess of this interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE = "required_operators.config"
OPTIMIZATION_STYLE = "Fixed"
ORT_ATOL = 1e-5
DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8"}  # largest |ort - onnx| allowed, relative to max(1, max |onnx output|)


class OrtConversionError(ValueError):
    """onnxruntime's converter failed, or an .ort file does not match its .onnx source."""


def convert_folder(folder: str | os.PathLike, timeout: float = 600.0) -> dict[str, Any]:
    """Convert every .onnx under `folder` to .ort in place; returns {"ort_files": [...], "config": path, "tool": ...}."""
    folder = Path(folder)
    sources = sorted(folder.rglob("*.onnx"))
    if not sources:
        raise OrtConversionError(f"{folder}: no .onnx files to convert to ORT format")
    cmd = [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(folder),
           "--optimization_style", OPTIMIZATION_STYLE]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=folder)
    except subprocess.TimeoutExpired:
        raise OrtConversionError(f"{folder}: onnxruntime's ORT converter ran past {timeout:.0f} s") from None
    missing = [p for p in sources if not p.with_suffix(".ort").is_file()]
    if done.returncode != 0 or missing:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OrtConversionError(f"{folder}: onnxruntime's ORT converter failed (exit {done.returncode}; "
                                 f"not converted: {[p.name for p in missing]}): {tail[0][:300]}")
    config = folder / CONFIG_FILE
    if not config.is_file():
        raise OrtConversionError(f"{folder}: the ORT converter wrote no {CONFIG_FILE}")
    return {"ort_files": [str(p.with_suffix(".ort").relative_to(folder)) for p in sources], "config": CONFIG_FILE,
            "tool": "onnxruntime.tools.convert_onnx_models_to_ort", "optimization_style": OPTIMIZATION_STYLE,
            "onnxruntime": _ort_version()}


def required_operators(config: str | os.PathLike) -> dict[str, list[str]]:
    """{"domain;opset": [op, ...]} from a required_operators.config (comment lines skipped)."""
    ops: dict[str, list[str]] = {}
    for line in Path(config).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        domain, opset, names = line.split(";", 2)
        ops[f"{domain};{opset}"] = sorted(names.split(","))
    return ops


def compare_ort(onnx_path: str | os.PathLike, ort_path: str | os.PathLike, inputs: dict[str, np.ndarray],
                atol: float = ORT_ATOL) -> dict[str, Any]:
    """Run the .onnx and the .ort file on `inputs`; {"max_abs_diff": {output: diff}, "atol"}; raises beyond atol."""
    ref, got = run(onnx_path, inputs), run(ort_path, inputs)
    diffs = {name: float(np.max(np.abs(ref[name].astype(np.float64) - got[name]))) if ref[name].size else 0.0 for name in ref}
    for name, diff in diffs.items():
        scale = max(1.0, float(np.max(np.abs(ref[name]))) if ref[name].size else 1.0)
        if not diff <= atol * scale:
            raise OrtConversionError(f"{ort_path}: output {name!r} differs from {Path(onnx_path).name} by {diff:.3g} "
                                     f"(tolerance {atol * scale:.3g})")
    return {"max_abs_diff": diffs, "atol": atol, "inputs": {k: list(v.shape) for k, v in inputs.items()}}


def run(path: str | os.PathLike, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of an .onnx or .ort file in onnxruntime (CPU, one thread), by name."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs)))


def describe_io(path: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """{"inputs": [...], "outputs": [...]}: name, shape (a symbolic axis as its name, e.g. "batch") and dtype of each."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def rows(args):
        return [{"name": a.name, "shape": [d if isinstance(d, int) else str(d) for d in a.shape],
                 "dtype": DTYPES.get(a.type, a.type)} for a in args]

    return {"inputs": rows(session.get_inputs()), "outputs": rows(session.get_outputs())}


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
