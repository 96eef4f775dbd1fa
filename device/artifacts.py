"""Artifact directories: `meta.json` + payload, written atomically, read with strict checks.

Every step of the flow (features, coreset, generator, trained model, exported model) writes an
artifact directory; its `meta.json` says what it is (schema name + version), how it was made
and with which features, so any step can be re-run from the previous one's output alone.

Numpy-free and torch-free (stdlib only): the device reads the same schema. Must not import the
host package `edgedistill` outside `edgedistill.device`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

META_FILE = "meta.json"

# Schema name -> the version this code writes and reads. A loader refuses any other version.
SCHEMAS: dict[str, int] = {
    "edgedistill.features": 1,  # cached feature arrays of a dataset (data layer)
    "edgedistill.coreset": 1,  # RFAD synthetic coreset: coreset.npz (x, y, labels)
    "edgedistill.generator": 1,  # GAN generator weights + builder
    "edgedistill.selection": 1,  # active-learning selected indices
    "edgedistill.model": 1,  # trained classifier (torch state dict as safetensors)
    "edgedistill.export": 1,  # exported ONNX / TFLite model
    "edgedistill.device-model": 1,  # model trained on the device
    "edgedistill.bundle": 1,  # device bundle for apps (bundle.json describes it)
}

REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "schema_version": int,
    "package_version": str,
    "git_commit": (str, type(None)),
    "created": str,
    "seed": (int, type(None)),
    "feature_config": dict,
    "feature_id": str,
    "labels": list,
    "method": dict,
    "source_manifest_hash": (str, type(None)),
    "metrics": dict,
}


class ArtifactError(ValueError):
    """An artifact is missing, malformed, of an unknown schema, or does not fit the caller."""


@dataclass
class Meta:
    """The contents of `meta.json`. `extra` holds schema-specific fields (payload details)."""

    schema: str
    feature_config: dict[str, Any]
    feature_id: str
    labels: list[str]
    method: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    source_manifest_hash: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = 0
    package_version: str = ""
    git_commit: str | None = None
    created: str = ""

    def __post_init__(self) -> None:
        if self.schema not in SCHEMAS:
            raise ArtifactError(f"unknown artifact schema {self.schema!r}; known: {', '.join(SCHEMAS)}")
        if not self.schema_version:
            self.schema_version = SCHEMAS[self.schema]
        if not self.package_version:
            self.package_version = _package_version()
        if not self.created:
            self.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        if self.git_commit is None:
            self.git_commit = _git_commit()

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in REQUIRED_FIELDS}
        data.update(self.extra)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "meta.json") -> "Meta":
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise ArtifactError(f"{source}: missing field(s) {', '.join(missing)}; the artifact is incomplete or not an edgedistill artifact")
        for name, kind in REQUIRED_FIELDS.items():
            if not isinstance(data[name], kind) or (kind is int and isinstance(data[name], bool)):
                raise ArtifactError(f"{source}: field {name!r} should be {_type_names(kind)}, got {type(data[name]).__name__}")
        schema, version = data["schema"], data["schema_version"]
        if schema not in SCHEMAS:
            raise ArtifactError(f"{source}: unknown schema {schema!r}; this edgedistill knows {', '.join(SCHEMAS)}")
        if version != SCHEMAS[schema]:
            raise ArtifactError(
                f"{source}: {schema} schema version {version} is not supported (this edgedistill "
                f"{_package_version()} reads version {SCHEMAS[schema]}); use a matching edgedistill version"
            )
        if not all(isinstance(label, str) for label in data["labels"]):
            raise ArtifactError(f"{source}: field 'labels' should be a list of strings")
        extra = {k: v for k, v in data.items() if k not in REQUIRED_FIELDS}
        return cls(**{name: data[name] for name in REQUIRED_FIELDS}, extra=extra)


def _type_names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("edgedistill")
    except Exception:  # not installed (running from a source tree)
        return "0+unknown"


def _git_commit() -> str | None:
    """The commit of the source tree this code runs from, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=True,
        )
        return out.stdout.strip() or None
    except Exception:
        return None


