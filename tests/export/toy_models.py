"""Tiny torch modules shaped like the models contract, for export tests that must not depend on
training: a classifier with per-band normalisation, conv/bn/relu, pooling, dropout and a linear
head; a conditional generator; random-feature conv nets."""

from __future__ import annotations

import torch
from torch import nn


class ToyClassifier(nn.Module):
    """(B, F, T) raw features -> (B, C) logits; normalisation is the first layer."""

    def __init__(self, n_features: int, n_classes: int, width: int = 8, batch_safe: bool = True) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("var", torch.ones(n_features))
        self.batch_safe = batch_safe
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(width)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # per-band normalisation as a frozen batch norm over the band axis: a plain broadcast
        # (x - mean) breaks litert-torch's dynamic batch, batch_norm lowers cleanly
        x = torch.nn.functional.batch_norm(x, self.mean, self.var, training=False, eps=0.0)
        # unsqueeze(1) breaks litert-torch's dynamic batch; a broadcasting einsum does not
        x = torch.einsum("bft,c->bcft", x, torch.ones(1, device=x.device)) if self.batch_safe else x.unsqueeze(1)
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.head(self.dropout(x.mean(dim=(2, 3))))


class ToyGenerator(nn.Module):
    """(z (B, Z), label_onehot (B, C)) -> features (B, F, T) through a ConvTranspose stack."""

    def __init__(self, z_dim: int, n_classes: int, shape: tuple[int, int]) -> None:
        super().__init__()
        self.shape = shape
        self.f0, self.t0 = -(-shape[0] // 4), -(-shape[1] // 4)  # ceil: upsampled x4 then cropped
        self.fc = nn.Linear(z_dim + n_classes, 8 * self.f0 * self.t0)
        self.up = nn.Sequential(nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1))

    def forward(self, z: torch.Tensor, label_onehot: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(torch.cat([z, label_onehot], dim=1))).reshape(-1, 8, self.f0, self.t0)
        return self.up(h)[:, 0, : self.shape[0], : self.shape[1]]


class ToyRandomFeatures(nn.Module):
    """(B, F, T) -> (B, D) random conv features (relu conv, global average pool)."""

    def __init__(self, width: int = 16, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.einsum("bft,c->bcft", x, torch.ones(1, device=x.device))
        return torch.relu(self.conv(x)).mean(dim=(2, 3))
