"""Split assignment: speaker-disjoint where speakers are known, otherwise stratified by class.

Pure functions over label / group arrays returning "train" / "valid" / "test" per item, seeded
and deterministic. numpy only: must not import torch.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np


def group_split(labels: Sequence[str], groups: Sequence[str], test: float = 0.1, valid: float = 0.1,
                seed: int = 0, strict: bool = False) -> list[str]:
    """Assign whole groups (speakers, source recordings) to test / valid / train.

    Groups are shuffled (seeded) and dealt to the split furthest below its target share of
    items, so no group appears in two splits. With fewer than 3 groups, or when a group is
    empty (""), falls back to a class-stratified split of the items (see `stratified_split`),
    unless `strict`: then groups are never split (one group: all train; two: test and train).
    """
    groups = [str(g) for g in groups]
    unique = sorted(set(groups))
    if "" in unique or (len(unique) < 3 and not strict):
        return stratified_split(labels, test, valid, seed)
    rng = np.random.default_rng(seed)
    sizes = defaultdict(int)
    for g in groups:
        sizes[g] += 1
    order = [unique[i] for i in rng.permutation(len(unique))]
    total = len(groups)
    targets = {"test": test * total, "valid": valid * total}
    assigned: dict[str, str] = {}
    filled = {"test": 0, "valid": 0}
    for name in ("test", "valid"):
        if targets[name] <= 0:
            continue
        while filled[name] < targets[name] and len(assigned) < len(order) - 1:
            group = next(g for g in order if g not in assigned)
            if filled[name] and filled[name] + sizes[group] / 2 > targets[name]:
                break  # adding this group would overshoot the share more than it helps
            assigned[group] = name
            filled[name] += sizes[group]
    return [assigned.get(g, "train") for g in groups]


def stratified_group_split(labels: Sequence[str], groups: Sequence[str], test: float = 0.1, valid: float = 0.1,
                           seed: int = 0) -> list[str]:
    """Class-stratified, keeping each group (e.g. clips of one source recording) in one split.

    Within every class, whole groups are dealt to test / valid / train by `group_split`'s rule
    (strict: a class with fewer than 3 groups lacks valid or test items rather than split one). Assumes a group does
    not span classes (true for source recordings; use `group_split` for speakers).
    """
    out = ["train"] * len(labels)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[str(label)].append(i)
    for k, label in enumerate(sorted(by_class)):
        index = by_class[label]
        parts = group_split([label] * len(index), [str(groups[i]) for i in index], test, valid, seed + k, strict=True)
        for i, part in zip(index, parts):
            out[i] = part
    return out


def stratified_split(labels: Sequence[str], test: float = 0.1, valid: float = 0.1, seed: int = 0) -> list[str]:
    """Per class, a seeded shuffle cut into test / valid / train shares (at least one train item)."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[str(label)].append(i)
    out = ["train"] * len(labels)
    for label in sorted(by_class):
        index = [by_class[label][i] for i in rng.permutation(len(by_class[label]))]
        n = len(index)
        n_test = min(int(round(test * n)), max(n - 1, 0))
        n_valid = min(int(round(valid * n)), max(n - 1 - n_test, 0))
        for i in index[:n_test]:
            out[i] = "test"
        for i in index[n_test : n_test + n_valid]:
            out[i] = "valid"
    return out


def fold_split(folds: Sequence[int], test_fold: int, valid_fold: int | None) -> list[str]:
    """Cross-validation: `test_fold` is test, `valid_fold` (if any) valid, every other fold train."""
    present = sorted(set(int(f) for f in folds))
    if test_fold not in present:
        raise ValueError(f"test fold {test_fold} not present; folds in this copy: {present}")
    return ["test" if f == test_fold else "valid" if f == valid_fold else "train" for f in folds]


def next_fold(folds: Sequence[int], test_fold: int) -> int | None:
    """The fold after `test_fold` (cyclically) among those present: the default valid fold."""
    present = sorted(set(int(f) for f in folds) - {test_fold})
    if not present:
        return None
    later = [f for f in present if f > test_fold]
    return later[0] if later else present[0]
