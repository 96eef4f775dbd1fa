"""`--nproc N`: run the same command line as N ranks under torchrun (`python -m torch.distributed.run`).

torchrun is the launcher: this only builds its command line and waits for it. Inside the ranks
torchrun's environment is set, so the command runs instead of re-launching. Torch-free.
"""

from __future__ import annotations

import subprocess
import sys

import typer

from edgedistill.distributed import is_main, launched, relaunch_command


def relaunch(nproc: int) -> None:
    """With nproc > 1 outside torchrun: run this command under torchrun and exit with its status."""
    if nproc <= 1 or launched():
        return
    raise typer.Exit(subprocess.call(relaunch_command(nproc, sys.argv[1:])))


def main_rank() -> bool:
    """Only rank 0 prints the summary of a distributed run."""
    return is_main()
