"""Run an exported graph (.onnx with onnxruntime, .tflite with LiteRT) behind one small interface.

`load_session(path)` picks the backend from the file suffix (or `backend=`), sets the thread
count, and returns a `Session` whose `run(x)` maps one float32 array to the first output and
whose `run_named({name: array})` maps named inputs to a dict of named outputs (generators and
train-step graphs have several). A graph with a fixed batch of 1 (TFLite models often are) is run
row by row when given a larger batch: the batch-1 fallback.

LiteRT comes from `ai-edge-litert`; `tflite-runtime` is accepted where LiteRT is absent.
numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("onnxruntime", "litert")
SUFFIX_BACKEND = {".onnx": "onnxruntime", ".tflite": "litert"}


class ModelFileError(ValueError):
    """A model file is missing, corrupt, or cannot run on the chosen backend."""


class Session:
    """A loaded graph: input/output names and shapes, `run` and `run_named`.

    input_shapes: name -> list of dims (None or -1 for a dynamic dim).
    fixed_batch: True when the graph only accepts batch 1 (inputs are then fed row by row).
    """

    backend: str
    path: Path
    input_names: list[str]
    output_names: list[str]
    input_shapes: dict[str, list[int | None]]
    fixed_batch: bool

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def run(self, x: np.ndarray) -> np.ndarray:
        """First output for a single-input graph, batch-1 fallback included."""
        if len(self.input_names) != 1:
            raise ValueError(f"{self.path}: graph has inputs {self.input_names}; use run_named")
        return self.run_batched({self.input_names[0]: x}, batch_inputs=(self.input_names[0],))[self.output_names[0]]

    def run_batched(self, feeds: dict[str, np.ndarray], batch_inputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Run with the inputs in `batch_inputs` split row by row if the graph has a fixed batch of 1."""
        feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()}
        self._check_inputs(feeds)
        n = len(feeds[batch_inputs[0]])
        if not self.fixed_batch or n == 1:
            return self.run_named(feeds)
        rows = [self.run_named({k: (v[i : i + 1] if k in batch_inputs else v) for k, v in feeds.items()}) for i in range(n)]
        return {name: np.concatenate([r[name] for r in rows]) for name in self.output_names}

    def _check_inputs(self, feeds: dict[str, np.ndarray]) -> None:
        missing = [n for n in self.input_names if n not in feeds]
        if missing:
            raise ValueError(f"{self.path}: missing graph input(s) {missing}; the graph takes {self.input_names}")
        for name in self.input_names:
            want, got = self.input_shapes[name], feeds[name].shape
            fixed = [(i, d) for i, d in enumerate(want) if isinstance(d, int) and d > 0 and i > 0]
            if len(want) != len(got) or any(got[i] != d for i, d in fixed):
                raise ValueError(f"{self.path}: input {name!r} has shape {list(got)}, the graph expects {want} "
                                 "(dims after the first must match; were the features extracted with the model's feature config?)")


class OrtSession(Session):
    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for corrupt files
            raise ModelFileError(f"{path}: onnxruntime cannot load it ({_first_line(err)}); the file is corrupt or not an ONNX model") from None
        self.backend, self.path = "onnxruntime", path
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in outputs]
        self.input_shapes = {i.name: [d if isinstance(d, int) else None for d in i.shape] for i in inputs}
        self.fixed_batch = any(shape[:1] == [1] for shape in self.input_shapes.values() if len(shape) > 1)

    @property
    def metadata(self) -> dict[str, str]:
        """The graph's `metadata_props` (the exporter writes the artifact meta there)."""
        return dict(self._session.get_modelmeta().custom_metadata_map)

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._session.run(self.output_names, {k: feeds[k] for k in self.input_names})
        return dict(zip(self.output_names, outputs))


