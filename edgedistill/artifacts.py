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
    file_sha256,
    read_meta,
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
