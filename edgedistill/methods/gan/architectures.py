"""Generator and critic networks of the GAN distiller: "gan-cnn" and "gan-att".

Generator: (z (B, z_dim), label_onehot (B, C)) -> features (B, F, T), raw feature units (the
per-band mean/std of the training data are buffers applied at the output; no tanh). It is a
plain conv/transposed-conv graph, exportable by torch.onnx and litert-torch.
Critic: features (B, F, T) -> (score (B,), class logits (B, C), embedding (B, width * F // 8));
two heads (Wasserstein score, auxiliary classifier), each on its own branch of three strided
2-D convolutions with layer norm (GroupNorm with one group) and leaky ReLU. Each branch's map
(width, F // 8, T // 8) is averaged over time only and flattened, so the frequency pattern,
where a word or an emotion shows, reaches the heads; the score branch's vector is the embedding
that feeds feature matching. Why two branches, not the usual shared body (measured on the
synthesised keywords, 200-300-step runs, benchmarks/results/gan_synth_notes.md): with one
body shared by both heads, the auxiliary cross-entropy on real clips stayed at ln 10 = 2.30
(critic UAR on held-out speakers 0.09-0.16) whatever the pooling (time and frequency, time
only, flattened), learning rate or projection term; with the Wasserstein and GP terms off it
learned: their gradient owns a shared body. Alone as a classifier the frequency-keeping branch reaches
UAR 0.46 in 600 steps (the all-pooled one 0.23); as its own branch inside the GAN (fed real
clips only, see `GANConfig.lambda_ac_fake`) its cross-entropy falls to 0.5 in 200 steps and
UAR to 0.39, which is what gives the generator a class signal through its aux term.
The critic is never saved in a generator artifact, so this changes no artifact.
"gan-att" adds to the generator two dilated (over time) residual convolutions and one
self-attention over time frames (SAGAN-style, gated by a learned scalar that starts at 0).

Imports torch. Must not import the rest of edgedistill beyond the registry.
"""

from __future__ import annotations

import math

import numpy as np
from typing import Any

import torch
from torch import nn

from edgedistill.registry import Registry


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class BandNorm(nn.Module):
    """Per-band mean/std of the training data, as buffers (set once, saved with the weights)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def set_stats(self, x) -> None:
        """x (N, F, T): a tensor, an array or rows read on demand (`MappedRows`): per-band mean and
        (unbiased) std over clips and frames, summed in float64 256 clips at a time, so a feature
        cache is never loaded whole."""
        total = torch.zeros(self.mean.shape[0], dtype=torch.float64)
        squares, count = torch.zeros_like(total), 0
        for start in range(0, len(x), 256):
            part = x[start:start + 256]
            part = part.detach().cpu().double() if isinstance(part, torch.Tensor) else torch.as_tensor(np.asarray(part, dtype=np.float64))
            total += part.sum(dim=(0, 2))
            squares += (part ** 2).sum(dim=(0, 2))
            count += part.shape[0] * part.shape[2]
        mean = total / max(count, 1)
        variance = (squares - count * mean ** 2) / max(count - 1, 1)
        self.mean.copy_(mean)
        self.std.copy_(variance.clamp_min(0).sqrt().clamp_min(1e-5))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[:, None]) / self.std[:, None]

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std[:, None] + self.mean[:, None]


class TimeSelfAttention(nn.Module):
    """One self-attention over time frames of a (B, C, F, T) map; tokens are frames (C*F dims)."""

    def __init__(self, channels: int, n_features: int, dim: int = 32) -> None:
        super().__init__()
        self.query = nn.Conv1d(channels * n_features, dim, 1)
        self.key = nn.Conv1d(channels * n_features, dim, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        tokens = h.flatten(1, 2)  # (B, C*F, T)
        q, k = self.query(tokens), self.key(tokens)  # (B, d, T)
        attention = torch.softmax(torch.matmul(q.transpose(1, 2), k) * self.scale, dim=-1)  # (B, T_q, T_k)
        v = self.value(h).flatten(1, 2)  # (B, C*F, T_k)
        out = torch.matmul(v, attention.transpose(1, 2))  # (B, C*F, T_q)
        return h + self.gamma * out.reshape(h.shape)


class DilatedTimeBlock(nn.Module):
    """Residual 3x3 convolution dilated along time."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=(1, dilation), dilation=(1, dilation))
        self.act = _lrelu()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.act(self.conv(h))


