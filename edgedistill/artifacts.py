"""Host access to artifact reading and writing (the schema lives in `edgedistill.device.artifacts`
so the device reads exactly what the host writes). Must not import torch.
"""

import hashlib
import os
from pathlib import Path

from edgedistill.device.artifacts import (  # noqa: F401
    META_FILE,
    SCHEMAS,
    ArtifactError,
    Meta,
    check_features,
    check_output,
    file_sha256,
    read_meta,
    remove_stale,
    write_artifact,
    write_json_atomic,
)


def artifact_digest(path: str | os.PathLike) -> str:
    """Hex sha256 of an artifact directory's content: every file's relative name and bytes.

    Names a coreset (or any artifact) by what it holds, not where it lives: rewriting the
    directory in place changes the digest. A missing directory is an error naming the path.
    """
    root = Path(path)
    if not root.is_dir():
        raise ArtifactError(f"{root}: no artifact directory there")
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(root).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def check_run_folder(out: str | os.PathLike, marker: str, kind: str) -> Path:
    """A resumable run folder (quickstart, compare): new, empty, or one holding `marker` from an
    earlier run of this kind; anything else (a user's own folder, a file, another artifact) is refused
    before any work. A parent that is a file or not writable is refused too."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"--out {out} is a file; a {kind} needs a folder: choose a new --out path")
    if out.is_dir():
        if (out / marker).exists() or not any(out.iterdir()):
            return out
        raise ArtifactError(f"--out {out} holds other files and no {marker}: it is not a {kind} folder; "
                            "choose a new --out path (nothing was changed)")
    return check_output(out)
