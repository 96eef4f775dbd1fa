"""Run a benchmark's per-rank script in one process or under torchrun, and read its result.

Shared by the scale-out benchmarks (rfad_scale, gan_train_scale, train_bn_sync): the script prints
one JSON object as its last stdout line (rank 0's). Standard library only; must not import torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_ranks(script: Path, world: int, args: list[str], threads: int = 1) -> dict:
    """`script args` at world size 1 (a plain process) or `world` (torchrun --standalone), with
    OMP_NUM_THREADS=threads; its last stdout line as JSON. A failed run exits with its stderr tail."""
    cmd = [sys.executable, str(script)] if world == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(world), str(script)]
    out = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, check=False,
                         env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])
