"""Build the device `full` mode's graphs: one Adam train step and the forward pass of a small
temporal CNN, exported as ordinary inference graphs whose inputs and outputs are the weights.

The device-trainable network ("tcnn"): raw features x (B, F, T) -> z = (x − mean) / std (per band,
mean/std are graph inputs computed on the device from its training data) -> conv1d(F→H1, k) ->
ReLU -> conv1d(H1→H2, k) -> ReLU -> mean over time -> linear(H2→C) -> logits. Convolutions are
written as im2col + matmul (zero padding k//2, stride 1), so the backward pass uses forward
operators only: weight gradients are matmuls of output gradients with the im2col inputs, the
input gradient of conv2 is Wᵀ·grad followed by col2im (k shifted pads summed). `torch.export`
does not trace `torch.func.grad`, this hand-written backward exports like any inference graph;
tests/export/test_train_step.py checks it against torch autograd + torch.optim.Adam.

Train-step graph inputs (names in meta.extra["step_inputs"]): x (B, F, T), y (B, C) targets
(one-hot or soft; rows summing to 1), mean (F,), std (F,), lr (1,), step (1,) the 1-based Adam
step count, weight_decay (1,) (L2 added to the gradient, as torch.optim.Adam), params (P,) all
parameters flattened in PARAMS order (meta.extra["param_shapes"]), m (P,) and v (P,) the Adam
moments. Outputs: loss (1,) (mean cross-entropy before the update), new_params, new_m, new_v.
Forward graph: features, mean, std, params -> logits (B, C).

Host side (torch, onnx); owned by the device part, imported by its CLI/tests only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PARAMS = ("w1", "b1", "w2", "b2", "w3", "b3")
STEP_HEAD = ("x", "y", "mean", "std", "lr", "step", "weight_decay")
FORWARD_HEAD = ("features", "mean", "std")


@dataclass(frozen=True)
class TrainStepConfig:
    """hidden1/hidden2: conv channels; kernel: odd conv width over time; Adam betas and eps."""

    hidden1: int = 32
    hidden2: int = 32
    kernel: int = 3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.hidden1 < 1 or self.hidden2 < 1 or self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"train step: need hidden1, hidden2 >= 1 and an odd kernel, got {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def param_shapes(n_features: int, n_classes: int, config: TrainStepConfig) -> dict[str, tuple[int, ...]]:
    """Parameter shapes; w1 (H1, k·F) and w2 (H2, k·H1) are im2col layouts (column j·C_in + c is tap j of channel c)."""
    k = config.kernel
    return {"w1": (config.hidden1, k * n_features), "b1": (config.hidden1,),
            "w2": (config.hidden2, k * config.hidden1), "b2": (config.hidden2,),
            "w3": (n_classes, config.hidden2), "b3": (n_classes,)}


def init_params(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """He-normal weights (std sqrt(2/fan_in); the classifier sqrt(1/fan_in)), zero biases, float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in shapes.items():
        if name.startswith("b"):
            params[name] = np.zeros(shape, dtype=np.float32)
        else:
            gain = 1.0 if name == "w3" else 2.0
            params[name] = (rng.standard_normal(shape) * math.sqrt(gain / shape[1])).astype(np.float32)
    return params


def conv_weight(w: torch.Tensor, kernel: int) -> torch.Tensor:
    """The im2col weight (C_out, k·C_in) as a conv1d weight (C_out, C_in, k) (for reference checks)."""
    return w.reshape(w.shape[0], kernel, -1).permute(0, 2, 1)