def check_output(out: str | os.PathLike, schema: str | None = None, force: bool = False) -> Path:
    """Refuse, before any work, an output that must not be written; return it as a Path.

    An existing path is refused (naming what is there), except with `force` when it is an
    artifact of the same `schema` (meta.json says so), which the caller may replace: `--force`
    never replaces a user's own folder or file. A parent that is a file or not writable is refused.
    """
    out = Path(out)
    if out.exists() or out.is_symlink():
        existing = _schema_at(out)
        if force and schema is not None and existing == schema:
            return out
        what = f"an {existing} artifact" if existing else ("a folder that is not an edgedistill artifact" if out.is_dir()
                                                           else "a file")
        if force and schema is not None:
            raise ArtifactError(f"--out {out} holds {what}; --force only replaces an {schema} artifact: choose another --out")
        raise ArtifactError(f"--out {out} already exists ({what}); outputs are never overwritten: choose a new --out path")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ArtifactError(f"--out {out}: {parent} is a file, not a folder: choose an --out inside a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ArtifactError(f"--out {out}: the folder {parent} is not writable: choose a folder you can write to")
    return out


def _schema_at(path: Path) -> str | None:
    try:
        return json.loads((path / META_FILE).read_text()).get("schema") if path.is_dir() else None
    except (OSError, ValueError, AttributeError):
        return None


def remove_stale(parent: str | os.PathLike, prefix: str) -> None:
    """Delete temporary entries `prefix*-PID*` in `parent` left by a process that no longer runs
    (a killed run); those of live processes are left alone."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    for entry in parent.glob(f"{prefix}*"):
        match = re.match(r"-?(\d+)(?:[.-]|$)", entry.name[len(prefix):])  # the PID right after the prefix
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_artifact(out_dir: str | os.PathLike, meta: Meta, write_payload: Callable[[Path], None]) -> Path:
    """Write an artifact directory atomically and return its path.

    `write_payload(tmp_dir)` writes the payload files into a temporary sibling directory
    (`.NAME.tmp-PID-*`; one a killed run left behind is removed by the next write); then
    `meta.json` is written and the directory renamed to `out_dir` in one step, so a crash never
    leaves a half-written artifact. An existing `out_dir` is never overwritten; when two processes
    write the same `out_dir` at once, one wins and the other gets a clear error.
    """
    out = check_output(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out.parent, f".{out.name}.tmp-")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    try:
        write_payload(tmp)
        write_json_atomic(tmp / META_FILE, meta.to_dict())
        try:
            os.rename(tmp, out)
        except OSError:
            if out.exists():
                raise ArtifactError(f"--out {out} was written by another process while this one ran; "
                                    "this run's result was discarded: choose a new --out path") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write JSON to a temporary name beside `path`, then rename (readers never see half a file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_meta(
    path: str | os.PathLike,
    schema: str | tuple[str, ...] | None = None,
    features: Any = None,
) -> Meta:
    """Read and check an artifact's `meta.json`.

    path: the artifact directory (or its meta.json). schema: the schema name(s) the caller can
    use. features: the caller's FeatureConfig (or its feature_id string); an artifact made with
    other features is refused with the settings that differ.
    """
    path = Path(path)
    meta_path = path if path.name == META_FILE else path / META_FILE
    if not meta_path.exists():
        what = "does not exist" if not path.exists() else f"has no {META_FILE}"
        raise ArtifactError(f"{path} {what}; expected an edgedistill artifact directory")
    try:
        data = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{meta_path}: not valid JSON ({err}); the artifact is corrupt") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{meta_path}: expected a JSON object")
    meta = Meta.from_dict(data, source=str(meta_path))
    wanted = (schema,) if isinstance(schema, str) else schema
    if wanted and meta.schema not in wanted:
        raise ArtifactError(f"{path} is a {meta.schema} artifact; this step needs {' or '.join(wanted)}")
    check_features(meta, features, source=str(path))
    return meta


def check_features(meta: Meta, features: Any, source: str, other: str = "the caller's features") -> None:
    """Refuse an artifact whose features differ from `features` (a FeatureConfig or a feature_id).

    The message names both feature ids and, when a config is given, the settings that differ.
    """
    if features is None:
        return
    wanted_id = features if isinstance(features, str) else features.feature_id
    if meta.feature_id == wanted_id:
        return
    detail = ""
    if not isinstance(features, str):
        differences = describe_config_difference(meta.feature_config, features.to_dict())
        detail = (f" (differs in {differences})" if differences else
                  " (the same settings: the ids were computed by different edgedistill front-end versions, "
                  f"or the artifact's meta.json was edited)")
    raise ArtifactError(
        f"{source} was made with features {meta.feature_id} but {other} are {wanted_id}{detail}: "
        "re-extract the features with the artifact's feature config (see its meta.json) or use a matching artifact"
    )


def describe_config_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Human list of the settings that differ between two config dicts, e.g. 'n_mfcc: 40 vs 13';
    an empty string when none differ (callers say why the ids differ then)."""
    keys = sorted(set(a) | set(b))
    missing = object()
    diffs = [f"{k}: {_shown(a.get(k, missing), missing)} vs {_shown(b.get(k, missing), missing)}"
             for k in keys if a.get(k, missing) != b.get(k, missing)]
    return ", ".join(diffs)


def _shown(value: Any, missing: object) -> str:
    return "(not set)" if value is missing else repr(value)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
