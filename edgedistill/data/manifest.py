"""The manifest: what a dataset loader returns (audio items with labels, splits, folds, speakers).

A loader only reads metadata (file names, CSVs, split lists); audio is decoded later by
`prepare`. Problems found while listing (a label outside the class list, a duplicate path) are
collected in `Manifest.problems` so `prepare(..., on_error="skip")` can skip and report them
instead of stopping. stdlib + numpy only: must not import torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

PROTOCOLS = ("split", "folds")


@dataclass(frozen=True)
class Item:
    """One labelled clip. `path` is relative to the manifest root (or absolute).

    start / duration (seconds) select a segment of a longer file (e.g. silence cut from a noise
    recording); duration None means the whole file.
    """

    path: str
    label: str
    split: str = ""
    fold: int = -1
    speaker: str = ""
    start: float = 0.0
    duration: float | None = None

    @property
    def key(self) -> str:
        """The clip's name in a feature cache: the path, plus the segment when it is one."""
        if self.duration is None and not self.start:
            return self.path
        return f"{self.path}#{self.start:.3f}+{self.duration or 0:.3f}"


@dataclass
class Manifest:
    """Items of one dataset under `root`, the class list (y indexes it) and how to evaluate.

    protocol: "split" (items carry train/valid/test) or "folds" (items carry fold numbers and
    the caller picks a test fold). notes: sentences for the user (fallbacks taken).
    problems: (path, reason) for items the loader refused.
    """

    dataset: str
    root: Path
    items: list[Item]
    labels: list[str]
    protocol: str = "split"
    notes: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        self.root = Path(self.root)
        empty = [name for name in self.labels if not str(name).strip()]
        if empty:
            raise ValueError(f"{self.root}: the class list holds an empty class name; every class needs a name")
        known = set(self.labels)
        kept, seen = [], set()
        for item in self.items:
            if not item.label.strip():
                self.problems.append((item.path, "no label: give every item a class name"))
            elif item.label not in known:
                self.problems.append((item.path, f"label {item.label!r} is not one of the classes ({', '.join(self.labels)})"))
            elif item.key in seen:
                self.problems.append((item.path, "duplicate path: listed more than once"))
            else:
                seen.add(item.key)
                kept.append(item)
        self.items = kept
        if not self.items:
            detail = f"; first problem: {self.problems[0][0]}: {self.problems[0][1]}" if self.problems else ""
            raise ValueError(f"{self.root}: no usable {self.dataset} audio items found{detail}")

    def __len__(self) -> int:
        return len(self.items)

    def resolve(self, item: Item) -> Path:
        return self.root / item.path

    def with_items(self, items: list[Item], note: str | None = None) -> "Manifest":
        notes = self.notes + ([note] if note else [])
        return replace(self, items=items, notes=notes, problems=list(self.problems))

    def content_hash(self, stat: bool = True) -> str:
        """Hash of every item (path, label, split, fold, speaker, segment) and, with `stat`, each
        file's size and modification time: unchanged inputs give the same hash."""
        digest = hashlib.sha256(f"{self.dataset}\x1f{','.join(self.labels)}\n".encode())
        stats: dict[str, str] = {}
        for item in self.items:
            row = [item.key, item.label, item.split, item.fold, item.speaker]
            if stat:
                if item.path not in stats:
                    try:
                        info = self.resolve(item).stat()
                        stats[item.path] = f"{info.st_size}:{info.st_mtime_ns}"
                    except OSError:
                        stats[item.path] = "missing"
                row.append(stats[item.path])
            digest.update(("\x1f".join(map(str, row)) + "\n").encode())
        return digest.hexdigest()[:16]
