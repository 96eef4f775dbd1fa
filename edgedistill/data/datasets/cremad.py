"""CREMA-D: `AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav`, e.g. `1001_DFA_ANG_XX.wav`
(Cao et al. 2014; 91 actors 1001-1091, 12 sentences, 6 emotions).

Emotion codes ANG anger, DIS disgust, FEA fear, HAP happy, NEU neutral, SAD sad; level LO, MD,
HI or XX (unspecified). The actor is the speaker. `root` is the release folder holding
`AudioWAV/`, or a folder of the WAVs themselves (as many copies ship). Splits are speaker-
disjoint (see `_common.speaker_splits`): `test_speakers` / `valid_speakers` name actors
("1001,1002"), else seeded shares `test` / `valid`. stdlib only: must not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgedistill.data.datasets._common import speaker_splits
from edgedistill.data.manifest import Manifest

EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LABELS = sorted(EMOTIONS.values())
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})\.wav$")
HINT = "expected ROOT/AudioWAV/1001_DFA_ANG_XX.wav ..."


def load(root: str | Path, *, test_speakers: str | list[str] | None = None, valid_speakers: str | list[str] | None = None,
         test: float = 0.2, valid: float = 0.1, seed: int = 0) -> Manifest:
    """CREMA-D under `root` (the folder holding AudioWAV/, or the WAVs)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory; point to the CREMA-D root ({HINT})")
    folder = "AudioWAV/" if (root / "AudioWAV").is_dir() else ""
    files = sorted((root / folder).glob("*.wav"))
    if not files:
        raise ValueError(f"{root / folder}: no WAV files; not a CREMA-D layout ({HINT})")
    parsed, problems = [], []
    for path in files:
        rel = f"{folder}{path.name}"
        match = NAME.match(path.name)
        if not match or match.group(3) not in EMOTIONS:
            problems.append((rel, "file name does not follow the CREMA-D code (e.g. 1001_DFA_ANG_XX.wav)"))
            continue
        parsed.append((rel, EMOTIONS[match.group(3)], match.group(1)))
    if not parsed:
        raise ValueError(f"{root}: no file follows the CREMA-D naming; first: {problems[0][0]} ({HINT})")
    items, note = speaker_splits("crema-d", parsed, test_speakers=test_speakers, valid_speakers=valid_speakers,
                                 test=test, valid=valid, seed=seed)
    return Manifest("cremad", root, items, LABELS, "split", [note], problems)
