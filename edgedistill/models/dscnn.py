"""`dscnn-s|m|l`: depthwise-separable CNNs of "Hello Edge: Keyword Spotting on Microcontrollers"
(Zhang et al. 2017), the standard small-footprint keyword-spotting model. Imports torch.

Layout: BandNorm; a full conv of `channels` filters with a (4 bands x 10 frames) kernel (the
paper's 10x4 time x frequency kernel; our maps are (F, T)) and stride `first_stride`; `blocks`
depthwise-separable blocks (3x3 depthwise conv -> BN -> ReLU -> 1x1 pointwise conv -> BN ->
ReLU); global average pool; dropout; linear classifier. Sizes from the paper's Table 3:
S 64 channels x 4 blocks, M 172 x 4, L 276 x 5 (stride 2x1 in time x frequency for L).
"""

from __future__ import annotations

import torch
from torch import nn

from edgedistill.models.layers import BandNorm, conv_bn_relu, global_avg_pool


class DSCNN(nn.Module):
    def __init__(self, n_classes: int, input_shape: tuple[int, int], channels: int, blocks: int,
                 first_stride: tuple[int, int], dropout: float) -> None:
        super().__init__()
        self.norm = BandNorm(input_shape[0])
        self.first = conv_bn_relu(1, channels, (4, 10), first_stride)
        layers = []
        for _ in range(blocks):
            layers += [conv_bn_relu(channels, channels, 3, groups=channels), conv_bn_relu(channels, channels, 1)]
        self.blocks = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.norm(x).unsqueeze(1))
        x = global_avg_pool(self.blocks(x))
        return self.classifier(self.dropout(x))


def dscnn_s(n_classes: int, input_shape: tuple[int, int], dropout: float = 0.2) -> DSCNN:
    """DS-CNN-S: 64 channels, 4 depthwise-separable blocks, first conv stride 2x2."""
    return DSCNN(n_classes, input_shape, channels=64, blocks=4, first_stride=(2, 2), dropout=dropout)


def dscnn_m(n_classes: int, input_shape: tuple[int, int], dropout: float = 0.2) -> DSCNN:
    """DS-CNN-M: 172 channels, 4 depthwise-separable blocks, first conv stride 2x2."""
    return DSCNN(n_classes, input_shape, channels=172, blocks=4, first_stride=(2, 2), dropout=dropout)


def dscnn_l(n_classes: int, input_shape: tuple[int, int], dropout: float = 0.2) -> DSCNN:
    """DS-CNN-L: 276 channels, 5 depthwise-separable blocks, first conv stride 2 in time, 1 in frequency."""
    return DSCNN(n_classes, input_shape, channels=276, blocks=5, first_stride=(1, 2), dropout=dropout)
