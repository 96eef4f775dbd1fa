"""Building blocks shared by the classifier builders: input normalisation, conv blocks, and the
parameter / multiply-accumulate counter. Imports torch; must not import the CLI or device code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class BandNorm(nn.Module):
    """First layer of every model: (x - mean) / std per feature band, x (B, F, T).

    `mean` and `std` are (F, 1) buffers (saved with the weights, exported as constants), set from
    the training data by `set_input_stats`; they start as the identity.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features, 1))
        self.register_buffer("std", torch.ones(n_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def set_input_stats(module: nn.Module, x: np.ndarray, eps: float = 1e-5, chunk: int = 4096) -> None:
    """Per-band mean and std of `x` (N, F, T) over clips and frames into the model's BandNorm."""
    norms = [m for m in module.modules() if isinstance(m, BandNorm)]
    if not norms:
        raise ValueError(f"{type(module).__name__} has no BandNorm input layer")
    x = x if isinstance(x, np.memmap) or hasattr(x, "take") and hasattr(x, "shape") else np.asarray(x)
    if x.ndim != 3 or len(x) == 0:
        raise ValueError(f"input statistics need features of shape (N, F, T) with N > 0, got {x.shape}")
    total = np.zeros(x.shape[1])
    total_sq = np.zeros(x.shape[1])
    for start in range(0, len(x), chunk):  # float64 sums in chunks: memory-mapped sets stay on disk
        block = np.asarray(x[start:start + chunk], dtype=np.float64)
        total += block.sum(axis=(0, 2))
        total_sq += (block ** 2).sum(axis=(0, 2))
    count = x.shape[0] * x.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0)) + eps
    norm = norms[0]
    if norm.mean.shape[0] != x.shape[1]:
        raise ValueError(f"model expects {norm.mean.shape[0]} feature bands, data has {x.shape[1]}")
    with torch.no_grad():
        norm.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).view(-1, 1))
        norm.std.copy_(torch.as_tensor(std, dtype=torch.float32).view(-1, 1))


def conv_bn_relu(c_in: int, c_out: int, kernel: int | tuple[int, int] = 3, stride: int | tuple[int, int] = 1,
                 groups: int = 1) -> nn.Sequential:
    """Conv2d (no bias, 'same'-style padding) -> BatchNorm2d -> ReLU."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=(k[0] // 2, k[1] // 2), groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C); written as a mean so TFLite keeps a dynamic batch."""
    return x.mean(dim=(2, 3))


def count_macs(module: nn.Module, input_shape: tuple[int, int]) -> int:
    """Multiply-accumulates of Conv and Linear layers for one (F, T) input (forward hooks)."""
    total = 0

    def conv_hook(layer: nn.Conv2d | nn.Conv1d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        kernel = int(np.prod(layer.kernel_size))
        total += int(output[0].numel()) * (layer.in_channels // layer.groups) * kernel

    def linear_hook(layer: nn.Linear, inputs, _output) -> None:
        nonlocal total
        total += int(inputs[0][0].numel() // layer.in_features) * layer.in_features * layer.out_features

    hooks = []
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            hooks.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, nn.Linear):
            hooks.append(layer.register_forward_hook(linear_hook))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            device = next(module.parameters()).device
            module(torch.zeros(1, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
        module.train(was_training)
    return total