def im2col(a: torch.Tensor, kernel: int) -> torch.Tensor:
    """(B, C, T) -> (B, k·C, T): zero-padded (k//2) shifted copies stacked tap-major."""
    t = a.shape[-1]
    padded = F.pad(a, (kernel // 2, kernel // 2))
    return torch.cat([padded[:, :, j : j + t] for j in range(kernel)], dim=1)


def col2im(d_cols: torch.Tensor, kernel: int) -> torch.Tensor:
    """Adjoint of im2col: (B, k·C, T) gradient -> (B, C, T) (each tap's gradient shifted back and summed)."""
    channels, t, pad = d_cols.shape[1] // kernel, d_cols.shape[-1], kernel // 2
    total = None
    for j in range(kernel):
        shifted = F.pad(d_cols[:, j * channels : (j + 1) * channels, :], (j, kernel - 1 - j))
        total = shifted if total is None else total + shifted
    return total[:, :, pad : pad + t]


def forward(params: dict[str, torch.Tensor], z: torch.Tensor, kernel: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits (B, C) of normalised features z (B, F, T) and the activations the backward pass needs."""
    c1 = im2col(z, kernel)
    h1 = torch.matmul(params["w1"], c1) + params["b1"][:, None]
    a1 = torch.relu(h1)
    c2 = im2col(a1, kernel)
    h2 = torch.matmul(params["w2"], c2) + params["b2"][:, None]
    pooled = torch.relu(h2).mean(dim=-1)
    logits = torch.matmul(pooled, params["w3"].t()) + params["b3"]
    return logits, {"c1": c1, "h1": h1, "c2": c2, "h2": h2, "pooled": pooled}


def backward(params: dict[str, torch.Tensor], cache: dict[str, torch.Tensor], d_logits: torch.Tensor,
             kernel: int) -> dict[str, torch.Tensor]:
    """Gradients of the loss w.r.t. every parameter, given d loss / d logits (B, C)."""
    frames = cache["h2"].shape[-1]
    grads = {"w3": torch.matmul(d_logits.t(), cache["pooled"]), "b3": d_logits.sum(0)}
    d_pooled = torch.matmul(d_logits, params["w3"])
    d_h2 = (d_pooled[:, :, None] / frames) * (cache["h2"] > 0).to(d_pooled.dtype)
    grads["w2"] = torch.matmul(d_h2, cache["c2"].transpose(1, 2)).sum(0)
    grads["b2"] = d_h2.sum(dim=(0, 2))
    d_a1 = col2im(torch.matmul(params["w2"].t(), d_h2), kernel)
    d_h1 = d_a1 * (cache["h1"] > 0).to(d_a1.dtype)
    grads["w1"] = torch.matmul(d_h1, cache["c1"].transpose(1, 2)).sum(0)
    grads["b1"] = d_h1.sum(dim=(0, 2))
    return grads


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean soft-target cross-entropy −Σ y·log softmax (shape (1,)) and its gradient w.r.t. logits."""
    log_p = torch.log_softmax(logits, dim=-1)
    batch = logits.shape[0]
    loss = -(y * log_p).sum() / batch
    d_logits = (torch.softmax(logits, dim=-1) * y.sum(dim=-1, keepdim=True) - y) / batch
    return loss.reshape(1), d_logits


def unflatten(flat: torch.Tensor, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Split a flat (P,) vector into the named parameter tensors (PARAMS order)."""
    out, start = {}, 0
    for name in PARAMS:
        size = math.prod(shapes[name])
        out[name] = flat[start : start + size].reshape(shapes[name])
        start += size
    return out


def flatten(params: dict[str, np.ndarray]) -> np.ndarray:
    """The named parameters as one flat float32 vector in PARAMS order."""
    return np.concatenate([np.asarray(params[name], dtype=np.float32).reshape(-1) for name in PARAMS])


class TrainStep(nn.Module):
    """One Adam step as a stateless graph: (batch, hyper-parameters, params, m, v) -> (loss, params, m, v)."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], config: TrainStepConfig) -> None:
        super().__init__()
        self.shapes, self.config = shapes, config

    def forward(self, x, y, mean, std, lr, step, weight_decay, params, m, v):
        cfg = self.config
        named = unflatten(params, self.shapes)
        z = (x - mean[None, :, None]) / std[None, :, None]
        logits, cache = forward(named, z, cfg.kernel)
        loss, d_logits = cross_entropy(logits, y)
        grads = backward(named, cache, d_logits, cfg.kernel)
        g = torch.cat([grads[name].reshape(-1) for name in PARAMS]) + weight_decay * params
        m = cfg.beta1 * m + (1.0 - cfg.beta1) * g
        v = cfg.beta2 * v + (1.0 - cfg.beta2) * g * g
        correction1 = 1.0 - torch.pow(torch.full_like(step, cfg.beta1), step)
        correction2 = 1.0 - torch.pow(torch.full_like(step, cfg.beta2), step)
        # eps as a tensor, not a literal: torch.onnx's optimizer drops `+ 1e-8` (a constant it takes for 0), which left
        # 0 / 0 = NaN for every parameter whose gradient has been exactly 0 so far (a dead ReLU channel)
        eps = torch.full_like(step, cfg.eps)
        update = (m / correction1) / (torch.sqrt(v / correction2) + eps)
        return loss, params - lr * update, m, v


class Forward(nn.Module):
    """Inference with weights as an input: (features, mean, std, params) -> logits."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], config: TrainStepConfig) -> None:
        super().__init__()
        self.shapes, self.config = shapes, config

    def forward(self, features, mean, std, params):
        z = (features - mean[None, :, None]) / std[None, :, None]
        return forward(unflatten(params, self.shapes), z, self.config.kernel)[0]


STEP_INPUTS = [*STEP_HEAD, "params", "m", "v"]
STEP_OUTPUTS = ["loss", "new_params", "new_m", "new_v"]
FORWARD_INPUTS = [*FORWARD_HEAD, "params"]


def example_step_inputs(shapes: dict[str, tuple[int, ...]], n_features: int, n_frames: int, batch: int,
                        seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Valid example inputs for the train step (random batch, one-hot labels, He-initialised params)."""
    gen = torch.Generator().manual_seed(seed)
    n_classes = shapes["b3"][0]
    x = torch.randn(batch, n_features, n_frames, generator=gen)
    y = F.one_hot(torch.arange(batch) % n_classes, n_classes).float()
    params = torch.from_numpy(flatten(init_params(shapes, seed)))
    return (x, y, torch.zeros(n_features), torch.ones(n_features), torch.tensor([1e-3]), torch.tensor([1.0]),
            torch.tensor([0.0]), params, torch.zeros_like(params), torch.zeros_like(params))


def export_onnx(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                output_names: list[str], batched: tuple[str, ...]) -> Path:
    """torch.onnx.export (dynamo, one self-contained file) with a dynamic batch on the `batched` inputs."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    dynamic = tuple({0: batch} if name in batched else None for name in input_names)
    torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                      dynamic_shapes=dynamic, dynamo=True, external_data=False, optimize=True, verbose=False)
    return path


def export_train_step(out: str | Path, feature_config: dict[str, Any], feature_id: str, labels: list[str],
                      config: TrainStepConfig = TrainStepConfig(), seed: int = 0) -> Path:
    """Write an ``edgedistill.export`` artifact (kind "train-step") for `edgedistill device train full`.

    Files: train_step.onnx, forward.onnx, init.npz (He-initialised params from `seed`). meta.extra:
    kind, model "tcnn", train_step config, param_shapes, step_inputs, step_outputs, forward_inputs.
    """
    from edgedistill.artifacts import Meta, write_artifact
    from edgedistill.features import FeatureConfig

    features = FeatureConfig.from_dict(feature_config)
    if features.feature_id != feature_id:
        raise ValueError(f"feature_id {feature_id} does not match the feature config ({features.feature_id})")
    n_features, n_frames = features.shape
    shapes = param_shapes(n_features, len(labels), config)
    args = example_step_inputs(shapes, n_features, n_frames, batch=4, seed=seed)
    forward_args = (args[0], args[2], args[3], args[7])
    meta = Meta(schema="edgedistill.export", feature_config=features.to_dict(), feature_id=features.feature_id,
                labels=list(labels), method={"name": "train-step", "model": "tcnn", **config.to_dict()}, seed=seed,
                extra={"kind": "train-step", "model": "tcnn", "train_step": config.to_dict(),
                       "param_shapes": {k: list(v) for k, v in shapes.items()}, "optimizer": "adam",
                       "param_order": list(PARAMS), "step_inputs": STEP_INPUTS, "step_outputs": STEP_OUTPUTS,
                       "forward_inputs": FORWARD_INPUTS, "files": ["train_step.onnx", "forward.onnx", "init.npz"],
                       "formats": ["onnx"]})

    def payload(tmp: Path) -> None:
        with torch.no_grad():
            export_onnx(TrainStep(shapes, config).eval(), args, tmp / "train_step.onnx", STEP_INPUTS, STEP_OUTPUTS,
                        batched=("x", "y"))
            export_onnx(Forward(shapes, config).eval(), forward_args, tmp / "forward.onnx", FORWARD_INPUTS, ["logits"],
                        batched=("features",))
        np.savez(tmp / "init.npz", params=flatten(init_params(shapes, seed)))

    return write_artifact(out, meta, payload)
