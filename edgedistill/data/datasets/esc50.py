"""ESC-50 (and ESC-10): `audio/*.wav` and `meta/esc50.csv` (filename, fold, target, category, esc10).

Protocol: the official 5 folds; `fold=k` makes fold k test and the next fold valid. `esc10=True`
keeps the ESC-10 subset (10 classes). A copy holding a single fold (such as a sample) cannot be
cross-validated: it falls back to a class-stratified split that keeps clips of one source
recording (src_file) together, and says so in the manifest notes. `meta` names another CSV in
the same format. stdlib only: must not import torch.
"""

from __future__ import annotations

from pathlib import Path

from edgedistill.data.datasets._common import as_int, read_csv, require, with_test_fold
from edgedistill.data.manifest import Item, Manifest
from edgedistill.data.splits import stratified_group_split

CSV = "meta/esc50.csv"
COLUMNS = ("filename", "fold", "target", "category")


def load(root: str | Path, *, fold: int | None = None, esc10: bool = False, meta: str | Path | None = None,
         seed: int = 0) -> Manifest:
    """ESC-50 under `root` (the folder holding audio/ and meta/)."""
    root = Path(root)
    csv_path = Path(meta) if meta else root / CSV
    if not csv_path.is_absolute() and meta:
        csv_path = root / csv_path
    require(root, "audio", dataset="ESC-50", hint=f"expected ROOT/audio/*.wav and ROOT/{CSV}")
    if not csv_path.is_file():
        found = sorted(p.name for p in (root / "meta").glob("*.csv")) if (root / "meta").is_dir() else []
        raise ValueError(f"{csv_path}: ESC-50 metadata CSV not found" + (f"; pass meta= one of {', '.join(found)}" if found else ""))
    rows = read_csv(csv_path, COLUMNS + (("esc10",) if esc10 else ()), "ESC-50 metadata")
    if esc10:
        rows = [r for r in rows if r["esc10"].lower() == "true"]
    by_target = {}
    for row in rows:
        by_target.setdefault(as_int(row["target"], "target"), row["category"])
    labels = [by_target[k] for k in sorted(by_target)]
    items = [Item(f"audio/{r['filename']}", r["category"], "", as_int(r["fold"], "fold"), r.get("src_file", "")) for r in rows]
    name = "esc10" if esc10 else "esc50"
    folds = sorted({i.fold for i in items})
    if len(folds) > 1:
        return with_test_fold(Manifest(name, root, items, labels, "folds", [f"official {len(folds)}-fold cross-validation"]), fold)
    if fold is not None and fold not in folds:
        raise ValueError(f"{csv_path}: fold {fold} not present; this copy holds fold(s) {folds}")
    splits = stratified_group_split([i.label for i in items], [i.speaker for i in items], 0.2, 0.2, seed)
    items = [Item(i.path, i.label, s, i.fold, i.speaker) for i, s in zip(items, splits)]
    note = (f"this copy holds a single fold ({folds[0]}): cross-validation is impossible, so a stratified "
            f"train/valid/test split (60/20/20, source recordings kept together, seed {seed}) is used instead")
    return Manifest(name, root, items, labels, "split", [note])
