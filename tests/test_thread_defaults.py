"""Importing edgedistill sets the threading defaults for busy CPUs, unless the user set them."""

import json
import os
import subprocess
import sys

PROBE = "import os, json, edgedistill; print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), os.environ.get('OPENBLAS_NUM_THREADS'), sorted(edgedistill.THREAD_DEFAULTS)]))"


def probe(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_defaults_are_set_when_unset():
    assert probe() == ["PASSIVE", "1", ["OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS"]]


def test_the_users_settings_win():
    assert probe(OMP_WAIT_POLICY="ACTIVE", OPENBLAS_NUM_THREADS="2") == ["ACTIVE", "2", []]
    assert probe(OPENBLAS_NUM_THREADS="4") == ["PASSIVE", "4", ["OMP_WAIT_POLICY"]]
