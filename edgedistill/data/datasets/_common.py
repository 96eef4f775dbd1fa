"""Helpers shared by the dataset loaders: layout checks, CSV reading, option parsing.

stdlib only (plus the manifest and split helpers): must not import torch.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from edgedistill.data.manifest import Item, Manifest
from edgedistill.data.splits import fold_split, group_split, next_fold, stratified_split


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


NO_FOLD = ("none", "")


def with_test_fold(manifest: Manifest, fold: int | None, valid_fold: int | str | None = None) -> Manifest:
    """Turn a fold protocol into train/valid/test with `fold` as test (None keeps folds only).

    valid_fold: None takes the next fold present after `fold` (cyclically); "none" (or "")
    leaves no valid split, every other fold trains; a number picks that fold.
    """
    if fold is None:
        if valid_fold is not None:
            raise ValueError(f"valid_fold={valid_fold!r} needs a test fold: pass fold= as well")
        return manifest
    folds = [i.fold for i in manifest.items]
    if valid_fold is None:
        valid = next_fold(folds, int(fold))
    elif str(valid_fold).strip().lower() in NO_FOLD:
        valid = None
    else:
        valid = as_int(valid_fold, "valid_fold")
        if valid == int(fold):
            raise ValueError(f"valid_fold {valid} is the test fold; choose another fold or none")
        if valid not in set(folds):
            raise ValueError(f"valid fold {valid} not present; folds in this copy: {sorted(set(folds))}")
    splits = fold_split(folds, int(fold), valid)
    items = [Item(i.path, i.label, s, i.fold, i.speaker, i.start, i.duration) for i, s in zip(manifest.items, splits)]
    out = manifest.with_items(items, f"test fold {fold}, " + (f"valid fold {valid}" if valid is not None else "no valid fold"))
    out.protocol = "split"
    return out


def speaker_splits(dataset: str, parsed: Sequence[tuple[str, str, str]], *, test_speakers: str | Iterable[str] | None,
                   valid_speakers: str | Iterable[str] | None, test: float, valid: float,
                   seed: int) -> tuple[list[Item], str]:
    """(path, label, speaker) rows -> speaker-disjoint Items (fold = speaker index) and a note.

    test_speakers / valid_speakers name speakers ("" for none); None picks them with a seeded
    `group_split` dealing whole speakers to `test` / `valid` shares of the clips. With only one
    or two speakers left for training and validation, a speaker-disjoint valid split would take
    the only training speaker: then `valid` is a class-stratified share of the training
    speaker(s)' clips, and the note says so (test stays speaker-disjoint).
    """
    speakers = sorted({s for _, _, s in parsed})
    given_test, given_valid = as_list(test_speakers), as_list(valid_speakers)
    named = set(given_test or []) | set(given_valid or [])
    unknown = sorted(named - set(speakers))
    if unknown:
        raise ValueError(f"{dataset}: speaker(s) {unknown} not in this copy; speakers present: {', '.join(speakers)}")
    if given_test is not None and given_valid is not None and set(given_test) & set(given_valid):
        raise ValueError(f"{dataset}: speakers {sorted(set(given_test) & set(given_valid))} are both test and valid speakers")
    labels = [label for _, label, _ in parsed]
    groups = [s for _, _, s in parsed]
    if given_test is None:
        rest = [s for s in speakers if s not in set(given_valid or [])]
        index = [i for i, g in enumerate(groups) if g in rest]
        parts = group_split([labels[i] for i in index], [groups[i] for i in index], test, 0.0, seed, strict=True)
        given_test = sorted({groups[i] for i, p in zip(index, parts) if p == "test"})
    if given_valid is None:
        rest = [s for s in speakers if s not in set(given_test)]
        index = [i for i, g in enumerate(groups) if g in rest]
        share = min(valid * len(groups) / max(len(index), 1), 0.9)
        if len(rest) >= 3:
            parts = group_split([labels[i] for i in index], [groups[i] for i in index], 0.0, share, seed + 1, strict=True)
            given_valid = sorted({groups[i] for i, p in zip(index, parts) if p == "valid"})
    test_set, valid_set = set(given_test), set(given_valid or [])
    split = ["test" if s in test_set else "valid" if s in valid_set else "train" for s in groups]
    note = f"speaker-disjoint: test {sorted(test_set)}, valid {sorted(valid_set)}, the rest train; fold = speaker index"
    if given_valid is None and valid > 0:  # too few speakers for a speaker-disjoint valid split
        index = [i for i, s in enumerate(split) if s == "train"]
        parts = stratified_split([labels[i] for i in index], 0.0, share, seed + 1)
        for i, part in zip(index, parts):
            split[i] = part
        note = (f"speaker-disjoint test {sorted(test_set)}; only {len(rest)} other speaker(s), so valid is a "
                f"class-stratified {share:.0%} of their clips (seed {seed}), not speaker-disjoint; fold = speaker index")
    items = [Item(path, label, part, speakers.index(s), s) for (path, label, s), part in zip(parsed, split)]
    return items, note
