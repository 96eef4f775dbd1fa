"""torch.distributed for the long-running loops (RFAD, GAN, classifier training): one process per
rank, launched by torchrun (`python -m torch.distributed.run --nproc-per-node N -m edgedistill ...`).

A run is distributed when torchrun's environment is present (WORLD_SIZE, RANK, LOCAL_RANK,
MASTER_ADDR/PORT) or when the caller initialised a process group itself (tests spawn ranks with
torch.multiprocessing). `setup(device)` joins the group (NCCL when the run's device is CUDA, one
GPU per local rank; gloo on CPU) and returns the rank's device. Outside a group every helper is
the single-process identity: rank 0 of 1, all-reduce does nothing.

Rules the loops follow: every random choice comes from per-step seeds, so all ranks agree without
communication; each rank takes its `shard` of the global batch; gradients are summed with
`all_reduce_`; rank 0 alone writes checkpoints and artifacts (`is_main`).
Imports torch inside functions (the CLI reads `launched` and `relaunch_command` torch-free).
"""

from __future__ import annotations

import atexit
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import numpy as np

def launched() -> bool:
    """True inside a process started by torchrun (or any launcher that sets its environment)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def relaunch_command(nproc: int, argv: list[str]) -> list[str]:
    """The torchrun command line that runs `edgedistill argv...` as `nproc` local ranks.

    `--nproc N` itself is left out of the ranks' arguments: torchrun's own parser would take it for
    an abbreviation of its --nproc-per-node (the ranks record the world size they ran at instead).
    """
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(int(nproc)),
            "-m", "edgedistill", *rest]


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() else None


_LOCAL = [0]  # depth of `local()` blocks in this process


def _group() -> bool:
    dist = _dist()
    return bool(dist is not None and dist.is_initialized())


def active() -> bool:
    """True inside a process group (outside `local()` blocks)."""
    return not _LOCAL[0] and _group()


@contextmanager
def local() -> Iterator[None]:
    """Inside the block this rank works alone: world size 1, rank 0, no collectives, even though a
    group exists (work each rank does by itself, e.g. its share of the GAN's L_SML pool models)."""
    _LOCAL[0] += 1
    try:
        yield
    finally:
        _LOCAL[0] -= 1


def rank() -> int:
    """This process's rank: the group's, else torchrun's RANK before the group is joined, else 0
    (0 inside `local()`)."""
    if _LOCAL[0]:
        return 0
    if active():
        return _dist().get_rank()
    return int(os.environ.get("RANK", 0)) if launched() else 0


def world_size() -> int:
    return _dist().get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def setup(device_name: str = "auto"):
    """The torch.device of this rank; joins torchrun's process group first when launched.

    CUDA: rank r on this node uses cuda:LOCAL_RANK and NCCL; CPU: gloo. A group the caller already
    initialised is used as it is.
    """
    import torch

    from edgedistill.runtime import resolve_device

    device = resolve_device(device_name)
    dist = _dist()
    if launched() and not _group():
        if dist is None:
            raise ValueError("this torch build has no torch.distributed; run with one process")
        if device.type == "cuda":
            local = int(os.environ["LOCAL_RANK"])
            if local >= torch.cuda.device_count():
                raise ValueError(f"local rank {local} has no GPU ({torch.cuda.device_count()} visible); "
                                 "use --nproc-per-node <= the GPU count")
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_teardown)
    if _group() and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank() % max(torch.cuda.device_count(), 1))))
    return device


def _teardown() -> None:
    if active():
        _dist().destroy_process_group()


def shard(index: np.ndarray, world: int | None = None, which: int | None = None) -> np.ndarray:
    """This rank's contiguous share of a global index array (sizes differ by at most one)."""
    world = world_size() if world is None else world
    which = rank() if which is None else which
    return np.array_split(np.asarray(index), world)[which]


def all_reduce_(tensors: Iterable[Any]) -> None:
    """Sum each tensor over ranks in place (gradients); nothing outside a group. None entries are skipped."""
    if not active():
        return
    dist = _dist()
    for tensor in tensors:
        if tensor is not None:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


def all_reduce_grads_(parameters: Iterable[Any]) -> None:
    """Sum the gradients of `parameters` over ranks in place, as one flat message (parameters
    without a gradient are skipped; every rank has the same graph, so the same ones)."""
    if not active():
        return
    import torch

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    _dist().all_reduce(flat, op=_dist().ReduceOp.SUM)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_(tensors: Iterable[Any], src: int, device: Any = None) -> None:
    """Overwrite `tensors` in place with rank `src`'s values. With `device` (the run's device) each
    tensor travels through a copy there (NCCL moves CUDA tensors only); nothing outside a group."""
    if not active():
        return
    dist = _dist()
    for tensor in tensors:
        if device is None or tensor.device == device:
            dist.broadcast(tensor, src=src)
        else:
            moved = tensor.to(device)
            dist.broadcast(moved, src=src)
            tensor.copy_(moved)


def barrier() -> None:
    if active():
        _dist().barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's `value` on every rank (small picklable control values only, never user files)."""
    if not active():
        return value
    box = [value]
    _dist().broadcast_object_list(box, src=0)
    return box[0]
