"""The selection artifact (schema ``edgedistill.selection``): which training clips active learning labelled.

Payload ``selection.npz``: ``indices`` int64 (K,) into the feature cache's train split, in
acquisition order; ``rows`` int64 (K,) the same clips as row numbers of the whole feature cache;
``acquired_round`` int64 (K,) the round each was labelled in (0 = initial random set).
meta.json carries the AL config, the model and training config, the budget (the largest), every
budget a round ended at, and the per-round history (n_labelled, n_acquired, accuracy, uar). numpy only: must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.artifacts import ArtifactError, Meta, read_meta, write_artifact
from edgedistill.data.featureset import FeatureSet

SCHEMA = "edgedistill.selection"
PAYLOAD = "selection.npz"


@dataclass
class Selection:
    """Selected train-split indices with their history; `apply` turns them back into clips."""

    indices: np.ndarray
    rows: np.ndarray
    acquired_round: np.ndarray
    rounds: list[dict[str, Any]]
    labels: list[str]
    meta: Meta

    def apply(self, feats: FeatureSet) -> FeatureSet:
        """The selected clips of `feats`, which must be the feature cache the selection was made on."""
        if self.meta.source_manifest_hash != feats.manifest_hash() or self.meta.feature_id != feats.feature_id:
            raise ArtifactError(
                f"selection was made on feature cache {self.meta.source_manifest_hash} ({self.meta.feature_id}) but this one is "
                f"{feats.manifest_hash()} ({feats.feature_id}); use the feature cache the selection came from")
        return feats.subset(self.rows)


def save_selection(out: str | Path, feats: FeatureSet, result, config: dict[str, Any], seed: int | None) -> Path:
    """Write `result` (an ALResult on `feats`' train split) with `config` (AL, model, training) as its method."""
    rows = np.flatnonzero(feats.split == "train")[result.indices]
    meta = Meta(
        schema=SCHEMA, feature_config=feats.config.to_dict(), feature_id=feats.feature_id, labels=list(feats.labels),
        method={"name": "active-learning", **config}, seed=seed, source_manifest_hash=feats.manifest_hash(),
        metrics={k: v for k, v in result.rounds[-1].items() if k in ("accuracy", "uar")},
        extra={"payload": PAYLOAD, "split": "train", "pool_size": int((feats.split == "train").sum()),
               "budget": int(result.budget), "budgets": [int(b) for b in result.budgets], "n_selected": int(len(result.indices)),
               "class_counts": np.bincount(feats.y[rows], minlength=feats.n_classes).tolist(), "rounds": result.rounds},
    )
    arrays = {"indices": np.asarray(result.indices, dtype=np.int64), "rows": rows.astype(np.int64),
              "acquired_round": result.acquired_round.astype(np.int64)}
    return write_artifact(out, meta, lambda tmp: np.savez(tmp / PAYLOAD, **arrays))


def load_selection(path: str | Path, features=None) -> Selection:
    """Read a selection artifact; `features` (config or feature_id) refuses one made on other features."""
    meta = read_meta(path, schema=SCHEMA, features=features)
    try:
        with np.load(Path(path) / PAYLOAD, allow_pickle=False) as data:
            indices, rows, acquired = data["indices"], data["rows"], data["acquired_round"]
    except (OSError, KeyError, ValueError) as err:
        raise ArtifactError(f"{path}/{PAYLOAD}: missing or corrupt ({err}); run `edgedistill select` again") from None
    if not len(indices) == len(rows) == len(acquired) or len(np.unique(indices)) != len(indices):
        raise ArtifactError(f"{path}/{PAYLOAD}: indices, rows and acquired_round disagree or repeat an index")
    return Selection(indices=indices, rows=rows, acquired_round=acquired, rounds=list(meta.extra.get("rounds", [])),
                     labels=list(meta.labels), meta=meta)
