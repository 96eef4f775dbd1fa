"""Named classifier builders for (B, F, T) feature maps, and `build_model` to make one by name.

Every model takes raw features `(B, F, T)` float32 and returns logits `(B, C)`. Its first layer
is a per-band normalisation (`BandNorm`, buffers set from the training data with
`set_input_stats`), so an exported model takes the same raw features the device computes. Every
model has dropout right before its classifier (MC dropout for BALD) and uses only plain
conv / batch-norm / relu / pool / linear operators with no data-dependent control flow, so
`torch.onnx.export` and litert-torch convert it.

This module must not import torch (the registry is a table of lazy "module:attr" paths, so
`edgedistill --help` lists the model names without torch).
"""

from __future__ import annotations

from typing import Any

from edgedistill.registry import Registry

MODELS = Registry("model", {
    "cnn4": "edgedistill.models.cnn:cnn4",
    "resnet18": "edgedistill.models.resnet:resnet18",
    "dscnn-s": "edgedistill.models.dscnn:dscnn_s",
    "dscnn-m": "edgedistill.models.dscnn:dscnn_m",
    "dscnn-l": "edgedistill.models.dscnn:dscnn_l",
    "ser-head": "edgedistill.models.ser_head:ser_head",
})


def build_model(name: str, n_classes: int, input_shape: tuple[int, int], **kwargs: Any):
    """A fresh `torch.nn.Module` of model `name` for `n_classes` classes and (F, T) inputs.

    kwargs go to the builder (for example `width=16` or `dropout=0.3`); an unknown keyword is a
    ValueError that lists the builder's options. The normalisation buffers start as identity
    (mean 0, std 1): call `set_input_stats(module, x_train)` before training.
    """
    import inspect

    builder = MODELS.get_entry(name)
    if n_classes < 2:
        raise ValueError(f"model {name!r} needs at least 2 classes, got n_classes={n_classes}")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"input_shape must be (n_features, n_frames), got {input_shape!r}")
    options = [p for p in inspect.signature(builder).parameters if p not in ("n_classes", "input_shape")]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {', '.join(unknown)}; its options are: {', '.join(options)}")
    return builder(n_classes=n_classes, input_shape=shape, **kwargs)


def set_input_stats(module, x) -> None:
    """Set the model's input normalisation to the per-band mean/std of `x` (N, F, T)."""
    from edgedistill.models.layers import set_input_stats as _set

    _set(module, x)


def describe_model(module, input_shape: tuple[int, int]) -> dict[str, int]:
    """Parameters and multiply-accumulates of one forward pass on a single (F, T) input."""
    from edgedistill.models.layers import count_macs

    return {"params": sum(p.numel() for p in module.parameters()), "macs": count_macs(module, input_shape)}
