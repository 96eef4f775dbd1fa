"""Your own recordings: ROOT/{class}/**/*.{wav,flac,ogg} (one sub-folder per class, any depth).

When ROOT holds a `manifest.csv` (as `edgedistill data synth` writes), it is read instead
(speakers and splits from it). Otherwise splits are class-stratified (seeded): `test` and
`valid` give the shares. stdlib only: must not import torch.
"""

from __future__ import annotations

from pathlib import Path

from edgedistill.data.audio import audio_files
from edgedistill.data.datasets import manifest as manifest_loader
from edgedistill.data.datasets._common import as_list
from edgedistill.data.manifest import Item, Manifest
from edgedistill.data.splits import stratified_split

MANIFEST = "manifest.csv"


def load(root: str | Path, *, classes: str | list[str] | None = None, test: float = 0.1, valid: float = 0.1,
         use_manifest: bool = True, seed: int = 0) -> Manifest:
    """Recordings under `root`; `classes` restricts and orders the class list."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory; expected ROOT/{{class}}/*.wav")
    if use_manifest and (root / MANIFEST).is_file():
        out = manifest_loader.load(root / MANIFEST, classes=classes, test=test, valid=valid, seed=seed)
        out.dataset = "folder"
        return out
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    labels = as_list(classes) or folders
    files = [(f, p) for f in folders for p in audio_files(root / f)]
    if not files:
        raise ValueError(f"{root}: no .wav/.flac/.ogg files in class sub-folders; expected ROOT/{{class}}/*.wav")
    paths = [p.relative_to(root).as_posix() for _, p in files]
    splits = stratified_split([f for f, _ in files], test, valid, seed)
    items = [Item(path, label, split) for path, (label, _), split in zip(paths, files, splits)]
    note = f"class-stratified split ({1 - test - valid:.0%}/{valid:.0%}/{test:.0%}, seed {seed}); speakers unknown"
    return Manifest("folder", root, items, labels, "split", [note])
