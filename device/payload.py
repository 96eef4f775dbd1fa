"""Check an artifact's payload files without trusting them: present, well-formed, no pickles.

`check_payload(path, meta)` opens every payload file the schema needs (and every other file
beside meta.json it knows how to read) by its header only: `.npy` / `.npz` arrays (an object
array, which numpy can only read by unpickling, is refused; so is a file shorter than its
header says), safetensors headers and extents, JSON, CSV text, ONNX and TFLite magic bytes. For
coresets and feature sets the labels are checked against the arrays and meta.json's classes
(`trainset.check_labelled`). Returns one line per file checked; any problem is an
`ArtifactError` naming the file and what to do.

numpy + stdlib only: must not import torch or the host package.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from edgedistill.device.artifacts import META_FILE, ArtifactError, Meta

# schema -> payload files that must be present ("*.onnx|*.tflite": at least one such model file)
REQUIRED: dict[str, tuple[str, ...]] = {
    "edgedistill.features": ("features.npy", "labels.npy", "items.csv"),
    "edgedistill.coreset": ("coreset.npz",),
    "edgedistill.selection": ("selection.npz",),
    "edgedistill.model": ("model.safetensors",),
    "edgedistill.generator": ("generator.safetensors",),
    "edgedistill.export": ("*.onnx|*.tflite",),
    "edgedistill.device-model": ("params.npz",),
    "edgedistill.bundle": ("bundle.json",),
}


def check_payload(path: str | Path, meta: Meta) -> list[str]:
    """Check the payload of the artifact at `path` (see module doc); one description per file."""
    path = Path(path)
    required = list(REQUIRED.get(meta.schema, ()))
    if meta.schema == "edgedistill.device-model":
        required += [str(name) for name in (meta.extra.get("graphs") or {}).values()]
    for name in required:
        if "|" in name:
            patterns = name.split("|")
            if not any(any(path.glob(p)) for p in patterns):
                raise ArtifactError(f"{path}: no model file ({' or '.join(patterns)}); the {meta.schema} payload is missing: "
                                    "make the artifact again")
        elif not (path / name).is_file():
            raise ArtifactError(f"{path / name}: missing; the {meta.schema} payload is incomplete: make the artifact again")
    lines = []
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != META_FILE):
        reader = READERS.get(file.suffix)
        if reader is not None:
            lines.append(f"{file.relative_to(path)}: {reader(file)}")
    if meta.schema == "edgedistill.coreset":
        lines.append(_coreset_labels(path, meta))
    elif meta.schema == "edgedistill.features":
        lines.append(_featureset_labels(path, meta))
    return lines


def _npy_header(handle: IO[bytes], source: str, size: int | None) -> tuple[tuple[int, ...], np.dtype]:
    try:
        version = np.lib.format.read_magic(handle)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise ValueError(f"unknown .npy format version {version}")
        shape, _fortran, dtype = read(handle)
    except (ValueError, OSError, SyntaxError, EOFError) as err:
        raise ArtifactError(f"{source}: not a numpy array file ({err}); the file is corrupt: make the artifact again") from None
    if dtype.hasobject:
        raise ArtifactError(f"{source}: holds a Python object array, which only unpickling can read; edgedistill never "
                            "unpickles: make the artifact again with edgedistill")
    if size is not None:
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size - handle.tell() < need:
            raise ArtifactError(f"{source}: truncated ({size - handle.tell()} bytes of data for an array of {need}); "
                                "make the artifact again")
    return tuple(shape), dtype


def _read_npy(file: Path) -> str:
    with open(file, "rb") as handle:
        shape, dtype = _npy_header(handle, str(file), file.stat().st_size)
    return f"{dtype} {list(shape)}"


def _read_npz(file: Path) -> str:
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArtifactError(f"{file}: not an .npz archive ({err}); the file is corrupt: make the artifact again") from None
    parts = []
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ArtifactError(f"{file}: member {info.filename!r} is not a numpy array; make the artifact again")
            try:
                with archive.open(info) as member:
                    shape, dtype = _npy_header(member, f"{file}[{info.filename[:-4]}]", None)
                if archive.testzip() is not None:
                    raise zipfile.BadZipFile("CRC mismatch")
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise ArtifactError(f"{file}: member {info.filename!r} is corrupt ({err}); make the artifact again") from None
            parts.append(f"{info.filename[:-4]} {dtype} {list(shape)}")
    if not parts:
        raise ArtifactError(f"{file}: an empty archive; make the artifact again")
    return ", ".join(parts)


def _read_safetensors(file: Path) -> str:
    size = file.stat().st_size
    with open(file, "rb") as handle:
        head = handle.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        try:
            if not 0 < n <= size - 8:
                raise ValueError("header length out of range")
            header: dict[str, Any] = json.loads(handle.read(n))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, TypeError, KeyError, IndexError, UnicodeDecodeError, AttributeError) as err:
            raise ArtifactError(f"{file}: not a safetensors file ({err}); the file is corrupt: make the artifact again") from None
    if max(ends, default=0) > size - 8 - n:
        raise ArtifactError(f"{file}: truncated (tensors end at byte {max(ends)} of {size - 8 - n}); make the artifact again")
    return f"{len(ends)} tensors"


def _read_json(file: Path) -> str:
    try:
        json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{file}: not valid JSON ({err}); make the artifact again") from None
    return "JSON"


def _read_csv(file: Path) -> str:
    try:
        rows = file.read_text().count("\n")
    except UnicodeDecodeError as err:
        raise ArtifactError(f"{file}: not a text CSV ({err}); make the artifact again") from None
    return f"{max(rows - 1, 0)} rows"


def _read_onnx(file: Path) -> str:
    head = file.read_bytes()[:1]
    if head != b"\x08":  # a ModelProto starts with field 1 (ir_version, varint)
        raise ArtifactError(f"{file}: not an ONNX model; the file is corrupt: export it again")
    return f"ONNX, {file.stat().st_size} bytes"


def _read_tflite(file: Path) -> str:
    with open(file, "rb") as handle:
        head = handle.read(8)
    if head[4:8] != b"TFL3":
        raise ArtifactError(f"{file}: not a TFLite model; the file is corrupt: export it again")
    return f"TFLite, {file.stat().st_size} bytes"


READERS = {".npy": _read_npy, ".npz": _read_npz, ".safetensors": _read_safetensors, ".json": _read_json,
           ".csv": _read_csv, ".onnx": _read_onnx, ".tflite": _read_tflite}


def _coreset_labels(path: Path, meta: Meta) -> str:
    from edgedistill.device.trainset import check_labelled

    with np.load(path / "coreset.npz", allow_pickle=False) as data:
        if "x" not in data or "y" not in data:
            raise ArtifactError(f"{path / 'coreset.npz'}: needs arrays x and y (has {sorted(data.files)}); make the coreset again")
        x, y = data["x"], data["y"]
        check_labelled(path / "coreset.npz", x, y, list(meta.labels), data["y_soft"] if "y_soft" in data else None)
    return f"labels: {len(y)} examples of {len(meta.labels)} classes agree with the arrays"


def _featureset_labels(path: Path, meta: Meta) -> str:
    from edgedistill.device.trainset import check_labelled

    x = np.load(path / "features.npy", mmap_mode="r", allow_pickle=False)
    y = np.load(path / "labels.npy", allow_pickle=False)
    check_labelled(path / "labels.npy", x, y, list(meta.labels), x_source=path / "features.npy")
    rows = (path / "items.csv").read_text().count("\n") - 1
    if rows != len(y):
        raise ArtifactError(f"{path / 'items.csv'}: {rows} rows for {len(y)} labels; prepare the features again")
    return f"labels: {len(y)} examples of {len(meta.labels)} classes agree with the arrays"
