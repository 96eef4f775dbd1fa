"""`edgedistill data ...`: list, prepare, info, synth, download through the CLI (tables and --json)."""

import json
import subprocess
import sys
import wave

import numpy as np
from typer.testing import CliRunner

from edgedistill.cli.main import app

runner = CliRunner()


def write_folder(root, per_class=6):
    for c, name in enumerate(["hi", "lo"]):
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            with wave.open(str(root / name / f"{k}.wav"), "wb") as handle:
                handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(8000)
                handle.writeframes((np.sin(np.arange(4000) * (0.1 + 0.2 * c)) * 8000).astype("<i2").tobytes())
    return root


def test_list_json_names_every_dataset():
    result = runner.invoke(app, ["data", "list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)["datasets"]
    assert {"gsc", "us8k", "esc50", "iemocap", "fsdd", "emodb", "folder", "manifest", "synth", "ravdess", "cremad", "tess"} <= set(data)
    assert data["us8k"]["options"] == {"fold": None, "valid_fold": None, "metadata": None} and data["gsc"]["downloadable"]


def test_prepare_and_info(tmp_path):
    root = write_folder(tmp_path / "rec")
    args = ["data", "prepare", "folder", str(root), "--out", str(tmp_path / "feat"), "--option", "test=0.34",
            "--option", "valid=0.0", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_items"] == 12 and data["shape"] == [40, 101] and data["split_counts"] == {"train": 8, "test": 4}
    assert data["files_per_s"] > 0
    info = runner.invoke(app, ["data", "info", str(tmp_path / "feat"), "--json"])
    summary = json.loads(info.stdout)
    assert summary["class_counts"] == {"hi": 6, "lo": 6} and summary["duration_s"]["mean"] == 0.5
    table = runner.invoke(app, ["data", "info", str(tmp_path / "feat")])
    assert table.exit_code == 0 and "Clips per class" in table.stdout and "feature_id" in table.stdout


def test_synth_json(tmp_path):
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "kw"), "--words", "up,down", "--per-word", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["n_clips"] == 6 and (tmp_path / "kw" / "manifest.csv").is_file()


def test_user_errors_are_one_line_exit_2(tmp_path):
    root = write_folder(tmp_path / "rec")
    cases = [
        ["data", "prepare", "timit", str(root), "--out", str(tmp_path / "a")],
        ["data", "prepare", "folder", str(root), "--out", str(tmp_path / "b"), "--option", "bogus=1"],
        ["data", "prepare", "us8k", str(root), "--out", str(tmp_path / "c")],
        ["data", "download", "emodb", str(tmp_path / "d")],
        ["data", "prepare", "folder", str(root), "--out", str(tmp_path / "e"), "--fold", "1"],
    ]
    expected = ["choose one of: gsc", "key one of classes", "missing audio", "downloadable: gsc", "has no folds"]
    for args, text in zip(cases, expected):
        proc = subprocess.run([sys.executable, "-m", "edgedistill.cli.main", *args], capture_output=True, text=True)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "error:" in proc.stderr and text in proc.stderr.replace("\n", "") and "Traceback" not in proc.stderr
