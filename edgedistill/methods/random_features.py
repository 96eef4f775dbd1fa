"""Seeded random conv nets that give RFAD's random-feature NNGP kernel, as one torch module.

Φ(x) = concat over N random ConvNets f_θi(x) / sqrt(N·M), each net being
``depth x [3x3 conv (no bias) -> ReLU -> 2x2 average pool]`` on the (F, T) feature map seen as a
one-channel image, then a wide Gaussian random head of M outputs. The kernel K(a, b) = Φ(a)·Φ(b)
is then an average over N·M random features, a Monte-Carlo estimate of the nets' NNGP kernel.

All N nets run as ONE batched computation: the first conv maps 1 -> N·W channels (every net
sees the same input), later convs are grouped (groups=N) and the heads are one batched matmul,
so there is no Python loop over nets. On the CPU the narrow conv blocks (the first block, and
all blocks up to width 32) run eagerly through a fused C kernel (`conv_relu_pool`), which never
writes the full-resolution activations; wider blocks run on torch's convolutions (oneDNN),
which win there. ``precision="bf16"`` runs the conv blocks under bfloat16 autocast (the head and
everything after it stay float32; KRR solves are float64 in `krr`). Weights are
drawn on the CPU from a seeded ``torch.Generator`` (identical on every device) with He scaling
(std sqrt(2 / fan_in)); the head has std 1 / sqrt(fan_in). Input normalisation (per-band
mean/std of the training features) is the module's first layer, so the module takes raw
features and exports as is (plain conv / relu / avg-pool / matmul; ONNX opset 17+,
litert-torch) for the device ``krr`` mode.

Imports torch: host-side only (never imported by edgedistill.device).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from edgedistill.methods import conv_relu_pool as fused_kernel


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class RandomFeatureConfig:
    """Shape of the random-feature nets.

    n_nets: N nets whose features are concatenated (the paper uses 7).
    width: conv channels W per net. depth: conv blocks per net (pooling stops once a side is 1).
    n_features: M outputs of each net's Gaussian random head; Φ has N·M columns.
    time_pool: average the last conv block over time before the head (False: flatten, as the
    paper's ConvNet). Averaging makes the kernel invariant to where a word sits in the clip:
    on the quickstart's synthesised keywords KRR on all training clips measured 0.42 with it
    against 0.23 without (depth 3).
    """

    n_nets: int = 7
    width: int = 32
    depth: int = 3
    n_features: int = 128
    time_pool: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.time_pool, bool):
            raise ValueError(f"random features: time_pool must be true or false, got {self.time_pool!r}")
        for f in fields(self):
            if f.name == "time_pool":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"random features: {f.name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pooled_shape(input_shape: tuple[int, int], depth: int) -> tuple[int, int]:
    """(F, T) after `depth` conv blocks: each halves a side (floor) while that side is >= 2."""
    h, w = input_shape
    for _ in range(depth):
        h, w = (h // 2 if h >= 2 else h), (w // 2 if w >= 2 else w)
    return h, w


def draw_weights(input_shape: tuple[int, int], config: RandomFeatureConfig, seed: int) -> dict[str, torch.Tensor]:
    """The seeded weights of all N nets, stacked: conv0 (N·W,1,3,3), conv{i} (N·W,W,3,3), head (N,P,M)."""
    gen = torch.Generator().manual_seed(int(seed) % (2**63))
    n, w = config.n_nets, config.width
    weights = {"conv0": torch.randn(n * w, 1, 3, 3, generator=gen) * math.sqrt(2.0 / 9)}
    for i in range(1, config.depth):
        weights[f"conv{i}"] = torch.randn(n * w, w, 3, 3, generator=gen) * math.sqrt(2.0 / (9 * w))
    h, t = pooled_shape(input_shape, config.depth)
    fan_in = w * h * (1 if config.time_pool else t)
    weights["head"] = torch.randn(n, fan_in, config.n_features, generator=gen) / math.sqrt(fan_in)
    return weights


class RandomFeatureNets(nn.Module):
    """x (B, F, T) raw features -> Φ (B, N·M), all N random nets in one batched pass."""

    def __init__(self, input_shape: tuple[int, int], config: RandomFeatureConfig, seed: int,
                 mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.config = config
        self.seed = int(seed)
        n_bands = self.input_shape[0]
        mean = np.zeros(n_bands) if mean is None else np.asarray(mean, dtype=np.float64).reshape(n_bands)
        std = np.ones(n_bands) if std is None else np.asarray(std, dtype=np.float64).reshape(n_bands)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, n_bands, 1))
        self.register_buffer("inv_std", torch.tensor(1.0 / std, dtype=torch.float32).reshape(1, n_bands, 1))
        for name, value in draw_weights(self.input_shape, config, seed).items():
            self.register_buffer(name, value)
        self.scale = 1.0 / math.sqrt(config.n_nets * config.n_features)
        self.im2col = True
        self.fused = True  # conv blocks through the fused C kernel when eager on CPU (see random_feature_nets)
        self.compile_rows: int | None = None  # set: compiled with torch.compile, rows padded to a multiple
        self.precision = "fp32"  # "bf16": conv blocks under bfloat16 autocast (see random_feature_nets)

    def convs(self) -> list[torch.Tensor]:
        return [getattr(self, f"conv{i}") for i in range(self.config.depth)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_normalized((x - self.mean) * self.inv_std)

    def from_normalized(self, z: torch.Tensor) -> torch.Tensor:
        """Φ of already-normalised features z = (x - mean) / std (what RFAD optimises)."""
        weights = (*self.convs(), self.head)
        args = (self.config.n_nets, self.config.width, self.config.time_pool, self.scale, self.im2col,
                self.precision == "bf16")
        if not self.compile_rows or _COMPILE_FAILURE:
            return _phi(z, weights, *args, fused=self.fused and _fused_kernel_applies(z))
        rows = len(z)  # pad to a multiple of compile_rows: one compiled shape, no recompiles
        pad = -rows % self.compile_rows
        padded = torch.cat([z, z.new_zeros(pad, *z.shape[1:])]) if pad else z
        try:
            return _compiled_phi()(padded, weights, *args)[:rows]
        except Exception as err:  # no C++ compiler (CPU) or Triton (CUDA), or an inductor bug
            _COMPILE_FAILURE.append(f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
            warnings.warn(f"torch.compile of the random nets failed ({_COMPILE_FAILURE[0]}); continuing without "
                          "compiling (same numbers, slower steps)", RuntimeWarning, stacklevel=2)
            return _phi(z, weights, *args, fused=self.fused and _fused_kernel_applies(z))


def _fused_kernel_applies(z: torch.Tensor) -> bool:
    """Whether the fused CPU kernel can take this call: eager float32 on the CPU, kernel built."""
    if z.device.type != "cpu" or z.dtype != torch.float32 or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    ok, why = fused_kernel.available()
    if not ok and not _FUSED_WARNED and not why.startswith("disabled"):
        _FUSED_WARNED.append(why)
        warnings.warn(f"the fused conv-relu-pool CPU kernel could not be built ({why}); the random nets use torch "
                      "ops instead (same numbers, about 2x slower RFAD steps)", RuntimeWarning, stacklevel=3)
    return ok


_FUSED_WARNED: list[str] = []  # the kernel's build failure, warned about once per process


def _first_conv(z: torch.Tensor, weight: torch.Tensor, im2col: bool) -> torch.Tensor:
    """3x3 conv of the one-channel map to all N·W channels, (B, N·W, F, T) channels-last.

    With `im2col` (default) it is one (B·F·T, 9) x (9, N·W) matmul on unfolded patches:
    measured ~2x faster on CPU than mkldnn's conv with one input channel. `im2col = False`
    uses conv2d (same numbers to ~1e-6) for exporters without an unfold operator.
    """
    if not im2col:
        return F.conv2d(z.unsqueeze(1).contiguous(memory_format=torch.channels_last), weight, padding=1)
    n_bands, n_frames = z.shape[1], z.shape[2]
    patches = F.unfold(z.unsqueeze(1), kernel_size=3, padding=1)  # (B, 9, F·T)
    h = torch.matmul(patches.transpose(1, 2), weight.reshape(weight.shape[0], 9).T)  # (B, F·T, N·W)
    return h.unflatten(1, (n_bands, n_frames)).permute(0, 3, 1, 2)


FUSED_MAX_CHANNELS = 32
"""Widest input channels per group a block may have to run through the fused kernel. Per block
(8 nets, 16x16 maps, 2 threads) the kernel beat oneDNN's grouped conv forward + backward 1.8x at
16 channels, 1.3x at 32, 1.15x at 64 and lost at 128; forward alone (the real batch, most rows
of a step) it tied at 32 and lost from 64 on. At width 256 whole RFAD steps ran 3.3x faster
with only the first block (one input channel) fused than with every block fused
(benchmarks/results/rfad_time_to_accuracy.md)."""


def fused_blocks(convs: list[torch.Tensor] | tuple[torch.Tensor, ...], n_nets: int) -> int:
    """How many leading conv blocks the fused kernel takes: those with at most
    FUSED_MAX_CHANNELS input channels per net (always the first block, one input channel)."""
    count = 0
    for i, weight in enumerate(convs):
        if i > 0 and weight.shape[1] > FUSED_MAX_CHANNELS:
            break
        count += 1
    return count


def _phi(z: torch.Tensor, weights: tuple[torch.Tensor, ...], n_nets: int, width: int, time_pool: bool,
         scale: float, im2col: bool, bf16: bool = False, fused: bool = False) -> torch.Tensor:
    """Φ (B, N·M) of normalised z (B, F, T); weights = (conv0, ..., conv{depth-1}, head).

    fused: the leading narrow conv blocks (`fused_blocks`) run through the fused C kernel
    (`conv_relu_pool`, CPU float32 only), which never writes the full-resolution activations;
    the rest, or all without it, on torch ops: the same numbers. bf16: the torch-op blocks run
    under bfloat16 autocast on z's device; the head matmul is float32 either way.
    """
    *convs, head = weights
    start = fused_blocks(convs, n_nets) if fused else 0
    if start:
        groups = [1] + [n_nets] * (start - 1)
        # (B, F', T', C) channels last from the kernel, viewed as NCHW in channels-last memory
        h = fused_kernel.conv_relu_pool(z.unsqueeze(-1), convs[:start], groups).permute(0, 3, 1, 2)
    with torch.autocast(z.device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(start, len(convs)):
            # channels-last activations (from the im2col first layer or the kernel): measured 2-5x
            # faster than NCHW for grouped conv and pooling on CPU, where the big activations dominate.
            h = _first_conv(z, convs[0], im2col) if i == 0 else F.conv2d(h, convs[i], padding=1, groups=n_nets)
            # in-place ReLU saves an allocation without autograd; with it, a fresh tensor (measured
            # 2x faster backward than in place on these channels-last strides)
            h = F.relu(h) if torch.is_grad_enabled() else h.relu_()
            h = F.avg_pool2d(h, kernel_size=(2 if h.shape[2] >= 2 else 1, 2 if h.shape[3] >= 2 else 1))
    h = h.float()
    if time_pool:
        h = h.mean(dim=3, keepdim=True)  # (B, N·W, h, 1): invariant to the word's position in time
    h = h.unflatten(1, (n_nets, width)).flatten(2)  # (B, N, W·h·t)
    phi = torch.matmul(h.transpose(0, 1), head)  # (N, B, M): one batched matmul over nets
    return phi.transpose(0, 1).flatten(1) * scale


_COMPILE_FAILURE: list[str] = []  # set once torch.compile failed in this process: later calls run eagerly


@functools.lru_cache(maxsize=1)
def _compiled_phi():
    """`_phi` through torch.compile (inductor), built once per process; shapes are static."""
    return torch.compile(_phi, dynamic=False)


def random_feature_nets(input_shape: tuple[int, int], config: RandomFeatureConfig, seed: int,
                        mean: np.ndarray | None = None, std: np.ndarray | None = None,
                        device: str | torch.device = "cpu", im2col: bool = True,
                        compile_rows: int | None = None, fused: bool | None = None,
                        precision: str = "fp32") -> RandomFeatureNets:
    """The seeded nets as a torch module in eval mode: raw features (B, F, T) -> Φ (B, N·M).

    For export (device `krr` mode) pass ``im2col=False``: the first layer is then a plain conv2d
    (same numbers) and every layer a plain torch op, which every exporter handles. ``fused``
    (default: on unless ``im2col=False``): eager float32 calls on the CPU run the conv blocks
    through the fused C kernel (`conv_relu_pool`: RFAD steps measured 1.8-2.3x faster than on
    torch ops on one thread, 1.8-2.2x on two); if it cannot be built (no C compiler) a
    RuntimeWarning says so once and torch ops run instead, with the same numbers.
    ``compile_rows``: run the nets' torch ops through torch.compile (inductor fuses ReLU and
    pooling into the convolutions' passes: 1.1-1.4x faster steps than eager torch ops on CPU,
    but slower than the fused kernel, so meant for CUDA; the first call compiles, ~15-60 s, once
    per process and shape), padding every call's rows to a multiple of it so one compiled shape
    serves all calls; pass the chunk size the nets are called with. If compiling fails (no C++
    compiler or Triton), a RuntimeWarning says why and the nets run uncompiled, with the same
    numbers. ``precision``: "fp32", or "bf16" to run the torch-op conv blocks under bfloat16
    autocast (the fused kernel's blocks and the head stay float32): for CUDA, and for CPUs with
    bf16 matrix units (AMX), where wide nets (width 256) ran 3.0x faster per RFAD step; RFAD's
    loss moved by up to 5e-3 relative there (tests/methods/test_precision.py states the tolerance).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"random features: precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if compile_rows is not None and (not isinstance(compile_rows, int) or compile_rows < 1):
        raise ValueError(f"random features: compile_rows must be a positive integer or None, got {compile_rows!r}")
    nets = RandomFeatureNets(input_shape, config, seed, mean, std).to(device).eval()
    nets.im2col = im2col
    nets.fused = im2col if fused is None else bool(fused)
    nets.compile_rows = compile_rows
    nets.precision = precision
    return nets


def band_stats(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std (float64, (F,)) over clips and frames of x (N, F, T), in chunks."""
    n_bands = x.shape[1]
    total, total_sq, count = np.zeros(n_bands), np.zeros(n_bands), 0
    for start in range(0, len(x), 256):  # bounded memory whatever the set's size
        chunk = np.asarray(x[start:start + 256], dtype=np.float64)
        total += chunk.sum(axis=(0, 2))
        total_sq += (chunk ** 2).sum(axis=(0, 2))
        count += chunk.shape[0] * chunk.shape[2]
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean ** 2, 0.0))
    return mean, np.maximum(std, eps)
