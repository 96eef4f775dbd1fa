"""Fused 3x3 conv -> ReLU -> average-pool blocks on the CPU: the hot loop of RFAD's random nets.

Each block ``avg_pool(relu(conv3x3(x)))`` is one C loop per pooled position
(`conv_relu_pool.c`), so the full-resolution activation, four times the pooled one and the
bulk of a step's memory traffic in the torch version, is never written; the backward pass
reads a one-byte ReLU mask instead of the float activation, and consecutive blocks hand each
other zero-bordered buffers, so no padding copies. Same numbers as torch's conv2d / relu /
avg_pool2d up to float rounding, forward and backward (input gradient only: the random
weights are fixed).

The C file is compiled once per machine and CPU with the system C compiler (``$CC``, else
``cc`` / ``gcc``; ``-O3 -march=native`` and OpenMP where they work, else plainer flags) into
``$EDGEDISTILL_KERNEL_CACHE`` (default ``~/.cache/edgedistill/kernels``) and loaded with
ctypes: no torch extension build, a second or two. Where that fails (no compiler),
`available()` says why and callers use torch ops; ``EDGEDISTILL_FUSED_KERNEL=0`` turns it off.
Rows are split across ``torch.get_num_threads()`` threads: OpenMP's, torch's own runtime.

Imports torch: host-side only (never imported by edgedistill.device).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("conv_relu_pool.c")
FLAGS = ["-O3", "-fopenmp-simd", "-fno-math-errno", "-shared", "-fPIC"]
# tried in order until one compiles: the host's widest vectors (x86-64: AVX-512 where present;
# aarch64: -mcpu=native), then portable code; each with OpenMP first
TUNING = (["-march=native", "-mprefer-vector-width=512"], ["-march=native"], ["-mcpu=native"], [])
THREADING = (["-fopenmp"], [])
_LONG, _PTR = ctypes.c_long, ctypes.c_void_p


def _cpu_fingerprint() -> str:
    """What -march=native compiled for: the CPU's model and flags (a cached library is per CPU)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        return "\n".join(sorted({line for line in info.splitlines() if line.startswith(("model name", "flags"))}))
    except OSError:
        return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    return Path(os.environ.get("EDGEDISTILL_KERNEL_CACHE") or Path.home() / ".cache" / "edgedistill" / "kernels")


