"""The device side on 64-bit ARM Linux under qemu emulation (benchmarks/arm64_emulated.py).

Slow and machine-specific: needs root, qemu-user-static with binfmt_misc, and a Debian arm64
userland with edgedistill[device] installed in it (the script's rootfs and install stages);
skipped with the reason otherwise. Compares every device command's outputs with the x86-64 run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("EDGEDISTILL_ARM64_ROOT", "/work/arm64-root"))


def _missing() -> str | None:
    if not shutil.which("qemu-aarch64-static"):
        return "qemu-aarch64-static not installed (apt-get install qemu-user-static binfmt-support)"
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        return "binfmt_misc has no qemu-aarch64 entry (mount binfmt_misc; update-binfmts --enable qemu-aarch64)"
    if not (ROOT / "opt/ed/bin/edgedistill").exists():
        return f"no arm64 userland with edgedistill at {ROOT} (run benchmarks/arm64_emulated.py rootfs install)"
    if os.geteuid() != 0:
        return "chroot needs root"
    return None


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_device_commands_agree_on_arm64_under_emulation(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    script = REPO / "benchmarks" / "arm64_emulated.py"
    for stage in ("install", "prepare", "run", "run-arm", "compare"):
        done = subprocess.run([sys.executable, str(script), stage, "--root", str(ROOT), "--work", str(tmp_path)],
                              capture_output=True, text=True, cwd=REPO)
        assert done.returncode == 0, f"{stage}: {done.stderr[-2000:]}"
