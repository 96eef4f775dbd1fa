"""TESS (Toronto emotional speech set): one folder per speaker and emotion, e.g.
`OAF_angry/OAF_back_angry.wav` (two actresses, OAF aged 64 and YAF aged 26; 200 words x 7
emotions each).

The speaker and the emotion come from the folder name `{SPEAKER}_{emotion}`; the release
spells emotions inconsistently (OAF_Fear, OAF_Pleasant_surprise, YAF_pleasant_surprised), so
the case is folded and both surprise spellings map to "surprised". Folders may sit at any depth
under `root` (copies add a top folder). With two speakers the split is one speaker for test and
the other for training (`test_speakers`, default a seeded choice), and valid is a class-
stratified share of the training speaker's clips (see `_common.speaker_splits`). Folders or
files that do not follow the layout are problems. stdlib only: must not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgedistill.data.datasets._common import speaker_splits
from edgedistill.data.manifest import Manifest

EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
            "pleasant_surprise": "surprised", "pleasant_surprised": "surprised", "ps": "surprised", "sad": "sad"}
LABELS = sorted(set(EMOTIONS.values()))
FOLDER = re.compile(r"^([A-Za-z]+)_([A-Za-z_]+)$")
HINT = "expected ROOT/OAF_angry/OAF_back_angry.wav, ROOT/YAF_sad/YAF_bean_sad.wav ..."


def load(root: str | Path, *, test_speakers: str | list[str] | None = None, valid_speakers: str | list[str] | None = None,
         test: float = 0.5, valid: float = 0.1, seed: int = 0) -> Manifest:
    """TESS under `root` (a folder holding the SPEAKER_emotion folders, at any depth)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory; point to the TESS root ({HINT})")
    parsed, problems = [], []
    for path in sorted(root.rglob("*.wav")):
        rel = path.relative_to(root).as_posix()
        match = FOLDER.match(path.parent.name)
        emotion = EMOTIONS.get(match.group(2).lower()) if match else None
        if emotion is None:
            problems.append((rel, f"folder {path.parent.name!r} is not SPEAKER_emotion (emotions: {', '.join(sorted(EMOTIONS))})"))
        elif not path.name.upper().startswith(match.group(1).upper() + "_"):
            problems.append((rel, f"file name does not start with its folder's speaker {match.group(1)}_"))
        else:
            parsed.append((rel, emotion, match.group(1).upper()))
    if not parsed:
        first = f"; first problem: {problems[0][0]}: {problems[0][1]}" if problems else ""
        raise ValueError(f"{root}: no TESS SPEAKER_emotion folders with WAVs ({HINT}){first}")
    items, note = speaker_splits("tess", parsed, test_speakers=test_speakers, valid_speakers=valid_speakers,
                                 test=test, valid=valid, seed=seed)
    return Manifest("tess", root, items, LABELS, "split", [note], problems)
