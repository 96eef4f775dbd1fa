"""Load anything the device can classify with: an exported model or a model trained on the device.

`load_predictor(path)` takes an export artifact directory (schema ``edgedistill.export``), one of
its model files, or a device-trained model (schema ``edgedistill.device-model``, modes krr / head
/ full) and returns a `Predictor` with `labels`, `feature_config` and `logits(x)` /
`predict_proba(x)` on raw features (N, F, T). A model file without metadata, a front-end whose
feature_id differs from the model's, or a graph whose input does not fit the features is refused.

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.device.artifacts import META_FILE, ArtifactError, Meta, read_meta
from edgedistill.device.features import FeatureConfig
from edgedistill.device.runtime import Session, load_session

EXPORT_SCHEMA = "edgedistill.export"
DEVICE_SCHEMA = "edgedistill.device-model"
# Preferred model file of an export directory per backend (the exporter's names first).
MODEL_FILES = {
    None: ("model.fp32.onnx", "model.int8.onnx", "model.onnx", "model.fp32.tflite", "model.int8.tflite", "model.tflite"),
    "onnxruntime": ("model.fp32.onnx", "model.int8.onnx", "model.onnx"),
    "litert": ("model.fp32.tflite", "model.int8.tflite", "model.tflite"),
}
# Device-trained modes -> "module:function" loading a Predictor from (artifact dir, meta, backend, threads).
MODE_LOADERS = {
    "krr": "edgedistill.device.krr:load_predictor",
    "head": "edgedistill.device.head:load_predictor",
    "full": "edgedistill.device.full:load_predictor",
}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (numerically stable), same dtype family as the input (float64 for float64)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Predictor:
    """A classifier on raw features: `logits_fn(x (N, F, T) float32) -> (N, C)`."""

    labels: list[str]
    feature_config: FeatureConfig
    logits_fn: Callable[[np.ndarray], np.ndarray]
    meta: Meta
    path: Path
    info: dict[str, Any] = field(default_factory=dict)

    def logits(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != self.feature_config.shape:
            raise ValueError(f"{self.path}: features of shape {list(x.shape)} given, the model takes (N, {self.feature_config.shape[0]}, "
                             f"{self.feature_config.shape[1]}) from feature config {self.feature_config.feature_id}")
        parts = [self._checked(self.logits_fn(x[i : i + batch_size]), min(batch_size, len(x) - i)) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), dtype=np.float32)

    def _checked(self, out: np.ndarray, rows: int) -> np.ndarray:
        """The model's outputs must be one score per class named in its metadata."""
        out = np.asarray(out)
        if out.shape != (rows, len(self.labels)):
            raise ArtifactError(f"{self.path}: the model gives outputs of shape {list(out.shape)} for {rows} input(s) but its "
                                f"metadata names {len(self.labels)} classes {self.labels}; the metadata does not belong to this "
                                "model: re-export it from the trained model artifact")
        return out

    def predict_proba(self, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
        return softmax(self.logits(x, batch_size).astype(np.float64))


def feature_config_of(meta: Meta, source: str | Path) -> FeatureConfig:
    """The artifact's FeatureConfig, refusing one whose feature_id this device's front-end does not reproduce."""
    try:
        config = FeatureConfig.from_dict(meta.feature_config)
    except (TypeError, ValueError) as err:
        raise ArtifactError(f"{source}: feature_config cannot be used by this front-end ({err})") from None
    if config.feature_id != meta.feature_id:
        raise ArtifactError(
            f"{source}: the model's feature_id is {meta.feature_id} but this device's front-end gives {config.feature_id} "
            "for the same feature config; the model was made with another edgedistill front-end version: re-export it or update edgedistill"
        )
    return config


def check_backend(backend: str | None) -> None:
    """A clear error for a backend name the device runtime does not have."""
    if backend not in MODEL_FILES:
        names = ", ".join(str(k) for k in MODEL_FILES if k)
        raise ValueError(f"--backend {backend!r} is not a device runtime; choose one of {names} (or leave it out)")


def resolve_model_file(path: str | Path, backend: str | None = None) -> tuple[Path, Path]:
    """(artifact directory, model file) for an export directory or a model file inside one."""
    path = Path(path)
    check_backend(backend)
    if path.is_dir():
        if (path / META_FILE).is_file():
            read_meta(path)  # a newer schema version or a corrupt meta.json is refused, naming the file
        for name in MODEL_FILES[backend]:
            if (path / name).is_file():
                return path, path / name
        found = sorted(p.name for p in path.iterdir() if p.suffix in (".onnx", ".tflite"))
        raise ArtifactError(f"{path}: no model file for backend {backend or 'any'} (found {found or 'none'}); "
                            f"expected one of {', '.join(MODEL_FILES[backend])}")
    if not path.exists():
        raise ArtifactError(f"{path}: no such model file or directory")
    return path.parent, path


def read_model_meta(model_dir: Path, model_file: Path, session: Session | None = None) -> Meta:
    """The export meta: meta.json beside the model, else the ONNX `metadata_props`; none is an error."""
    if (model_dir / META_FILE).is_file():
        return read_meta(model_dir, schema=EXPORT_SCHEMA)
    embedded = getattr(session, "metadata", None) or {}
    # the exporter writes the whole meta as JSON under "edgedistill.meta"; else try every value
    candidates = [embedded["edgedistill.meta"]] if "edgedistill.meta" in embedded else list(embedded.values())
    for value in candidates:
        try:
            data = json.loads(value)
        except (TypeError, ValueError):
            continue
        if isinstance(data, dict) and "schema" in data:
            meta = Meta.from_dict(data, source=f"{model_file} metadata_props")
            if meta.schema == EXPORT_SCHEMA:
                return meta
    if embedded and "feature_id" in embedded and "feature_config" in embedded:  # one key per field
        data = {k: _maybe_json(v) for k, v in embedded.items()}
        return Meta.from_dict(data, source=f"{model_file} metadata_props")
    raise ArtifactError(
        f"{model_file}: the model has no edgedistill metadata (no {META_FILE} beside it and none embedded); the device "
        "needs its labels and feature config: export it with `edgedistill export RUN --target onnx` and pass the export directory"
    )


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def load_predictor(path: str | Path, backend: str | None = None, threads: int | None = 1) -> Predictor:
    """A Predictor for an export artifact (dir or model file) or a device-trained model directory."""
    check_backend(backend)
    path = Path(path)
    if path.is_dir() and (path / META_FILE).is_file() and read_meta(path).schema == DEVICE_SCHEMA:
        meta = read_meta(path, schema=DEVICE_SCHEMA)
        mode = meta.extra.get("mode")
        if mode not in MODE_LOADERS:
            raise ArtifactError(f"{path}: unknown device-model mode {mode!r}; known: {', '.join(MODE_LOADERS)}")
        module, name = MODE_LOADERS[mode].split(":")
        return getattr(importlib.import_module(module), name)(path, meta, backend, threads)
    model_dir, model_file = resolve_model_file(path, backend)
    session = load_session(model_file, backend, threads)
    meta = read_model_meta(model_dir, model_file, session)
    return classifier_predictor(session, meta, model_dir)


def classifier_predictor(session: Session, meta: Meta, source: Path) -> Predictor:
    """Wrap an exported classifier graph (input `features` (B, F, T) -> `logits` (B, C))."""
    config = feature_config_of(meta, source)
    check_graph_input(session, config)
    if not meta.labels:
        raise ArtifactError(f"{source}: the model's metadata has no labels; re-export it from a trained model artifact")
    return Predictor(labels=list(meta.labels), feature_config=config, logits_fn=session.run, meta=meta, path=source,
                     info={"backend": session.backend, "model_file": str(session.path)})


def check_graph_input(session: Session, config: FeatureConfig) -> None:
    """Refuse a graph whose (F, T) input does not match the feature config's shape."""
    shape = session.input_shapes[session.input_names[0]]
    if len(shape) != 3 or any(isinstance(d, int) and d != want for d, want in zip(shape[1:], config.shape)):
        raise ArtifactError(f"{session.path}: graph input {session.input_names[0]!r} has shape {shape} but the feature config "
                            f"{config.feature_id} gives (B, {config.shape[0]}, {config.shape[1]}); the metadata does not belong to this model")
