"""Host access to artifact reading and writing (the schema lives in `edgedistill.device.artifacts`
so the device reads exactly what the host writes). Must not import torch.
"""

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
