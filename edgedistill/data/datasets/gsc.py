"""Google Speech Commands v0.01 / v0.02 in the official layout.

ROOT/{word}/{speaker}_nohash_{n}.wav, ROOT/validation_list.txt, ROOT/testing_list.txt,
ROOT/_background_noise_/*.wav. Official split: files in the testing list are test, in the
validation list valid, the rest train (the lists are speaker-disjoint by construction).
Classes: `words` (default the 10 keywords), optionally `_unknown_` (every other word,
`unknown_per_class` x the mean keyword count at most, seeded) and `_silence_` (1 s cuts of the
noise recordings: the first 80 % of each recording feeds train, the next 10 % valid, the last
10 % test, so no noise segment leaks across splits). stdlib + numpy: must not import torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedistill.data.datasets._common import as_list, require
from edgedistill.data.manifest import Item, Manifest

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
NOISE = "_background_noise_"
UNKNOWN, SILENCE = "_unknown_", "_silence_"


def load(root: str | Path, *, words: str | list[str] | None = None, unknown: bool = False, silence: bool = False,
         unknown_per_class: float = 1.0, silence_per_class: float = 1.0, noise_dir: str | Path | None = None,
         seed: int = 0) -> Manifest:
    """Speech Commands under `root` (the folder holding the word folders and split lists)."""
    root = Path(root)
    require(root, "testing_list.txt", "validation_list.txt", dataset="Speech Commands",
            hint="expected ROOT/{word}/*.wav with ROOT/testing_list.txt and ROOT/validation_list.txt")
    words = as_list(words) or list(KEYWORDS)
    present = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    absent = [w for w in words if w not in present]
    if absent:
        raise ValueError(f"{root}: no folder for word(s) {', '.join(absent)}; words present: {', '.join(present)}")
    lists = {name: _read_list(root / f"{name}_list.txt") for name in ("testing", "validation")}
    rng = np.random.default_rng(seed)
    items = _word_items(root, words, lists)
    per_keyword = len(items) / len(words)
    labels = list(words)
    if unknown:
        others = _word_items(root, [w for w in present if w not in words], lists, label=UNKNOWN)
        keep = int(round(unknown_per_class * per_keyword))
        if len(others) > keep:
            others = [others[i] for i in sorted(rng.choice(len(others), keep, replace=False))]
        items += others
        labels.append(UNKNOWN)
    if silence:
        noise = Path(noise_dir) if noise_dir else root / NOISE
        items += _silence_items(root, noise, int(round(silence_per_class * per_keyword)), rng)
        labels.append(SILENCE)
    notes = ["official split from testing_list.txt / validation_list.txt"]
    return Manifest("gsc", root, items, labels, "split", notes)


def _read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _word_items(root: Path, words: list[str], lists: dict[str, set[str]], label: str | None = None) -> list[Item]:
    items = []
    for word in words:
        for path in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{path.name}"
            split = "test" if rel in lists["testing"] else "valid" if rel in lists["validation"] else "train"
            items.append(Item(rel, label or word, split, -1, path.name.split("_nohash_")[0]))
    return items


def _silence_items(root: Path, noise: Path, count: int, rng: np.random.Generator) -> list[Item]:
    """`count` 1 s segments spread over the noise recordings, split by position in each file."""
    import soundfile

    files = sorted(noise.glob("*.wav")) if noise.is_dir() else []
    if not files:
        raise ValueError(f"{noise}: no background noise WAVs for the _silence_ class; pass noise_dir or drop silence")
    durations = [soundfile.info(str(f)).duration for f in files]
    items = []
    for i in range(count):
        k = i % len(files)
        split = rng.choice(["train", "valid", "test"], p=[0.8, 0.1, 0.1])
        lo, hi = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}[split]
        span = max(durations[k] * (hi - lo) - 1.0, 0.0)
        start = round(durations[k] * lo + rng.uniform(0, span), 3)
        rel = str(files[k].relative_to(root)) if files[k].is_relative_to(root) else str(files[k])
        items.append(Item(rel, SILENCE, str(split), -1, f"noise:{files[k].stem}", start, 1.0))
    return items
