"""Safe dataset downloads: resumable, size-limited, checksum-verified, traversal-proof extraction.

`download(name, root)` fetches the official archive of a dataset in `SOURCES` into ROOT
(resuming a `.part` file with an HTTP Range request), verifies the published checksum, renames
the archive into place atomically, and extracts it through a temporary folder, refusing members
that are absolute, contain `..`, are links pointing outside ROOT, or are devices, and archives
whose unpacked size exceeds the limit. Returns the dataset folder to pass to `prepare`.
stdlib only: must not import torch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgedistill.progress import progress as progress_bar, say

GIB = 1 << 30


@dataclass(frozen=True)
class Source:
    """An official archive: where it is, its published checksum ("sha256:..." / "md5:..." or None
    when the publisher gives none), and the folder inside ROOT that holds the dataset after extraction."""

    url: str
    checksum: str | None
    folder: str
    into: str = ""  # extract into ROOT/into (archives without a top-level folder)


SOURCES: dict[str, Source] = {
    "gsc": Source("http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
                  "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
                  "speech_commands_v0.02", into="speech_commands_v0.02"),
    "gsc-v0.01": Source("http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
                        "sha256:743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
                        "speech_commands_v0.01", into="speech_commands_v0.01"),
    "us8k": Source("https://zenodo.org/record/1203745/files/UrbanSound8K.tar.gz",
                   "md5:9aa69802bbf37fb986f71ec1483a196e", "UrbanSound8K"),
    "esc50": Source("https://github.com/karolpiczak/ESC-50/archive/master.zip", None, "ESC-50-master"),
    "fsdd": Source("https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz", None,
                   "free-spoken-digit-dataset-1.0.10"),
}


def download(name: str, root: str | Path, *, url: str | None = None, checksum: str | None = None,
             max_bytes: int = 16 * GIB, max_unpacked_bytes: int = 32 * GIB, timeout: float = 60.0,
             progress: bool = True) -> Path:
    """Download and extract dataset `name` into `root`; returns the dataset folder.

    url / checksum override the official ones (a mirror, or a file you checked yourself);
    checksum is "sha256:HEX" or "md5:HEX". max_bytes caps the download, max_unpacked_bytes the
    extracted size. A finished download is not fetched again; an interrupted one resumes.
    """
    if name not in SOURCES:
        raise ValueError(f"no download for dataset {name!r}; downloadable: {', '.join(SOURCES)}")
    source = SOURCES[name]
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / source.folder
    if (target / ".edgedistill-complete").exists():
        say(f"{target}: already downloaded and extracted", progress)
        return target
    url = url or source.url
    checksum = checksum or source.checksum
    archive = root / _archive_name(url)
    if not (archive.exists() and checksum and _digest(archive, checksum) == checksum):
        fetch(url, archive, checksum=checksum, max_bytes=max_bytes, timeout=timeout, progress=progress)
    extract(archive, root / source.into if source.into else root, root, max_unpacked_bytes=max_unpacked_bytes)
    if not target.is_dir():
        raise ValueError(f"{archive}: extracted, but {target} is missing; the archive is not the expected {name} release")
    (target / ".edgedistill-complete").write_text(f"{url}\n")
    return target


def fetch(url: str, dest: str | Path, *, checksum: str | None = None, max_bytes: int = 16 * GIB,
          timeout: float = 60.0, progress: bool = True) -> Path:
    """Download `url` to `dest` through `dest.part` (resumed when present), verify, rename."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the part file is already complete
            response = None
        else:
            raise ValueError(f"{url}: download failed (HTTP {err.code} {err.reason})") from None
    except (urllib.error.URLError, OSError) as err:
        raise ValueError(f"{url}: cannot connect ({getattr(err, 'reason', err)}); check the network or pass a mirror URL") from None
    if response is not None:
        with response:
            resumed = response.status == 206
            length = response.headers.get("Content-Length")
            total = (have if resumed else 0) + int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise ValueError(f"{url}: {total} bytes exceeds the size limit of {max_bytes} bytes; raise max_bytes if this is expected")
            _stream(response, part, append=resumed, start=have if resumed else 0, total=total, max_bytes=max_bytes,
                    url=url, progress=progress)
    if checksum:
        got = _digest(part, checksum)
        if got != checksum:
            part.unlink()
            raise ValueError(f"{url}: checksum mismatch (expected {checksum}, got {got}); the corrupt download was deleted, run again")
    else:
        say(f"{url}: no published checksum; sha256 of the download is {_digest(part, 'sha256:')} "
            "(pass it as the checksum to pin this file)", progress)
    os.replace(part, dest)
    return dest


