"""EmoDB (Berlin Emotional Speech): `wav/{speaker}{text}{emotion}{version}.wav`, 10 speakers.

Emotion from the 6th file-name letter (standard code W anger, L boredom, E disgust, A fear,
F happiness, T sadness, N neutral). Leave-speakers-out: `test_speakers` / `valid_speakers`
(default 03+08 test, 09+10 valid: one male and one female each), the rest train; every
speaker is also its own fold (0..9 in sorted order) for leave-one-speaker-out.
stdlib only: must not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgedistill.data.datasets._common import as_list, require
from edgedistill.data.manifest import Item, Manifest

CODES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
LABELS = sorted(CODES.values())
NAME = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z]?)\.wav$")


def load(root: str | Path, *, test_speakers: str | list[str] = "03,08", valid_speakers: str | list[str] = "09,10",
         seed: int = 0) -> Manifest:
    """EmoDB under `root` (the folder holding `wav/`)."""
    root = Path(root)
    require(root, "wav", dataset="EmoDB", hint="expected ROOT/wav/03a01Fa.wav ...")
    test, valid = set(as_list(test_speakers) or []), set(as_list(valid_speakers) or [])
    if test & valid:
        raise ValueError(f"emodb: speakers {sorted(test & valid)} are both test and valid speakers")
    parsed, problems = [], []
    for path in sorted((root / "wav").glob("*.wav")):
        match = NAME.match(path.name)
        if not match or match.group(3) not in CODES:
            problems.append((f"wav/{path.name}", "file name does not follow the EmoDB code (e.g. 03a01Fa.wav)"))
            continue
        parsed.append((f"wav/{path.name}", CODES[match.group(3)], match.group(1)))
    speakers = sorted({s for _, _, s in parsed})
    unknown = sorted((test | valid) - set(speakers))
    if unknown and parsed:
        raise ValueError(f"emodb: speaker(s) {unknown} not in this copy; speakers present: {', '.join(speakers)}")
    items = [Item(p, label, "test" if s in test else "valid" if s in valid else "train", speakers.index(s), s)
             for p, label, s in parsed]
    note = f"leave-speakers-out: test {sorted(test)}, valid {sorted(valid)}; fold = speaker index"
    return Manifest("emodb", root, items, LABELS, "split", [note], problems)
