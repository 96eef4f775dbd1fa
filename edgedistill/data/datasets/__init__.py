"""Dataset loaders: one module per dataset, each a `load(root, *, seed=0, **options) -> Manifest`.

`DATASETS` is the explicit table (an unknown name lists the known ones); `DESCRIPTIONS` says
what each expects. Loaders only read metadata; `edgedistill.data.prepare` decodes the audio.
Must not import torch.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from edgedistill.registry import Registry

DATASETS = Registry("dataset", {
    "gsc": "edgedistill.data.datasets.gsc:load",
    "us8k": "edgedistill.data.datasets.us8k:load",
    "esc50": "edgedistill.data.datasets.esc50:load",
    "iemocap": "edgedistill.data.datasets.iemocap:load",
    "fsdd": "edgedistill.data.datasets.fsdd:load",
    "emodb": "edgedistill.data.datasets.emodb:load",
    "ravdess": "edgedistill.data.datasets.ravdess:load",
    "cremad": "edgedistill.data.datasets.cremad:load",
    "tess": "edgedistill.data.datasets.tess:load",
    "folder": "edgedistill.data.datasets.folder:load",
    "manifest": "edgedistill.data.datasets.manifest:load",
    "synth": "edgedistill.data.datasets.folder:load",
})

DESCRIPTIONS = {
    "gsc": ("Google Speech Commands v0.01/v0.02 (official split lists)", "kws"),
    "us8k": ("UrbanSound8K (10 folds; fold=k picks the test fold, valid_fold=j|none, metadata=CSV)", "us8k"),
    "esc50": ("ESC-50 / ESC-10 (5 folds; single-fold copies fall back to a stratified split)", "esc50"),
    "iemocap": ("IEMOCAP 4 classes (leave-one-session-out; session=k)", "ser"),
    "fsdd": ("Free Spoken Digit Dataset (official split, or split=speaker)", "kws"),
    "emodb": ("Berlin EmoDB, 7 emotions (leave-speakers-out)", "ser"),
    "ravdess": ("RAVDESS speech (Actor_XX/03-01-EE-...wav), 8 emotions, speaker-disjoint", "ser"),
    "cremad": ("CREMA-D (AudioWAV/1001_DFA_ANG_XX.wav), 6 emotions, speaker-disjoint", "ser"),
    "tess": ("TESS (SPEAKER_emotion folders), 7 emotions, one speaker held out", "ser"),
    "folder": ("one sub-folder per class (any depth); reads manifest.csv when present", "kws"),
    "manifest": ("CSV with path,label[,split,fold,speaker]", "kws"),
    "synth": ("output of `edgedistill data synth` (folder + manifest.csv, voices as speakers)", "kws"),
}


def load_dataset(name: str, root: str | Path, **options: Any):
    """The manifest of dataset `name` under `root`; unknown options list the valid ones."""
    loader = DATASETS.get_entry(name)
    accepted = loader_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"dataset {name!r} has no option(s) {', '.join(unknown)}; its options: {', '.join(accepted) or 'none'}")
    manifest = loader(root, **options)
    if name == "synth":
        manifest.dataset = "synth"
    return manifest


def loader_options(name: str) -> dict[str, Any]:
    """Keyword options of a dataset's loader with their defaults."""
    signature = inspect.signature(DATASETS.get_entry(name))
    return {p.name: p.default for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
