"""edgedistill: distil labelled audio datasets for on-device classifiers.

Importing this package must stay cheap and torch-free: the `device` extra installs it without
torch, and `edgedistill --help` must answer without loading heavy libraries.

On import it sets `OMP_WAIT_POLICY=PASSIVE` unless the user set OMP_WAIT_POLICY: OpenMP
runtimes (torch's and the fused RFAD kernel's) read it when they load, and their default lets
idle workers spin, which on a busy machine steals the cores the work needs (a 30-step RFAD run
took 3.8x its idle time beside two busy processes on 2 cores, 2.1x with PASSIVE; see
benchmarks/results/contention.md). `OMP_DEFAULTED` says whether this import set it.
"""

import os

__version__ = "0.1.0"

OMP_DEFAULTED = "OMP_WAIT_POLICY" not in os.environ
if OMP_DEFAULTED:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
