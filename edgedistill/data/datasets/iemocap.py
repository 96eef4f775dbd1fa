"""IEMOCAP: `Session1..5/sentences/wav/{dialog}/{utterance}.wav` with labels from
`Session*/dialog/EmoEvaluation/*.txt` (lines "[start - end]\\tUTTERANCE\\tEMO\\t[v, a, d]").

The standard 4 classes: neutral (neu), happy (hap, with excited exc merged in), angry (ang),
sad (sad); other labels are dropped. Protocol: leave-one-session-out (fold = session number);
`session=k` makes session k test and the first speaker of the next session valid. Speakers
are "Ses01F"-style (session + gender of the speaking actor). stdlib only: must not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgedistill.data.datasets._common import with_test_fold
from edgedistill.data.manifest import Item, Manifest

LINE = re.compile(r"^\[[\d.]+\s*-\s*[\d.]+\]\s+(Ses(\d\d)[MF]_\S+)\s+(\w+)\s+\[")
CLASSES = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
LABELS = ["angry", "happy", "neutral", "sad"]


def load(root: str | Path, *, session: int | None = None, seed: int = 0) -> Manifest:
    """IEMOCAP under `root` (the folder holding Session1..Session5)."""
    root = Path(root)
    sessions = sorted(p for p in root.glob("Session[1-5]") if p.is_dir()) if root.is_dir() else []
    if not sessions:
        raise ValueError(f"{root}: no Session1..Session5 folders; point to the IEMOCAP_full_release folder")
    items, problems = [], []
    for folder in sessions:
        evaluations = sorted((folder / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not evaluations:
            raise ValueError(f"{folder}: no dialog/EmoEvaluation/*.txt label files; not an IEMOCAP layout")
        for label_file in evaluations:
            for line in label_file.read_text(errors="replace").splitlines():
                match = LINE.match(line)
                if not match or match.group(3) not in CLASSES:
                    continue
                utterance = match.group(1)
                dialog = utterance.rsplit("_", 1)[0]
                rel = f"{folder.name}/sentences/wav/{dialog}/{utterance}.wav"
                speaker = utterance[:5] + utterance.rsplit("_", 1)[1][0]  # Ses01 + speaking actor's gender
                items.append(Item(rel, CLASSES[match.group(3)], "", int(match.group(2)), speaker))
    manifest = Manifest("iemocap", root, items, LABELS, "folds",
                        ["leave-one-session-out; excited merged into happy"], problems)
    if session is None:
        return manifest
    out = with_test_fold(manifest, int(session))
    valid_session = [i.fold for i in out.items if i.split == "valid"]
    if valid_session:  # keep one speaker of the valid session as valid, its partner trains
        keep = min(i.speaker for i in out.items if i.split == "valid")
        out.items = [i if i.split != "valid" or i.speaker == keep else Item(i.path, i.label, "train", i.fold, i.speaker)
                     for i in out.items]
    return out
