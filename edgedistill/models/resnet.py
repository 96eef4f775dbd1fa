"""`resnet18`: ResNet-18 (He et al. 2016) with a one-channel stem for feature maps, written here
(torchvision is not installable beside torch 2.13). Imports torch.

Input (B, F, T) -> BandNorm -> (B, 1, F, T); stem 3x3 conv with stride `stem_stride` (2 by
default instead of ImageNet's 7x7/2 + max-pool, which would shrink a 40x101 map to nothing);
four stages of two BasicBlocks with width, 2·, 4·, 8·width channels and strides 1, 2, 2, 2;
global average pool; dropout; linear classifier. width=64 is the standard ResNet-18 (11.2 M
parameters); a smaller width keeps CPU tests fast.
"""

from __future__ import annotations

import torch
from torch import nn

from edgedistill.models.layers import BandNorm, conv_bn_relu, global_avg_pool


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(c_in, c_out, 3, stride)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(self.conv1(x))) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, n_classes: int, input_shape: tuple[int, int], blocks: tuple[int, ...], width: int,
                 stem_stride: int, dropout: float) -> None:
        super().__init__()
        self.norm = BandNorm(input_shape[0])
        self.stem = conv_bn_relu(1, width, 3, stem_stride)
        layers, c_in = [], width
        for stage, n_blocks in enumerate(blocks):
            c_out = width * 2 ** stage
            for i in range(n_blocks):
                layers.append(BasicBlock(c_in, c_out, stride=2 if (stage > 0 and i == 0) else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.norm(x).unsqueeze(1))
        x = global_avg_pool(self.layers(x))
        return self.classifier(self.dropout(x))


def resnet18(n_classes: int, input_shape: tuple[int, int], width: int = 64, stem_stride: int = 2,
             dropout: float = 0.3) -> ResNet:
    """ResNet-18: BasicBlocks (2, 2, 2, 2) at width, 2·, 4·, 8·width channels."""
    return ResNet(n_classes, input_shape, blocks=(2, 2, 2, 2), width=width, stem_stride=stem_stride, dropout=dropout)