class Generator(nn.Module):
    """Conditional generator: [one-hot label, e] -> (B, F, T) features in raw units."""

    def __init__(self, n_classes: int, input_shape: tuple[int, int], z_dim: int = 64, width: int = 64,
                 attention: bool = False) -> None:
        super().__init__()
        self.n_classes, self.z_dim, self.input_shape = n_classes, z_dim, tuple(input_shape)
        n_features, n_frames = self.input_shape
        self.f0, self.t0 = math.ceil(n_features / 4), math.ceil(n_frames / 4)
        self.width = width
        half, quarter = max(width // 2, 1), max(width // 4, 1)
        self.project = nn.Linear(z_dim + n_classes, width * self.f0 * self.t0)
        self.project_norm = nn.BatchNorm2d(width)
        self.up1 = nn.Sequential(nn.ConvTranspose2d(width, half, 4, stride=2, padding=1), nn.BatchNorm2d(half), _lrelu())
        middle: list[nn.Module] = []
        if attention:
            middle = [DilatedTimeBlock(half, 2), DilatedTimeBlock(half, 4), TimeSelfAttention(half, 2 * self.f0)]
        self.middle = nn.Sequential(*middle)
        self.up2 = nn.Sequential(nn.ConvTranspose2d(half, quarter, 4, stride=2, padding=1), nn.BatchNorm2d(quarter), _lrelu())
        self.out = nn.Conv2d(quarter, 1, 3, padding=1)
        self.norm = BandNorm(n_features)

    def forward(self, z: torch.Tensor, label_onehot: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([label_onehot, z], dim=1)).reshape(-1, self.width, self.f0, self.t0)
        h = torch.nn.functional.leaky_relu(self.project_norm(h), 0.2)
        h = self.up2(self.middle(self.up1(h)))
        n_features, n_frames = self.input_shape
        x = self.out(h)[:, 0, :n_features, :n_frames]
        return self.norm.denormalize(x)


def _critic_branch(width: int) -> nn.Sequential:
    """Three strided 4x4 convolutions (1 -> width/4 -> width/2 -> width), layer norm, leaky ReLU: (B, 1, F, T) -> (B, width, F//8, T//8)."""
    quarter, half = max(width // 4, 1), max(width // 2, 1)
    return nn.Sequential(
        nn.Conv2d(1, quarter, 4, stride=2, padding=1), _lrelu(),
        nn.Conv2d(quarter, half, 4, stride=2, padding=1), nn.GroupNorm(1, half), _lrelu(),
        nn.Conv2d(half, width, 4, stride=2, padding=1), nn.GroupNorm(1, width), _lrelu(),
    )


class Critic(nn.Module):
    """Critic with a Wasserstein head and an auxiliary class head, each on its own conv branch.

    forward(x (B, F, T)) -> (score (B,), logits (B, C), embedding (B, width * (F // 8))).
    """

    def __init__(self, n_classes: int, input_shape: tuple[int, int], width: int = 64) -> None:
        super().__init__()
        n_features, n_frames = input_shape
        if n_features < 8 or n_frames < 8:
            raise ValueError(f"Critic: input_shape {tuple(input_shape)} is too small; the critic's three stride-2 "
                             "convolutions need at least 8 feature bands and 8 frames")
        self.norm = BandNorm(n_features)
        self.body = _critic_branch(width)
        self.class_body = _critic_branch(width)
        dim = width * (n_features // 8)
        self.score = nn.Linear(dim, 1)
        self.classify = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.norm.normalize(x).unsqueeze(1)
        embedding = self.body(x).mean(dim=3).flatten(1)  # average over time, keep the bands
        logits = self.classify(self.class_body(x).mean(dim=3).flatten(1))
        return self.score(embedding)[:, 0], logits, embedding


def batchnorm_cancelled(module: nn.Module) -> list[nn.Parameter]:
    """Per-channel biases of convolutions that feed a batch-norm layer directly (in one Sequential):
    the normalisation subtracts them again, so their exact gradient is zero. Adam would turn the
    rounding noise of that zero into steps of the full learning rate (a drift that differs with
    thread count or world size and changes nothing in training mode); the loop freezes them."""
    from torch.nn.modules.batchnorm import _BatchNorm

    cancelled = []
    for sequential in module.modules():
        if isinstance(sequential, nn.Sequential):
            layers = list(sequential)
            for layer, following in zip(layers, layers[1:]):
                if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and layer.bias is not None and isinstance(following, _BatchNorm):
                    cancelled.append(layer.bias)
    return cancelled


def gan_cnn(n_classes: int, input_shape: tuple[int, int], z_dim: int = 64, width: int = 64) -> tuple[Generator, Critic]:
    """GAN-CNN: transposed-convolution generator, 3-layer strided-conv critic."""
    return Generator(n_classes, input_shape, z_dim, width, attention=False), Critic(n_classes, input_shape, width)


def gan_att(n_classes: int, input_shape: tuple[int, int], z_dim: int = 64, width: int = 64) -> tuple[Generator, Critic]:
    """GAN-ATT: GAN-CNN whose generator adds dilated time convolutions and one self-attention over time."""
    return Generator(n_classes, input_shape, z_dim, width, attention=True), Critic(n_classes, input_shape, width)


ARCHITECTURES = Registry("GAN architecture", {
    "gan-cnn": "edgedistill.methods.gan.architectures:gan_cnn",
    "gan-att": "edgedistill.methods.gan.architectures:gan_att",
})


def build(arch: str, **kwargs: Any) -> tuple[Generator, Critic]:
    """(generator, critic) of the named architecture; kwargs: n_classes, input_shape, z_dim, width."""
    return ARCHITECTURES.get_entry(arch)(**kwargs)


# The default width is sized to the data the generator replaces ---------------------------------
WIDTHS = (64, 48, 32, 24, 16, 12, 8)  # candidates, widest first; 64 was the fixed default before
MAX_SHARE = 0.5  # the default generator's float32 weights take at most this share of the features' bytes


def generator_bytes(arch: str, n_classes: int, input_shape: tuple[int, int], z_dim: int, width: int) -> int:
    """Bytes of the float32 generator state (weights and buffers, as `TrainedGenerator.size_bytes`),
    counted on torch's meta device: nothing is allocated."""
    with torch.device("meta"):
        generator, _ = build(arch, n_classes=n_classes, input_shape=tuple(input_shape), z_dim=z_dim, width=width)
    return sum(t.numel() * 4 for t in generator.state_dict().values())


def default_width(arch: str, n_classes: int, input_shape: tuple[int, int], z_dim: int, feature_bytes: int) -> int:
    """The widest of `WIDTHS` whose generator takes at most `MAX_SHARE` of `feature_bytes` (the
    float32 training features it replaces), else the narrowest. The generator's size is
    dominated by its first layer, (z_dim + C) x width x ceil(F/4) x ceil(T/4) weights, so the
    width grows linearly with the number of training clips until it reaches 64."""
    for width in WIDTHS:
        if generator_bytes(arch, n_classes, input_shape, z_dim, width) <= MAX_SHARE * feature_bytes:
            return width
    return WIDTHS[-1]
