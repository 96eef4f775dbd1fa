"""A cached, memory-mappable feature set: the input of every training and distillation step.

On disk (schema ``edgedistill.features``)::

    FEAT/meta.json      feature config + feature_id, labels (class names), dataset, counts
    FEAT/features.npy   float32 (N, n_features, n_frames), read by rows on demand (`MappedRows`)
    FEAT/labels.npy     int64 (N,) class indices into meta["labels"]
    FEAT/items.csv      index, path, label, split, fold, speaker, duration (one row per clip)

`split` is "train", "valid", "test" or "" (fold-based datasets); `fold` is -1 when unknown;
`speaker` is "" when unknown. The feature config in meta.json is a `FeatureConfig` or, for a
`kind` listed in FEATURE_KINDS (e.g. "hubert": self-supervised frame features), that kind's
config class, loaded lazily by name. numpy + stdlib only: must not import torch.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgedistill.artifacts import ArtifactError, Meta, read_meta, write_artifact
from edgedistill.data.mapped import MappedRows
from edgedistill.device.trainset import check_labelled
from edgedistill.features import FeatureConfig
from edgedistill.registry import Registry

# config kinds other than FeatureConfig's: kind -> "module:Class" with from_dict/to_dict, shape, feature_id
FEATURE_KINDS = Registry("feature kind", {"hubert": "edgedistill.methods.gan.ssl:SSLConfig"})

SCHEMA = "edgedistill.features"
SPLITS = ("train", "valid", "test")
ITEM_COLUMNS = ("index", "path", "label", "split", "fold", "speaker", "duration")


@dataclass
class FeatureSet:
    """Features with labels and per-clip metadata; all arrays share the first axis."""

    x: np.ndarray | MappedRows  # float32 (N, F, T); a MappedRows reader when loaded from disk
    y: np.ndarray  # int64 (N,)
    labels: list[str]  # class names; y indexes this list
    config: FeatureConfig
    split: np.ndarray = None  # str (N,)
    fold: np.ndarray = None  # int (N,)
    speaker: np.ndarray = None  # str (N,)
    path: np.ndarray = None  # str (N,)
    duration: np.ndarray = None  # float seconds (N,)
    dataset: str = ""
    meta: Meta | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.y)
        self.y = np.asarray(self.y, dtype=np.int64)
        defaults = {"split": "", "fold": -1, "speaker": "", "path": "", "duration": np.nan}
        for name, default in defaults.items():
            value = getattr(self, name)
            if value is None:
                value = np.full(n, default, dtype=object if isinstance(default, str) else type(default))
            setattr(self, name, np.asarray(value))
        if self.x.shape[0] != n or any(len(getattr(self, k)) != n for k in defaults):
            raise ValueError(f"FeatureSet arrays disagree in length: x has {self.x.shape[0]}, y has {n}")
        if tuple(self.x.shape[1:]) != self.config.shape:
            raise ValueError(f"feature maps have shape {tuple(self.x.shape[1:])} but the config gives {self.config.shape}")
        if n and (self.y.min() < 0 or self.y.max() >= len(self.labels)):
            raise ValueError(f"labels must be in [0, {len(self.labels)}), got range [{self.y.min()}, {self.y.max()}]")

    # Views ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def feature_id(self) -> str:
        return self.config.feature_id

    def subset(self, index: np.ndarray | Sequence[int]) -> "FeatureSet":
        """The clips at `index` (integer indices or a boolean mask), same labels and config."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        x = self.x.take(index) if isinstance(self.x, MappedRows) else np.asarray(self.x[index])
        return FeatureSet(
            x=x, y=self.y[index], labels=list(self.labels), config=self.config,
            split=self.split[index], fold=self.fold[index], speaker=self.speaker[index],
            path=self.path[index], duration=self.duration[index], dataset=self.dataset, meta=self.meta,
        )

    def by_split(self, name: str) -> "FeatureSet":
        """The clips of one split ("train", "valid" or "test"); an empty split is an error."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        mask = self.split == name
        if not mask.any():
            present = sorted(set(self.split.tolist()) - {""})
            raise ValueError(
                f"feature set {self.dataset or ''} has no {name!r} clips (splits present: {', '.join(present) or 'none'}); "
                "prepare it with a split, or pick a fold protocol"
            )
        return self.subset(mask)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.n_classes)

    def manifest_hash(self) -> str:
        """Hash of (path, label, split, fold, speaker) rows: identifies the source data."""
        digest = hashlib.sha256()
        for row in zip(self.path, self.y, self.split, self.fold, self.speaker):
            digest.update(("\x1f".join(map(str, row)) + "\n").encode())
        return digest.hexdigest()[:16]

    # Disk ----------------------------------------------------------------------------------
    def save(self, out_dir: str | Path, seed: int | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write the feature cache atomically (never over an existing directory)."""
        meta = Meta(
            schema=SCHEMA, feature_config=self.config.to_dict(), feature_id=self.feature_id,
            labels=list(self.labels), method={"name": "features", "dataset": self.dataset}, seed=seed,
            source_manifest_hash=self.manifest_hash(),
            extra={"dataset": self.dataset, "n_items": len(self), "shape": list(self.config.shape),
                   "split_counts": {s: int((self.split == s).sum()) for s in SPLITS}, **(extra or {})},
        )

        def payload(tmp: Path) -> None:
            np.save(tmp / "features.npy", np.ascontiguousarray(self.x, dtype=np.float32))
            np.save(tmp / "labels.npy", self.y)
            (tmp / "items.csv").write_text(self.items_csv())

        return write_artifact(out_dir, meta, payload)

    def items_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(ITEM_COLUMNS)
        for i in range(len(self)):
            writer.writerow([i, self.path[i], self.labels[self.y[i]], self.split[i], int(self.fold[i]),
                             self.speaker[i], f"{float(self.duration[i]):.4f}"])
        return buffer.getvalue()

    @classmethod
    def load(cls, path: str | Path, features: FeatureConfig | str | None = None, mmap: bool = True) -> "FeatureSet":
        """Open a feature cache; `features` (config or id) refuses a cache of other features.

        mmap (default): `x` is a `MappedRows` reader of features.npy: only the rows indexed are
        read (pread, not a memory map: see `edgedistill.data.mapped`), splits (`by_split`,
        `subset`) are lazy views, so memory does not grow with the cache; `np.asarray(x)` reads it
        all. mmap=False reads it all at once.
        """
        path = Path(path)
        meta = read_meta(path, schema=SCHEMA, features=features)
        try:
            x = MappedRows.open(path / "features.npy") if mmap else np.load(path / "features.npy", allow_pickle=False)
            y = np.load(path / "labels.npy", allow_pickle=False)
            rows = list(csv.DictReader(io.StringIO((path / "items.csv").read_text())))
        except (OSError, ValueError) as err:
            raise ArtifactError(f"{path}: feature cache is incomplete or corrupt ({err}); prepare it again") from None
        if len(rows) != len(y) or x.shape[0] != len(y):
            raise ArtifactError(f"{path}: features ({x.shape[0]}), labels ({len(y)}) and items.csv ({len(rows)}) disagree")
        check_labelled(path / "labels.npy", x, y, list(meta.labels), x_source=path / "features.npy")
        try:
            config = feature_config_from_dict(meta.feature_config)
        except (TypeError, ValueError) as err:
            raise ArtifactError(f"{path / 'meta.json'}: feature_config cannot be read ({err})") from None
        return cls(
            x=x, y=y, labels=list(meta.labels), config=config,
            split=np.array([r["split"] for r in rows], dtype=object),
            fold=np.array([int(r["fold"]) for r in rows], dtype=int),
            speaker=np.array([r["speaker"] for r in rows], dtype=object),
            path=np.array([r["path"] for r in rows], dtype=object),
            duration=np.array([float(r["duration"]) for r in rows], dtype=float),
            dataset=str(meta.extra.get("dataset", "")), meta=meta,
        )


def feature_config_from_dict(data: dict[str, Any]):
    """The feature config stored in meta.json: FEATURE_KINDS[kind] for a listed kind, else a FeatureConfig."""
    kind = data.get("kind")
    return FEATURE_KINDS[kind].from_dict(data) if kind in FEATURE_KINDS else FeatureConfig.from_dict(data)