def _build(target: Path) -> None:
    """Compile SOURCE into `target` (written under a temporary name, then renamed): with OpenMP
    (rows split over the OpenMP threads torch runs) where the compiler has it, else without."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise RuntimeError("no C compiler found (set CC or install gcc)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        for extra in ([*tuning, *threading] for tuning in TUNING for threading in THREADING):
            result = subprocess.run([compiler, *FLAGS, *extra, str(SOURCE), "-o", tmp], capture_output=True, text=True,
                                    timeout=120)
            if result.returncode == 0:
                break
        else:
            raise RuntimeError(f"{compiler} failed: {(result.stderr or result.stdout).strip().splitlines()[:3]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | str:
    """The compiled kernel library, or the reason it could not be built (a string)."""
    if os.environ.get("EDGEDISTILL_FUSED_KERNEL", "1") == "0":
        return "disabled by EDGEDISTILL_FUSED_KERNEL=0"
    recipe = " ".join([*FLAGS, *map(" ".join, TUNING), *map(" ".join, THREADING)])
    key = hashlib.sha256(SOURCE.read_bytes() + recipe.encode() + _cpu_fingerprint().encode()).hexdigest()[:16]
    target = _cache_dir() / f"conv_relu_pool-{key}.so"
    try:
        if not target.exists():
            try:
                _build(target)
            except OSError:  # cache not writable (read-only, not a folder): build for this process only
                target = Path(tempfile.mkdtemp()) / target.name
                _build(target)
        lib = ctypes.CDLL(str(target))
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        return f"{type(err).__name__}: {err}"
    lib.crp_forward.argtypes = [_PTR] * 5 + [_LONG] * 11
    lib.crp_backward.argtypes = [_PTR] * 6 + [_LONG] * 11
    lib.crp_openmp.restype = ctypes.c_int
    return lib


def available() -> tuple[bool, str]:
    """(True, "") when the fused kernel is built and loadable here, else (False, why not)."""
    lib = _library()
    return (False, lib) if isinstance(lib, str) else (True, "")


@functools.lru_cache(maxsize=1)
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """Worker threads, one pool per process (keyed by pid: a forked child gets its own, as a
    parent's threads do not exist there)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="edgedistill-crp")


def _run_rows(fn, rows: int, width: int, make_args) -> None:
    """fn(*make_args(scratch, b0, b1), threads) over rows 0..rows split across torch's CPU threads:
    inside the kernel on the OpenMP threads torch runs when it was built with OpenMP (a pool of
    our own would compete with their spin-waiting: measured no gain from a second thread), else
    over a thread pool (ctypes releases the GIL)."""
    threads = max(1, min(torch.get_num_threads(), rows))
    if threads == 1 or _library().crp_openmp():
        scratch = torch.empty(width, dtype=torch.float32)  # referenced until the call returns
        fn(*make_args(scratch.data_ptr(), 0, rows), threads)
        return
    scratch = torch.empty(threads, width, dtype=torch.float32)
    bounds = [rows * i // threads for i in range(threads + 1)]
    calls = [(*make_args(scratch[i].data_ptr(), bounds[i], bounds[i + 1]), 1) for i in range(threads)]
    for future in [_pool(threads, os.getpid()).submit(fn, *args) for args in calls]:
        future.result()


def _pool_size(height: int, width: int) -> tuple[int, int]:
    """The random nets' pooling: 2 along a side while that side is >= 2, else 1."""
    return (2 if height >= 2 else 1), (2 if width >= 2 else 1)


def _zero_border(t: torch.Tensor) -> torch.Tensor:
    """Zero the one-cell border of t (B, H+2, W+2, C) in place; the interior is left as is."""
    t[:, 0].zero_()
    t[:, -1].zero_()
    t[:, :, 0].zero_()
    t[:, :, -1].zero_()
    return t


class _Blocks(torch.autograd.Function):
    """x (B, H, W, C_in) -> the blocks avg_pool(relu(conv3x3(.))) in sequence, channels last.

    Every intermediate map is written inside a zero border, so it is the next block's padded
    input without a copy, and in the backward pass each block's padded input gradient is the
    previous block's output gradient as is.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weights: tuple[torch.Tensor, ...], groups: tuple[int, ...]) -> torch.Tensor:
        lib = _library()
        batch = x.shape[0]
        xp = torch.nn.functional.pad(x, (0, 0, 1, 1, 1, 1))  # zero border: no bounds checks in C
        grad = ctx.needs_input_grad[0]
        saved, layers = [], []
        for i, (weight, g) in enumerate(zip(weights, groups)):
            height, width, cin = xp.shape[1] - 2, xp.shape[2] - 2, xp.shape[3]
            cout = weight.shape[0]
            ph, pw = _pool_size(height, width)
            ho, wo = height // ph, width // pw
            opad = 0 if i == len(weights) - 1 else 1
            # (C_out, C_in/g, 3, 3) -> forward (g, 9, C_in/g, C_out/g) and backward (g, 9, C_out/g, C_in/g) layouts
            taps = weight.detach().reshape(g, cout // g, cin // g, 9)
            wf = taps.permute(0, 3, 2, 1).contiguous()
            out = xp.new_empty(batch, ho + 2 * opad, wo + 2 * opad, cout)
            if opad:
                _zero_border(out)
            mask = torch.empty(batch, ho * ph, wo * pw, cout, dtype=torch.uint8) if grad else None
            dims = (height, width, cin, cout, g, ph, pw, opad)
            _run_rows(lib.crp_forward, batch, 4 * cout, lambda scratch, b0, b1: (
                xp.data_ptr(), wf.data_ptr(), out.data_ptr(), None if mask is None else mask.data_ptr(),
                scratch, b0, b1, *dims))
            if grad:
                saved += [mask, wf, taps.permute(0, 3, 1, 2).contiguous()]
                layers.append(dims)
            xp = out
        if grad:
            ctx.save_for_backward(*saved)
            ctx.layers = layers
        return xp

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        lib = _library()
        saved = ctx.saved_tensors
        grad = grad.contiguous()
        batch = grad.shape[0]
        for i in reversed(range(len(ctx.layers))):
            mask, wf, wb = saved[3 * i:3 * i + 3]
            dims = ctx.layers[i]
            height, width, cin, cout = dims[:4]
            grad_xp = grad.new_zeros(batch, height + 2, width + 2, cin)
            _run_rows(lib.crp_backward, batch, 4 * cout, lambda scratch, b0, b1: (
                grad.data_ptr(), mask.data_ptr(), wf.data_ptr(), wb.data_ptr(), grad_xp.data_ptr(), scratch, b0, b1, *dims))
            grad = grad_xp
        return grad[:, 1:-1, 1:-1], None, None


def conv_relu_pool(x: torch.Tensor, weights, groups) -> torch.Tensor:
    """Blocks avg_pool2d(relu(conv2d(h, weight, padding=1, groups=g))), one per (weight, g), on
    channels-last x; pooling is 2 along each side that is >= 2 (the random nets' blocks).

    x: (B, H, W, C_in) float32 on the CPU; weights: (C_out, C_in / g, 3, 3) tensors, fixed (no
    gradient); groups: one int per weight. Returns (B, H', W', C_out) channels last.
    Differentiable with respect to x. Raises RuntimeError when the kernel is not available
    (see `available()`), ValueError on tensors it does not take.
    """
    ok, why = available()
    if not ok:
        raise RuntimeError(f"fused conv-relu-pool kernel unavailable: {why}")
    weights, groups = tuple(weights), tuple(int(g) for g in groups)
    if len(weights) != len(groups) or not weights:
        raise ValueError(f"conv_relu_pool: {len(weights)} weight(s) but {len(groups)} group count(s)")
    if x.device.type != "cpu" or x.dtype != torch.float32 or any(w.dtype != torch.float32 for w in weights):
        raise ValueError(f"conv_relu_pool takes float32 CPU tensors, got {x.dtype} on {x.device}")
    channels = x.shape[-1] if x.dim() == 4 else None
    for weight, g in zip(weights, groups):
        if (channels is None or g < 1 or channels % g or weight.dim() != 4 or weight.shape[0] % g
                or tuple(weight.shape[1:]) != (channels // g, 3, 3)):
            raise ValueError(f"conv_relu_pool: input {tuple(x.shape)} and weight {tuple(weight.shape)} with "
                             f"groups={g} do not match")
        channels = weight.shape[0]
    return _Blocks.apply(x.contiguous(), tuple(w.contiguous() for w in weights), groups)
