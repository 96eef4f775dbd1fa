"""The coreset artifact (schema ``edgedistill.coreset``): reading and writing, one place.

Payload ``coreset.npz``: ``x`` float32 (M, F, T) synthetic feature maps, ``y`` int64 (M,) class
indices, optional ``y_soft`` float32 (M, C) learned labels; ``history.png`` (see `coreset_plot`). numpy (and matplotlib for the plot) only: must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.artifacts import ArtifactError, Meta, read_meta, write_artifact
from edgedistill.device.trainset import check_labelled
from edgedistill.features import FeatureConfig
from edgedistill.methods.coreset_plot import PLOT_FILE, plot_distillation

SCHEMA = "edgedistill.coreset"
PAYLOAD = "coreset.npz"


@dataclass
class Coreset:
    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    config: FeatureConfig
    y_soft: np.ndarray | None = None
    meta: Meta | None = None

    @property
    def ipc(self) -> int:
        """Samples per class (the smallest class count)."""
        return int(np.bincount(self.y, minlength=len(self.labels)).min())


def save_coreset(out: str | Path, coreset: Coreset, method: dict[str, Any], seed: int | None,
                 source_manifest_hash: str | None, metrics: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None, plot: bool = True) -> Path:
    """Write the coreset artifact with ``history.png``: the run's curves from ``extra["history"]``
    (when the method has one) and one feature map per class, as `coreset_plot.plot_distillation`
    draws it (`plot=False` skips it, for tests and bulk writers)."""
    history = (extra or {}).get("history") or []
    if plot:
        extra = {**(extra or {}), "plot": PLOT_FILE}
    meta = Meta(schema=SCHEMA, feature_config=coreset.config.to_dict(), feature_id=coreset.config.feature_id,
                labels=list(coreset.labels), method=method, seed=seed, source_manifest_hash=source_manifest_hash,
                metrics=metrics or {}, extra={"payload": PAYLOAD, "n_samples": int(len(coreset.y)), "ipc": coreset.ipc,
                                              "learned_labels": coreset.y_soft is not None, **(extra or {})})
    arrays = {"x": coreset.x.astype(np.float32), "y": coreset.y.astype(np.int64)}
    if coreset.y_soft is not None:
        arrays["y_soft"] = coreset.y_soft.astype(np.float32)

    def payload(tmp: Path) -> None:
        np.savez(tmp / PAYLOAD, **arrays)
        if plot:
            title = f"{method.get('name', 'coreset')}: {coreset.ipc} per class, {len(coreset.y)} feature maps"
            plot_distillation(coreset.x, coreset.y, list(coreset.labels), history, tmp / PLOT_FILE, title,
                              (metrics or {}).get("best_step"))

    return write_artifact(out, meta, payload)


def load_coreset(path: str | Path, features: FeatureConfig | str | None = None, labels: list[str] | None = None) -> Coreset:
    """Load a coreset; refuses other features (naming the differences) or other class names."""
    meta = read_meta(path, schema=SCHEMA, features=features)
    if labels is not None and list(labels) != list(meta.labels):
        raise ArtifactError(f"{path}: coreset classes {meta.labels} differ from the feature set's classes {list(labels)}")
    try:
        with np.load(Path(path) / PAYLOAD, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
            y_soft = data["y_soft"] if "y_soft" in data else None
    except (OSError, KeyError, ValueError) as err:
        raise ArtifactError(f"{path}/{PAYLOAD}: missing or corrupt ({err})") from None
    config = FeatureConfig.from_dict(meta.feature_config)
    if x.shape[1:] != config.shape or len(x) != len(y):
        raise ArtifactError(f"{path}/{PAYLOAD}: x has shape {x.shape}, y {y.shape}; expected (M, *{config.shape}) and (M,)")
    check_labelled(Path(path) / PAYLOAD, x, y, list(meta.labels), y_soft)
    return Coreset(x=x, y=y, labels=list(meta.labels), config=config, y_soft=y_soft, meta=meta)
