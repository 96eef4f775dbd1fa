"""Batch-norm whose batch statistics span every rank of a torch.distributed group, on any device.

torch's SyncBatchNorm runs only on GPUs; data-parallel training on CPU (gloo) would otherwise
normalise each rank's share of the batch by its own statistics and train a different model than
one process does. `sync_batchnorm(module)` switches every batch-norm layer of `module` to
`RankBatchNorm*` (same parameters, buffers and state-dict keys): in training mode the per-channel
mean and variance are computed over the global batch with differentiable all-reduces (two-pass:
mean, then squared deviations), so forward, backward and the running statistics equal a single
process's to float rounding. In eval mode, or outside a group, it is the ordinary layer.
`plain_batchnorm(module)` switches back. Imports torch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _global_sum(value: torch.Tensor) -> torch.Tensor:
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(value)


class _RankSynced:
    """Mixin for a `_BatchNorm` subclass: training-mode statistics over all ranks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        from edgedistill import distributed

        if not (self.training and distributed.world_size() > 1):  # also ordinary inside `distributed.local()`
            return super().forward(x)
        self._check_input_dim(x)
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local = torch.tensor(float(x.numel() // x.shape[1]), dtype=x.dtype, device=x.device)
        count = _global_sum(local.detach().clone())
        mean = _global_sum(x.sum(dim=dims)) / count
        centred = x - mean.view(shape)
        var = _global_sum((centred * centred).sum(dim=dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                unbiased = var * (count / (count - 1).clamp_min(1))
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


_SYNCED: dict[type, type] = {}


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Switch every batch-norm layer of `module` (in place) to its rank-synchronised class."""
    for layer in module.modules():
        base = type(layer)
        if isinstance(layer, _BatchNorm) and not isinstance(layer, _RankSynced):
            if base not in _SYNCED:
                _SYNCED[base] = type(f"Rank{base.__name__}", (_RankSynced, base), {"_plain": base})
            layer.__class__ = _SYNCED[base]
    return module


def plain_batchnorm(module: nn.Module) -> nn.Module:
    """Undo `sync_batchnorm` (in place)."""
    for layer in module.modules():
        if isinstance(layer, _RankSynced):
            layer.__class__ = layer._plain
    return module