def _stream(response, part: Path, *, append: bool, start: int, total: int | None, max_bytes: int, url: str,
            progress: bool) -> None:
    done = start
    with open(part, "ab" if append else "wb") as handle, progress_bar(total or None, f"download {part.name}", enabled=progress) as bar:
        while block := response.read(1 << 20):
            done += len(block)
            if done > max_bytes:
                handle.close()
                part.unlink()
                raise ValueError(f"{url}: download passed the size limit of {max_bytes} bytes; stopped and deleted")
            handle.write(block)
            bar.advance(len(block))
    if total is not None and done != total:
        raise ValueError(f"{url}: connection closed after {done} of {total} bytes; run again to resume")


def _digest(path: Path, checksum: str) -> str:
    algorithm = checksum.split(":", 1)[0].lower()
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"checksum {checksum!r}: use sha256:HEX or md5:HEX")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return f"{algorithm}:{digest.hexdigest()}"


def _archive_name(url: str) -> str:
    name = PurePosixPath(url.split("?", 1)[0]).name
    if not name or name in (".", ".."):
        raise ValueError(f"{url}: cannot tell the archive's file name from the URL")
    return name


def extract(archive: str | Path, dest: str | Path, root: str | Path, *, max_unpacked_bytes: int = 32 * GIB) -> Path:
    """Unpack a .tar(.gz/.bz2/.xz) or .zip into `dest` (inside `root`) after checking every member.

    Extraction goes to a temporary folder in `root`, moved into `dest` only when complete.
    Refused: absolute names, `..` parts, links whose target leaves `root`, devices and fifos,
    a total size over `max_unpacked_bytes`, and undecodable archives.
    """
    archive, dest, root = Path(archive), Path(dest), Path(root).resolve()
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, tmp, dest.resolve(), root, max_unpacked_bytes)
        else:
            _extract_tar(archive, tmp, dest.resolve(), root, max_unpacked_bytes)
        dest.mkdir(parents=True, exist_ok=True)
        for entry in tmp.iterdir():
            target = dest / entry.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            os.rename(entry, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _check_name(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"{archive}: refusing member {name!r}: absolute path")
    if ".." in path.parts:
        raise ValueError(f"{archive}: refusing member {name!r}: contains '..'")


def _check_link(archive: Path, name: str, target: str, dest: Path, root: Path) -> None:
    base = (dest / name).parent
    resolved = Path(os.path.normpath(base / target)) if not os.path.isabs(target) else Path(os.path.normpath(target))
    if not resolved.is_relative_to(root):
        raise ValueError(f"{archive}: refusing member {name!r}: link to {target!r} points outside {root}")


def _extract_tar(archive: Path, tmp: Path, dest: Path, root: Path, limit: int) -> None:
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                _check_name(archive, member.name)
                if member.issym() or member.islnk():
                    target = member.linkname if member.issym() else str(dest / member.linkname)
                    _check_link(archive, member.name, target, dest, root)
                elif not (member.isfile() or member.isdir()):
                    raise ValueError(f"{archive}: refusing member {member.name!r}: device, fifo or other special file")
                total += max(member.size, 0)
                if total > limit:
                    raise ValueError(f"{archive}: unpacks to more than {limit} bytes; refusing (raise max_unpacked_bytes if expected)")
            kwargs = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
            tar.extractall(tmp, members=members, **kwargs)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{archive}: not a readable archive ({err}); delete it and download again") from None


def _extract_zip(archive: Path, tmp: Path, dest: Path, root: Path, limit: int) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            total = 0
            for info in zf.infolist():
                _check_name(archive, info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    _check_link(archive, info.filename, zf.read(info).decode(), dest, root)
                total += info.file_size
                if total > limit:
                    raise ValueError(f"{archive}: unpacks to more than {limit} bytes; refusing (raise max_unpacked_bytes if expected)")
            bad = zf.testzip()
            if bad is not None:
                raise ValueError(f"{archive}: member {bad!r} is corrupt (CRC mismatch); delete the archive and download again")
            zf.extractall(tmp)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{archive}: not a readable archive ({err}); delete it and download again") from None

