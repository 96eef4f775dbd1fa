"""UrbanSound8K: `audio/fold1..10/*.wav` and `metadata/UrbanSound8K.csv`.

Protocol: the official 10-fold cross-validation. Without `fold` the items carry fold numbers
only; `fold=k` makes fold k test and, by default, the next fold present valid (cyclically),
the rest train. `valid_fold=j` picks the valid fold, `valid_fold=none` keeps every other fold
for training (a copy with few folds need not spend one on validation). `metadata` names the
CSV when it is not `metadata/UrbanSound8K.csv` (relative to the root, or absolute). The
speaker column holds the Freesound source id (fsID): slices of one recording share it.
stdlib only: must not import torch.
"""

from __future__ import annotations

from pathlib import Path

from edgedistill.data.datasets._common import as_int, read_csv, require, with_test_fold
from edgedistill.data.manifest import Item, Manifest

CSV = "metadata/UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "fold", "classID", "class")


def load(root: str | Path, *, fold: int | None = None, valid_fold: int | str | None = None,
         metadata: str | Path | None = None, seed: int = 0) -> Manifest:
    """UrbanSound8K under `root` (the folder holding audio/ and metadata/)."""
    root = Path(root)
    require(root, "audio", dataset="UrbanSound8K", hint=f"expected ROOT/audio/fold1..10/*.wav and ROOT/{CSV}")
    csv_path = root / (metadata or CSV)
    if not csv_path.is_file():
        found = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.csv")) + sorted(p.name for p in root.glob("*.csv"))
        raise ValueError(f"{csv_path}: UrbanSound8K metadata CSV not found"
                         + (f"; pass metadata= one of {', '.join(found)}" if found else f"; expected ROOT/{CSV}"))
    rows = read_csv(csv_path, COLUMNS, "UrbanSound8K metadata")
    by_id = {}
    for row in rows:
        by_id.setdefault(as_int(row["classID"], "classID"), row["class"])
    labels = [by_id[k] for k in sorted(by_id)]
    items = [Item(f"audio/fold{as_int(r['fold'], 'fold')}/{r['slice_file_name']}", r["class"], "",
                  as_int(r["fold"], "fold"), r["fsID"]) for r in rows]
    manifest = Manifest("us8k", root, items, labels, "folds", ["official 10-fold cross-validation"])
    return with_test_fold(manifest, fold, valid_fold)

