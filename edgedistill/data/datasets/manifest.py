"""A CSV manifest: columns `path` and `label`, optional `split`, `fold`, `speaker`.

Paths are relative to the CSV's folder (or absolute). `root` is the CSV file or a folder
holding `manifest.csv`. Items without a split get one: speaker-disjoint when speakers are
given, else class-stratified (seeded). A split value must be train/valid/test (validation and
testing are accepted). stdlib only: must not import torch.
"""

from __future__ import annotations

from pathlib import Path

from edgedistill.data.datasets._common import as_int, as_list, read_csv
from edgedistill.data.manifest import Item, Manifest
from edgedistill.data.splits import group_split

ALIASES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid",
           "dev": "valid", "test": "test", "testing": "test", "": ""}


def load(root: str | Path, *, classes: str | list[str] | None = None, test: float = 0.1, valid: float = 0.1,
         seed: int = 0) -> Manifest:
    """Items listed in the CSV; `classes` fixes the class list (other labels are problems)."""
    path = Path(root)
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise ValueError(f"{path}: manifest CSV not found; pass the CSV (columns path,label[,split,fold,speaker])")
    rows = read_csv(path, ("path", "label"), "manifest")
    items = []
    for n, row in enumerate(rows, start=2):
        split = ALIASES.get(row.get("split", "").lower())
        if split is None:
            raise ValueError(f"{path}: line {n}: split {row['split']!r} is not train, valid or test")
        fold = as_int(row["fold"], f"{path}: line {n}: fold") if row.get("fold") else -1
        items.append(Item(row["path"], row["label"], split, fold, row.get("speaker", "")))
    labels = as_list(classes) or sorted({i.label for i in items if i.label.strip()})  # no label: a problem, not a class
    notes = []
    if items and all(i.split == "" for i in items) and all(i.fold < 0 for i in items):
        splits = group_split([i.label for i in items], [i.speaker for i in items], test, valid, seed)
        items = [Item(i.path, i.label, s, i.fold, i.speaker) for i, s in zip(items, splits)]
        kind = "speaker-disjoint" if all(i.speaker for i in items) and len({i.speaker for i in items}) >= 3 else "class-stratified"
        notes.append(f"no split column: {kind} split (seed {seed})")
    protocol = "folds" if any(i.fold >= 0 for i in items) and all(i.split == "" for i in items) else "split"
    return Manifest("manifest", path.parent, items, labels, protocol, notes)
