"""Calibration and evaluation inputs for an export, read from artifacts on disk.

Calibration comes from the distilled data (a coreset, generator samples) or a feature cache;
evaluation from a feature cache split. Every source must have the model's features (feature_id
check) and, where it has labels, the model's class names. No torch import at module level.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgedistill.artifacts import read_meta


def load_calibration(path: str | os.PathLike, features, labels: list[str] | None = None, limit: int = 256,
                     seed: int = 0) -> np.ndarray:
    """(N, F, T) float32 calibration features from a feature cache (train split when present),
    a coreset or a generator artifact (balanced samples); at most `limit` examples, drawn with `seed`."""
    meta = read_meta(path, ("edgedistill.features", "edgedistill.coreset", "edgedistill.generator"), features=features)
    _check_labels(path, meta.labels, labels)
    rng = np.random.default_rng(seed)
    if meta.schema == "edgedistill.coreset":
        from edgedistill.methods.coreset import load_coreset

        x = load_coreset(path, features=features).x
    elif meta.schema == "edgedistill.generator":
        from edgedistill.methods.gan.artifact import load_generator, sample

        per_class = max(1, -(-limit // max(1, len(meta.labels))))
        x, _ = sample(load_generator(path), per_class, seed=seed, balanced=True)
    else:
        from edgedistill.data.featureset import FeatureSet

        fs = FeatureSet.load(path, features=features)
        if fs.split is not None and (fs.split == "train").any():
            fs = fs.by_split("train")
        x = fs.x
    x = np.asarray(x, dtype=np.float32)
    if len(x) > limit:
        x = x[np.sort(rng.choice(len(x), limit, replace=False))]
    return np.ascontiguousarray(x)


def load_eval(path: str | os.PathLike, features, labels: list[str], split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a feature cache's `split` (all clips when the cache has no splits), class indices
    mapped onto the model's `labels`."""
    from edgedistill.data.featureset import FeatureSet

    fs = FeatureSet.load(path, features=features)
    _check_labels(path, fs.labels, labels)
    if fs.split is not None and (fs.split != "").any():
        fs = fs.by_split(split)
    return np.ascontiguousarray(fs.x, dtype=np.float32), np.asarray(fs.y, dtype=np.int64)


def _check_labels(path: str | os.PathLike, theirs: list[str], ours: list[str] | None) -> None:
    if ours is not None and theirs and list(theirs) != list(ours):
        raise ValueError(f"{Path(path)} has classes {theirs} but the model has {ours}; use data of the same classes in the same order")
