"""Free Spoken Digit Dataset: `recordings/{digit}_{speaker}_{index}.wav` (8 kHz, 6 speakers).

Official split (README): recordings 0-4 of each digit and speaker are test, 5-49 train; here
5-9 are held out of train as valid. `split="speaker"` instead makes test and valid
speaker-disjoint (whole speakers, seeded). stdlib only: must not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgedistill.data.datasets._common import require
from edgedistill.data.manifest import Item, Manifest
from edgedistill.data.splits import group_split

NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)\.wav$")
LABELS = [str(d) for d in range(10)]
SPLITS = ("official", "speaker")


def load(root: str | Path, *, split: str = "official", seed: int = 0) -> Manifest:
    """FSDD under `root` (the folder holding `recordings/`). split: "official" or "speaker"."""
    root = Path(root)
    require(root, "recordings", dataset="FSDD", hint="expected ROOT/recordings/{digit}_{speaker}_{index}.wav")
    if split not in SPLITS:
        raise ValueError(f"fsdd split {split!r} unknown; choose one of {', '.join(SPLITS)}")
    items, problems = [], []
    for path in sorted((root / "recordings").glob("*.wav")):
        match = NAME.match(path.name)
        if not match:
            problems.append((f"recordings/{path.name}", "file name is not {digit}_{speaker}_{index}.wav"))
            continue
        digit, speaker, index = match.group(1), match.group(2), int(match.group(3))
        part = "test" if index <= 4 else "valid" if index <= 9 else "train"
        items.append(Item(f"recordings/{path.name}", digit, part, -1, speaker))
    notes = ["official split: index 0-4 test, 5-9 valid (held out of the official train), 10-49 train"]
    if split == "speaker" and items:
        parts = group_split([i.label for i in items], [i.speaker for i in items], 0.17, 0.17, seed)
        items = [Item(i.path, i.label, s, -1, i.speaker) for i, s in zip(items, parts)]
        notes = [f"speaker-disjoint split (seed {seed})"]
    return Manifest("fsdd", root, items, LABELS, "split", notes, problems)
