"""The `device` extra installs and runs alone: a fresh virtual environment without torch (slow)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_device_extra_in_fresh_venv(tmp_path, classifier_export, toy_test_wavs):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", f"{ROOT}[device]"], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
                           capture_output=True, text=True)
    assert probe.stdout.strip() == "True", "the device extra must not pull torch"
    cli = venv / "bin" / "edgedistill"
    help_ = subprocess.run([str(cli), "device", "--help"], capture_output=True, text=True)
    assert help_.returncode == 0 and "infer" in help_.stdout
    paths, y, _ = toy_test_wavs
    infer = subprocess.run([str(cli), "device", "infer", str(classifier_export), str(paths[0]), "--json"],
                           capture_output=True, text=True)
    assert infer.returncode == 0, infer.stderr[-3000:]
    assert json.loads(infer.stdout)["results"][0]["top"][0]["label"] == f"class{y[0]}"
