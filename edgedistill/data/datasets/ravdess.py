"""RAVDESS speech: `Actor_01..24/03-01-EE-II-SS-RR-AA.wav` (Livingstone & Russo 2018).

The seven file-name fields: modality (03 audio-only), vocal channel (01 speech, 02 song),
emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08
surprised), intensity (01 normal, 02 strong), statement, repetition, actor (odd male, even
female). The emotion comes from the file name, the actor is the speaker; `channel="song"`
reads the song release (no disgust or surprised there), `emotions` keeps a subset of classes
(e.g. without calm). Splits are speaker-disjoint (see `_common.speaker_splits`): `test_speakers`
/ `valid_speakers` name actors ("01,02"), else seeded shares `test` / `valid`. Files that are
not audio-only or whose actor field disagrees with their folder are listed as problems; files
of the other vocal channel are left out (counted in the notes). stdlib only: must not import
torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgedistill.data.datasets._common import as_list, speaker_splits
from edgedistill.data.manifest import Manifest

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
            "07": "disgust", "08": "surprised"}
CHANNELS = {"speech": "01", "song": "02"}
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.wav$")
HINT = "expected ROOT/Actor_01/03-01-01-01-01-01-01.wav ..."


def load(root: str | Path, *, channel: str = "speech", emotions: str | list[str] | None = None,
         test_speakers: str | list[str] | None = None, valid_speakers: str | list[str] | None = None,
         test: float = 0.2, valid: float = 0.1, seed: int = 0) -> Manifest:
    """RAVDESS under `root` (the folder holding Actor_01 .. Actor_24)."""
    root = Path(root)
    if channel not in CHANNELS:
        raise ValueError(f"ravdess: channel={channel!r}; choose one of {', '.join(CHANNELS)}")
    actors = sorted(p for p in root.glob("Actor_*") if p.is_dir()) if root.is_dir() else []
    if not actors:
        raise ValueError(f"{root}: no Actor_XX folders; not a RAVDESS layout ({HINT})")
    labels = [label for code, label in sorted(EMOTIONS.items()) if channel == "speech" or code not in ("07", "08")]
    keep = as_list(emotions)
    if keep is not None:
        unknown = sorted(set(keep) - set(labels))
        if unknown:
            raise ValueError(f"ravdess: emotions {unknown} are not RAVDESS {channel} classes; choose from {', '.join(labels)}")
        labels = [label for label in labels if label in keep]
    parsed, problems, other_channel = [], [], 0
    for folder in actors:
        for path in sorted(folder.glob("*.wav")):
            rel = f"{folder.name}/{path.name}"
            match = NAME.match(path.name)
            if not match or match.group(3) not in EMOTIONS:
                problems.append((rel, "file name does not follow the RAVDESS code (e.g. 03-01-05-01-02-01-12.wav)"))
            elif match.group(1) != "03":
                problems.append((rel, f"modality {match.group(1)} is not audio-only (03)"))
            elif match.group(2) != CHANNELS[channel]:
                other_channel += 1  # a valid file of the other release (song / speech): not asked for
            elif folder.name != f"Actor_{match.group(7)}":
                problems.append((rel, f"actor field {match.group(7)} disagrees with the folder {folder.name}"))
            elif keep is None or EMOTIONS[match.group(3)] in keep:
                parsed.append((rel, EMOTIONS[match.group(3)], match.group(7)))
    if not parsed:
        first = f"; first problem: {problems[0][0]}: {problems[0][1]}" if problems else ""
        raise ValueError(f"{root}: no usable RAVDESS {channel} files ({HINT}){first}")
    items, note = speaker_splits("ravdess", parsed, test_speakers=test_speakers, valid_speakers=valid_speakers,
                                 test=test, valid=valid, seed=seed)
    notes = [note] + ([f"left out {other_channel} file(s) of the other vocal channel"] if other_channel else [])
    return Manifest("ravdess", root, items, labels, "split", notes, problems)
