"""Run-time choices shared by every torch step: compute device, precision and seeding.

The device is picked when the code runs ("auto": CUDA when present, else CPU), never hard-coded.
torch is imported inside the functions so importing this module stays torch-free.
"""

from __future__ import annotations

import os
import random

import numpy as np


def resolve_device(name: str = "auto"):
    """A torch.device for "auto", "cpu", "cuda" or "cuda:N"; a missing GPU is a clear error."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def resolve_precision(precision: str, device) -> str:
    """"fp32" or "bf16" for a config's `precision` on `device`: auto is bf16 on CUDA, fp32 elsewhere
    (on most CPUs bf16 is slower; on CPUs with AMX it pays for wide convolutions: ask for it)."""
    import torch

    from edgedistill.config import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} unknown; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch; with `deterministic`, ask torch for repeatable kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
