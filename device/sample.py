"""`edgedistill device sample`: a synthetic labelled training set from an exported generator.

The generator graph takes ``z`` (B, z_dim) float32 standard-normal noise and ``label_onehot``
(B, C) and returns ``features`` (B, F, T). Counts per class: `per_class` each (balanced), or the
same total split by the generator's class prior (meta ``class_prior``; largest remainders), or a
{label: count} dict. Seeded: the same seed gives the same samples.

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.device.artifacts import ArtifactError
from edgedistill.device.features import FeatureConfig
from edgedistill.device.predictor import feature_config_of, read_model_meta, resolve_model_file
from edgedistill.device.runtime import Session, load_session

INPUTS = ("z", "label_onehot")


def find_field(data: dict[str, Any], key: str) -> Any:
    """data[key], or the first `key` in nested dicts (an export keeps its source meta nested)."""
    if key in data:
        return data[key]
    for value in data.values():
        if isinstance(value, dict):
            found = find_field(value, key)
            if found is not None:
                return found
    return None


def class_counts(labels: list[str], per_class: int | dict[str, int], balanced: bool = True,
                 prior: list[float] | None = None) -> np.ndarray:
    """Samples per class: balanced `per_class`, the prior's split of per_class·C, or an explicit {label: count}."""
    n = len(labels)
    if isinstance(per_class, dict):
        unknown = sorted(set(per_class) - set(labels))
        if unknown:
            raise ValueError(f"unknown class(es) {unknown}; the generator's classes are {labels}")
        return np.array([int(per_class.get(name, 0)) for name in labels])
    if per_class < 1:
        raise ValueError(f"--ppc must be >= 1, got {per_class}")
    if balanced:
        return np.full(n, per_class)
    if prior is None or len(prior) != n:
        raise ValueError("the generator's metadata has no class_prior for its classes; use --balanced")
    share = np.asarray(prior, dtype=np.float64) / np.sum(prior) * per_class * n
    counts = np.floor(share).astype(int)
    counts[np.argsort(-(share - counts))[: per_class * n - counts.sum()]] += 1
    return counts


def generate(session: Session, counts: np.ndarray, z_dim: int, seed: int, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Run the generator for `counts[c]` samples of each class c: (x (N, F, T) float32, y (N,) int64)."""
    missing = [name for name in INPUTS if name not in session.input_names]
    if missing:
        raise ArtifactError(f"{session.path}: not a generator graph (inputs {session.input_names}, expected z and label_onehot)")
    n_classes = len(counts)
    y = np.repeat(np.arange(n_classes), counts)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((len(y), z_dim)).astype(np.float32)
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    parts = [session.run_batched({"z": z[i : i + batch_size], "label_onehot": onehot[i : i + batch_size]}, INPUTS)
             for i in range(0, len(y), batch_size)]
    output = "features" if "features" in session.output_names else session.output_names[0]
    x = np.concatenate([p[output] for p in parts]) if parts else np.zeros((0,), dtype=np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def sample(generator: str | Path, per_class: int | dict[str, int], seed: int = 0, balanced: bool = True,
           backend: str | None = None, threads: int | None = 1) -> tuple[np.ndarray, np.ndarray, list[str], FeatureConfig]:
    """Samples from an exported generator (directory or model file): (x, y, labels, feature config)."""
    model_dir, model_file = resolve_model_file(generator, backend)
    session = load_session(model_file, backend, threads)
    meta = read_model_meta(model_dir, model_file, session)
    config = feature_config_of(meta, model_dir)
    labels = list(meta.labels)
    if "z" not in session.input_shapes:
        raise ArtifactError(f"{model_file}: not a generator graph (inputs {session.input_names}, expected z and label_onehot)")
    z_dim = find_field(meta.extra, "z_dim") or session.input_shapes["z"][-1]
    if not isinstance(z_dim, int) or z_dim < 1:
        raise ArtifactError(f"{model_dir}: cannot tell the generator's latent size (no z_dim in metadata, dynamic z input)")
    counts = class_counts(labels, per_class, balanced, find_field(meta.extra, "class_prior"))
    x, y = generate(session, counts, z_dim, seed)
    if x.shape[1:] != config.shape:
        raise ArtifactError(f"{model_file}: generator outputs {list(x.shape[1:])} but its feature config gives {list(config.shape)}")
    return x, y, labels, config
