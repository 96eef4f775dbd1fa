"""`ser-head`: a SUPERB-style downstream model for frame-level features (speech emotion).
Imports torch.

Input (B, F, T) frame features (MFCC, log-mel or SSL frames) -> BandNorm -> a per-frame
projection (1x1 conv, F -> hidden) with ReLU -> mean pooling over time -> a small MLP (hidden ->
hidden, ReLU) -> dropout -> linear classifier, as SUPERB's emotion task pools frames and
classifies.
"""

from __future__ import annotations

import torch
from torch import nn

from edgedistill.models.layers import BandNorm


class SERHead(nn.Module):
    def __init__(self, n_classes: int, input_shape: tuple[int, int], hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = BandNorm(input_shape[0])
        self.project = nn.Sequential(nn.Conv1d(input_shape[0], hidden, 1), nn.ReLU(inplace=True))
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(self.norm(x)).mean(dim=2)
        return self.classifier(self.dropout(self.mlp(x)))


def ser_head(n_classes: int, input_shape: tuple[int, int], hidden: int = 256, dropout: float = 0.3) -> SERHead:
    """Frame projection and MLP with `hidden` units (256 as SUPERB's emotion downstream)."""
    return SERHead(n_classes, input_shape, hidden=hidden, dropout=dropout)
