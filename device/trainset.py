"""Labelled features for on-device training and evaluation, from whatever the device has.

`load_labelled(source, config=None, split=None)` reads:
- a coreset artifact directory (schema ``edgedistill.coreset``: coreset.npz x, y, optional
  learned labels y_soft);
- a feature set directory (schema ``edgedistill.features``: features.npy, labels.npy,
  items.csv; `split` picks train / valid / test rows);
- a samples file ``.npz`` written by `edgedistill device sample` (x, y, labels, feature_config);
- a folder of the user's own recordings, one sub-folder per class holding WAV files (features
  are computed here with `config`, the model's front-end).
Features made with another front-end than `config` are refused (feature_id check).
`save_samples` writes the samples file atomically (npz, no pickle).
`check_labelled` is the one check of labelled arrays against their labels and a model's outputs
(the host's coreset and feature-set loaders call it too): every failure names the file.

numpy only (+ the device front-end): must not import torch or the host package.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.device.artifacts import META_FILE, ArtifactError, check_output, read_meta
from edgedistill.device.audio import read_wav
from edgedistill.device.features import FeatureConfig, extract_batch


@dataclass
class Labelled:
    """x float32 (N, F, T); y int64 (N,) indices into labels; y_soft (N, C) learned labels or None."""

    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    config: FeatureConfig
    source: str
    y_soft: np.ndarray | None = None

    def aligned_to(self, labels: list[str]) -> "Labelled":
        """The same data with y re-indexed into `labels` (a class missing there is an error)."""
        if list(labels) == self.labels:
            return self
        unknown = sorted(set(self.labels) - set(labels))
        if unknown:
            raise ValueError(f"{self.source}: classes {unknown} are not among the model's classes {list(labels)}")
        remap = np.array([labels.index(name) for name in self.labels], dtype=np.int64)
        return Labelled(self.x, remap[self.y], list(labels), self.config, self.source, None)


def load_labelled(source: str | Path, config: FeatureConfig | None = None, split: str | None = None) -> Labelled:
    """Read labelled features from a coreset, feature set, samples .npz or WAV class folders (see module doc)."""
    source = Path(source)
    if source.is_file() and source.suffix == ".npz":
        data = _load_samples(source)
    elif source.is_dir() and (source / META_FILE).is_file():
        meta = read_meta(source, schema=("edgedistill.coreset", "edgedistill.features"), features=config)
        data = _load_coreset(source, meta) if meta.schema == "edgedistill.coreset" else _load_featureset(source, meta, split)
    elif source.is_dir():
        if config is None:
            raise ValueError(f"{source}: a folder of recordings needs the model's feature config to compute features")
        data = _load_wav_folders(source, config)
    else:
        raise ValueError(f"{source}: not a coreset or feature set directory, a samples .npz or a folder of class sub-folders with WAV files")
    if config is not None and data.config.feature_id != config.feature_id:
        raise ArtifactError(f"{source}: features {data.config.feature_id} differ from the model's {config.feature_id}; "
                            "use data made with the model's feature config")
    if len(data.y) == 0:
        raise ValueError(f"{source}: no labelled examples{f' in split {split!r}' if split else ''}")
    if data.x.shape[1:] != data.config.shape:
        raise ArtifactError(f"{source}: features have shape {data.x.shape[1:]}, the feature config gives {data.config.shape}")
    return data


def check_labelled(source: str | Path, x: Any, y: np.ndarray, labels: list[str], y_soft: np.ndarray | None = None,
                   x_source: str | Path | None = None, chunk: int = 256) -> None:
    """Refuse labelled arrays that do not fit together, naming `source` and what to do.

    x (N, ...) features (an array or anything row-indexable with .shape, read in `chunk` rows);
    y (N,) integer indices into `labels`; y_soft (N, C) learned labels or None. Checks: N agrees,
    y is integral and within [0, len(labels)), labels are unique and non-empty, y_soft is (N, C),
    and x and y_soft hold no NaN or inf (the first bad row and `x_source`, default `source`, are named).
    """
    y = np.asarray(y)
    n_classes = len(labels)
    if len(getattr(x, "shape", ())) < 2:
        raise ArtifactError(f"{source}: features have shape {tuple(getattr(x, 'shape', ()))}, expected (N, bands, frames); make the data again")
    if not np.issubdtype(np.asarray(x[:1]).dtype, np.number):
        raise ArtifactError(f"{source}: features are {np.asarray(x[:1]).dtype} values, not numbers; make the data again")
    if n_classes == 0:
        raise ArtifactError(f"{source}: meta.json names no classes (labels is empty); the artifact is incomplete: make it again")
    if len(set(labels)) != n_classes or any(not str(name).strip() for name in labels):
        raise ArtifactError(f"{source}: class names {list(labels)} have duplicates or empty names; fix meta.json's labels")
    if y.ndim != 1 or len(y) != x.shape[0]:
        raise ArtifactError(f"{source}: {x.shape[0]} feature rows but labels of shape {tuple(y.shape)}; "
                            "the labels do not belong to these features: make the data again")
    if y.size and not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y)))):
        raise ArtifactError(f"{source}: labels are {y.dtype} values, not class indices; make the data again")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ArtifactError(f"{source}: label {bad} is outside the {n_classes} classes {list(labels)} of its meta.json; "
                            "the labels do not belong to this artifact: make it again")
    if y_soft is not None:
        y_soft = np.asarray(y_soft)
        if y_soft.shape != (len(y), n_classes):
            raise ArtifactError(f"{source}: learned labels y_soft have shape {tuple(y_soft.shape)}, expected "
                                f"({len(y)}, {n_classes}) for {n_classes} classes; make the coreset again")
        if not np.all(np.isfinite(y_soft)):
            raise ArtifactError(f"{source}: learned labels y_soft contain NaN or inf; make the coreset again")
    for start in range(0, x.shape[0], chunk):
        rows = np.asarray(x[start:start + chunk])
        finite = np.isfinite(rows.reshape(len(rows), -1)).all(axis=1)
        if not finite.all():
            raise ArtifactError(f"{x_source or source}: features contain NaN or inf (row {start + int(np.argmin(finite))}); "
                                "re-extract the features or drop those clips")


def require_every_class(data: Labelled) -> None:
    """Training data must hold at least one example of every class it names (else the model
    would silently lose a class or train on a class it never saw)."""
    counts = np.bincount(data.y, minlength=len(data.labels))
    empty = [name for name, count in zip(data.labels, counts) if count == 0]
    if empty:
        raise ArtifactError(f"{data.source}: no training examples of class(es) {empty} named in its labels; "
                            "add examples of every class or use data that has them")


def _npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data]
            if missing:
                raise ArtifactError(f"{path}: missing array(s) {missing}")
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        if isinstance(err, ArtifactError):
            raise
        raise ArtifactError(f"{path}: missing or corrupt ({err})") from None


def _load_coreset(path: Path, meta) -> Labelled:
    data = _npz(path / "coreset.npz", ("x", "y"))
    check_labelled(path / "coreset.npz", data["x"], data["y"], list(meta.labels), data.get("y_soft"))
    return Labelled(data["x"].astype(np.float32), data["y"].astype(np.int64), list(meta.labels),
                    FeatureConfig.from_dict(meta.feature_config), str(path), data.get("y_soft"))


def _load_featureset(path: Path, meta, split: str | None) -> Labelled:
    try:
        x = np.load(path / "features.npy", mmap_mode="r", allow_pickle=False)
        y = np.load(path / "labels.npy", allow_pickle=False).astype(np.int64)
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{path}: features.npy / labels.npy missing or corrupt ({err})") from None
    check_labelled(path / "labels.npy", x, y, list(meta.labels), x_source=path / "features.npy")
    rows = np.arange(len(y))
    if split:
        try:
            with open(path / "items.csv", newline="") as handle:
                splits = np.array([row.get("split", "") for row in csv.DictReader(handle)])
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise ArtifactError(f"{path / 'items.csv'}: missing or unreadable ({err}); prepare the features again") from None
        if len(splits) != len(y):
            raise ArtifactError(f"{path / 'items.csv'}: {len(splits)} rows for {len(y)} labels; prepare the features again")
        rows = np.flatnonzero(splits == split)
    return Labelled(np.asarray(x[rows], dtype=np.float32), y[rows], list(meta.labels),
                    FeatureConfig.from_dict(meta.feature_config), f"{path}{f' ({split})' if split else ''}")


def _load_samples(path: Path) -> Labelled:
    data = _npz(path, ("x", "y", "labels", "feature_config"))
    try:
        config = FeatureConfig.from_dict(json.loads(str(data["feature_config"])))
    except (TypeError, ValueError) as err:
        raise ArtifactError(f"{path}: feature_config cannot be read ({err}); sample the file again") from None
    check_labelled(path, data["x"], data["y"], [str(v) for v in np.atleast_1d(data["labels"])])
    return Labelled(data["x"].astype(np.float32), data["y"].astype(np.int64), [str(v) for v in data["labels"]], config, str(path))


def _load_wav_folders(path: Path, config: FeatureConfig) -> Labelled:
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and any(p.glob("*.wav")))
    if not classes:
        raise ValueError(f"{path}: expected one sub-folder of WAV files per class (e.g. {path}/yes/*.wav)")
    waves, y = [], []
    for index, name in enumerate(classes):
        for wav in sorted((path / name).glob("*.wav")):
            waves.append(read_wav(wav, expected_rate=config.sample_rate)[0])
            y.append(index)
    return Labelled(extract_batch(waves, config), np.array(y, dtype=np.int64), classes, config, str(path))


def save_samples(out: str | Path, x: np.ndarray, y: np.ndarray, labels: list[str], config: FeatureConfig,
                 info: dict[str, Any] | None = None) -> Path:
    """Write a samples .npz (x, y, labels, feature_config, feature_id, info JSON) atomically; never overwrites."""
    out = Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"{out}: the samples file must end in .npz")
    check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    try:
        np.savez(tmp, x=np.asarray(x, dtype=np.float32), y=np.asarray(y, dtype=np.int64), labels=np.array(labels, dtype=str),
                 feature_config=np.array(json.dumps(config.to_dict())), feature_id=np.array(config.feature_id),
                 info=np.array(json.dumps(info or {})))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out

