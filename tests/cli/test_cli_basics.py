"""The command line: help for every group, presets, inspect, extract, error exit codes."""

import json
import subprocess
import sys
import wave

import numpy as np
import pytest
from typer.testing import CliRunner

from edgedistill.cli.main import app

runner = CliRunner()


def command_groups():
    import typer.main

    return sorted(typer.main.get_command(app).commands)


def test_root_help_lists_groups():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in command_groups():
        assert name in result.output


@pytest.mark.parametrize("name", command_groups())
def test_every_command_has_help(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_presets_json_is_one_object():
    result = runner.invoke(app, ["features", "presets", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["kws"]["shape"] == [40, 101]


def test_extract_and_inspect(tmp_path, toy_features_dir):
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
        handle.writeframes((np.sin(np.arange(16000) * 0.1) * 8000).astype("<i2").tobytes())
    result = runner.invoke(app, ["features", "extract", str(path), "--out", str(tmp_path / "f.npz"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["shape"] == [1, 40, 101]
    assert np.load(tmp_path / "f.npz", allow_pickle=False)["x"].shape == (1, 40, 101)
    result = runner.invoke(app, ["inspect", str(toy_features_dir), "--json"])
    assert json.loads(result.stdout)["schema"] == "edgedistill.features"


def test_user_error_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "edgedistill.cli.main", "inspect", str(tmp_path / "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
