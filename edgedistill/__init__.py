"""edgedistill: distil labelled audio datasets for on-device classifiers.

Importing this package must stay cheap and torch-free: the `device` extra installs it without
torch, and `edgedistill --help` must answer without loading heavy libraries.

Threading defaults for a shared or busy CPU, set on import unless the user set them (thread
pools read them when they load, so they apply to torch and numpy loaded after this import):
- `OMP_WAIT_POLICY=PASSIVE`: OpenMP workers (torch's and the fused RFAD kernel's) sleep when
  idle instead of spinning; spinning workers steal the cores the work needs (a 30-step RFAD
  run took 3.8x its idle time beside two busy processes on 2 cores, 2.1x with PASSIVE).
- `OPENBLAS_NUM_THREADS=1`: numpy's BLAS (the device front-end's mel/DCT products, k-means)
  runs on the calling thread; its pthread workers busy-wait between the small products the
  front-end makes, which made device inference 4-6x slower beside busy processes.
torch's own thread count (`--threads`) is not affected. See benchmarks/results/contention.md.
`THREAD_DEFAULTS` lists the variables this import set.
"""

import os

__version__ = "0.1.0"

THREAD_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_NUM_THREADS": "1"}
THREAD_DEFAULTS = {name: value for name, value in THREAD_DEFAULTS.items() if name not in os.environ}
os.environ.update(THREAD_DEFAULTS)