class LiteRTSession(Session):
    def __init__(self, path: Path, threads: int | None) -> None:
        interpreter_cls = _litert_interpreter()
        try:
            self._interp = interpreter_cls(model_path=str(path), num_threads=int(threads) if threads else None)
        except Exception as err:
            raise ModelFileError(f"{path}: LiteRT cannot load it ({_first_line(err)}); the file is corrupt or not a TFLite model") from None
        self.backend, self.path = "litert", path
        runner = self._interp.get_signature_list()
        self._runner = None
        if runner:  # a signature gives stable input/output names (litert-torch writes one)
            key = "serving_default" if "serving_default" in runner else next(iter(runner))
            self._runner = self._interp.get_signature_runner(key)
            self._details_in = details_in = self._runner.get_input_details()
            self._details_out = self._runner.get_output_details()
            self.input_names = list(details_in)
            self.output_names = list(self._details_out)
            sig = lambda d: [int(v) for v in d.get("shape_signature", d["shape"])]  # noqa: E731
            self.input_shapes = {n: _dims(sig(d)) for n, d in details_in.items()}
        else:
            self._interp.allocate_tensors()
            self._in = self._interp.get_input_details()
            self._out = self._interp.get_output_details()
            self.input_names = [d["name"] for d in self._in]
            self.output_names = [d["name"] for d in self._out]
            self.input_shapes = {d["name"]: _dims([int(v) for v in d.get("shape_signature", d["shape"])]) for d in self._in}
        self.fixed_batch = any(shape[:1] == [1] for shape in self.input_shapes.values() if len(shape) > 1)
        self._allocated: dict[str, tuple[int, ...]] = {}

    def run_named(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._runner is not None:
            outputs = self._runner(**{k: quantize_input(feeds[k], self._details_in[k]) for k in self.input_names})
            return {k: dequantize_output(np.asarray(v), self._details_out[k]) for k, v in outputs.items()}
        shapes = {d["name"]: tuple(feeds[d["name"]].shape) for d in self._in}
        if shapes != self._allocated:
            for d in self._in:
                self._interp.resize_tensor_input(d["index"], list(shapes[d["name"]]), strict=False)
            self._interp.allocate_tensors()
            self._allocated = shapes
        for d in self._in:
            self._interp.set_tensor(d["index"], quantize_input(feeds[d["name"]], d))
        self._interp.invoke()
        return {d["name"]: dequantize_output(self._interp.get_tensor(d["index"]).copy(), d) for d in self._out}


def quantize_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """float32 -> the tensor's integer type with its scale / zero point (full-integer int8 models)."""
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """An integer output back to float32 with its scale / zero point; float outputs unchanged."""
    if np.dtype(detail["dtype"]) == np.float32 or not np.issubdtype(y.dtype, np.integer):
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


def _dims(shape: list[int]) -> list[int | None]:
    return [None if d < 0 else d for d in shape]


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _litert_interpreter() -> Any:
    """The TFLite Interpreter class: ai-edge-litert, else tflite-runtime."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        raise ModelFileError("running .tflite models needs LiteRT: pip install ai-edge-litert (or tflite-runtime)") from None


def backend_for(path: str | Path, backend: str | None = None) -> str:
    """The backend for a model file: `backend` if given (checked), else from the suffix."""
    path = Path(path)
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if SUFFIX_BACKEND.get(path.suffix) not in (None, backend):
            raise ValueError(f"{path}: a {path.suffix} file cannot run on {backend}; it runs on {SUFFIX_BACKEND[path.suffix]}")
        return backend
    if path.suffix not in SUFFIX_BACKEND:
        raise ValueError(f"{path}: unknown model file type {path.suffix!r}; expected .onnx or .tflite")
    return SUFFIX_BACKEND[path.suffix]


def load_session(path: str | Path, backend: str | None = None, threads: int | None = 1) -> Session:
    """Load an .onnx (onnxruntime) or .tflite (LiteRT) graph. threads: intra-op threads (None = backend default)."""
    path = Path(path)
    kind = backend_for(path, backend)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: empty file; the model file is corrupt")
    return OrtSession(path, threads) if kind == "onnxruntime" else LiteRTSession(path, threads)
