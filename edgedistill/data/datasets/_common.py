"""Helpers shared by the dataset loaders: layout checks, CSV reading, option parsing.

stdlib only (plus the manifest and split helpers): must not import torch.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from edgedistill.data.manifest import Item, Manifest
from edgedistill.data.splits import fold_split, next_fold


def require(root: Path, *relative: str, dataset: str, hint: str) -> None:
    """Raise ValueError naming what is missing when `root` lacks any of the `relative` paths."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory; point to the {dataset} root ({hint})")
    missing = [r for r in relative if not (root / r).exists()]
    if missing:
        raise ValueError(f"{root}: missing {', '.join(missing)}; not a {dataset} layout ({hint})")


def read_csv(path: Path, required: Sequence[str], what: str) -> list[dict[str, str]]:
    """Rows of a CSV with a header; a missing column is an error naming the file and columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: cannot read the {what} CSV ({err})") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{path}: {what} CSV lacks column(s) {', '.join(missing)}; it has {', '.join(columns) or 'no header'}")
    return rows


def as_list(value: str | Iterable[str] | None) -> list[str] | None:
    """"a,b" or ["a", "b"] -> ["a", "b"]; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def as_int(value: str | int, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def with_test_fold(manifest: Manifest, fold: int | None) -> Manifest:
    """Turn a fold protocol into train/valid/test with `fold` as test (None keeps folds only)."""
    if fold is None:
        return manifest
    folds = [i.fold for i in manifest.items]
    valid = next_fold(folds, int(fold))
    splits = fold_split(folds, int(fold), valid)
    items = [Item(i.path, i.label, s, i.fold, i.speaker, i.start, i.duration) for i, s in zip(manifest.items, splits)]
    out = manifest.with_items(items, f"test fold {fold}, valid fold {valid}")
    out.protocol = "split"
    return out
