"""Downloads against a local HTTP server on 127.0.0.1: resume, checksums, size limits, and
extraction that refuses absolute paths, '..', links out of ROOT and special files."""

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edgedistill.data.download import SOURCES, download, extract, fetch

FOLDER = SOURCES["fsdd"].folder


class Files(BaseHTTPRequestHandler):
    """Serves `files` (name -> bytes) with Range support; records the Range headers asked for."""

    files: dict = {}
    ranges: list = []
    cut_after: dict = {}  # name -> bytes to send before dropping the connection

    def do_GET(self):
        name = self.path.lstrip("/")
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        header = self.headers.get("Range")
        self.ranges.append(header)
        start = int(header.split("=")[1].split("-")[0]) if header else 0
        if start >= len(body):
            self.send_error(416)
            return
        self.send_response(206 if header else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        limit = self.cut_after.pop(name, None)
        self.wfile.write(body[start:] if limit is None else body[start : start + limit])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Files.files, Files.ranges, Files.cut_after = {}, [], {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def tar_bytes(members):
    """members: list of (TarInfo-like kwargs, data bytes or None)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for fields, data in members:
            info = tarfile.TarInfo(fields.pop("name"))
            for key, value in fields.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def good_archive():
    return tar_bytes([({"name": f"{FOLDER}/recordings/0_a_0.wav"}, b"RIFF-fake-audio" * 100),
                      ({"name": f"{FOLDER}/README.md"}, b"readme")])


def sha256(blob):
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def test_download_verifies_extracts_and_is_idempotent(server, tmp_path):
    blob = good_archive()
    Files.files["v1.tar.gz"] = blob
    path = download("fsdd", tmp_path, url=f"{server}/v1.tar.gz", checksum=sha256(blob), progress=False)
    assert path == tmp_path / FOLDER and (path / "recordings" / "0_a_0.wav").read_bytes() == b"RIFF-fake-audio" * 100
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".extract-*"))
    Files.ranges.clear()
    assert download("fsdd", tmp_path, url=f"{server}/v1.tar.gz", checksum=sha256(blob), progress=False) == path
    assert Files.ranges == []  # nothing fetched again


def test_interrupted_download_resumes_with_range(server, tmp_path):
    blob = good_archive()
    Files.files["v1.tar.gz"] = blob
    Files.cut_after["v1.tar.gz"] = 100
    with pytest.raises(ValueError, match="closed after 100 of"):
        fetch(f"{server}/v1.tar.gz", tmp_path / "v1.tar.gz", checksum=sha256(blob), progress=False)
    assert (tmp_path / "v1.tar.gz.part").stat().st_size == 100 and not (tmp_path / "v1.tar.gz").exists()
    fetch(f"{server}/v1.tar.gz", tmp_path / "v1.tar.gz", checksum=sha256(blob), progress=False)
    assert Files.ranges[-1] == "bytes=100-" and (tmp_path / "v1.tar.gz").read_bytes() == blob


def test_corrupted_download_is_deleted(server, tmp_path):
    blob = good_archive()
    Files.files["v1.tar.gz"] = blob[:-10] + b"0123456789"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download("fsdd", tmp_path, url=f"{server}/v1.tar.gz", checksum=sha256(blob), progress=False)
    assert list(tmp_path.iterdir()) == []
    md5 = "md5:" + hashlib.md5(blob).hexdigest()
    Files.files["v1.tar.gz"] = blob
    assert download("fsdd", tmp_path, url=f"{server}/v1.tar.gz", checksum=md5, progress=False).is_dir()


def test_size_limit_and_http_errors(server, tmp_path):
    Files.files["big.tar.gz"] = b"x" * 5000
    with pytest.raises(ValueError, match="exceeds the size limit"):
        fetch(f"{server}/big.tar.gz", tmp_path / "big.tar.gz", max_bytes=1000, progress=False)
    with pytest.raises(ValueError, match="HTTP 404"):
        fetch(f"{server}/missing.tar.gz", tmp_path / "m.tar.gz", progress=False)
    with pytest.raises(ValueError, match="downloadable: gsc"):
        download("emodb", tmp_path)


def test_undecodable_archive(server, tmp_path):
    Files.files["bad.tar.gz"] = b"definitely not gzip"
    with pytest.raises(ValueError, match="not a readable archive"):
        download("fsdd", tmp_path, url=f"{server}/bad.tar.gz", checksum=sha256(b"definitely not gzip"), progress=False)


@pytest.mark.parametrize("member,reason", [
    ({"name": "/etc/evil"}, "absolute path"),
    ({"name": f"{FOLDER}/../../evil"}, "contains '..'"),
    ({"name": f"{FOLDER}/link", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "points outside"),
    ({"name": f"{FOLDER}/link", "type": tarfile.SYMTYPE, "linkname": "../../../outside"}, "points outside"),
    ({"name": f"{FOLDER}/hard", "type": tarfile.LNKTYPE, "linkname": "../../x"}, "contains '..'|points outside"),
    ({"name": f"{FOLDER}/dev", "type": tarfile.CHRTYPE}, "special file"),
])
def test_malicious_tar_members_are_refused(tmp_path, member, reason):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_bytes([({"name": f"{FOLDER}/ok.txt"}, b"ok"), (dict(member), b"x" if "type" not in member else None)]))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ValueError, match=reason):
        extract(archive, root, root)
    assert list(root.iterdir()) == []  # nothing extracted, no temporary folder left


def test_links_inside_root_are_fine(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(tar_bytes([({"name": f"{FOLDER}/a.txt"}, b"a"),
                                   ({"name": f"{FOLDER}/b.txt", "type": tarfile.SYMTYPE, "linkname": "a.txt"}, None)]))
    root = tmp_path / "root"
    root.mkdir()
    extract(archive, root, root)
    assert (root / FOLDER / "b.txt").read_text() == "a"


def test_malicious_zip_is_refused_and_zip_bomb_limit(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for name in ("../evil.txt", "/abs.txt", "a/../../evil.txt"):
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("ok.txt", "ok")
            zf.writestr(zipfile.ZipInfo(name), "evil")
        with pytest.raises(ValueError, match="refusing member"):
            extract(archive, root, root)
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 1_000_000)
    with pytest.raises(ValueError, match="unpacks to more than"):
        extract(archive, root, root, max_unpacked_bytes=100_000)
    assert list(root.iterdir()) == []
    extract(archive, root, root)
    assert (root / "zeros.bin").stat().st_size == 1_000_000


def test_no_published_checksum_reports_sha256(server, tmp_path, capsys):
    blob = good_archive()
    Files.files["v1.tar.gz"] = blob
    download("fsdd", tmp_path, url=f"{server}/v1.tar.gz")
    assert hashlib.sha256(blob).hexdigest() in capsys.readouterr().err.replace("\n", "")
