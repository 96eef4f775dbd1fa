"""`cnn4`: four conv blocks for keyword spotting (after Sainath & Parada 2015, the "4-layer CNN"
the audio dataset-distillation paper trains). Imports torch.

Layout, input (B, F, T) -> (B, 1, F, T): BandNorm; four blocks of 3x3 conv -> BN -> ReLU ->
2x2 max-pool with `width`, 2·width, 4·width, 4·width channels (the pool is skipped once a
side would drop below 2); global average pool; dropout; linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from edgedistill.models.layers import BandNorm, conv_bn_relu, global_avg_pool


class CNN4(nn.Module):
    def __init__(self, n_classes: int, input_shape: tuple[int, int], channels: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        self.norm = BandNorm(input_shape[0])
        blocks, c_in, (h, w) = [], 1, input_shape
        for c_out in channels:
            pool = (2 if h >= 4 else 1, 2 if w >= 4 else 1)
            blocks += [conv_bn_relu(c_in, c_out, 3)]
            if pool != (1, 1):
                blocks.append(nn.MaxPool2d(pool))
            c_in, h, w = c_out, h // pool[0], w // pool[1]
        self.features = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x).unsqueeze(1)
        x = global_avg_pool(self.features(x))
        return self.classifier(self.dropout(x))


def cnn4(n_classes: int, input_shape: tuple[int, int], width: int = 32, dropout: float = 0.3) -> CNN4:
    """cnn4 with `width`, 2·width, 4·width, 4·width channels (width 32: ~0.25 M parameters)."""
    return CNN4(n_classes, input_shape, channels=(width, 2 * width, 4 * width, 4 * width), dropout=dropout)
