"""SmallCNN: the downstream model of the committed EmoDB GAN tables (gan_emodb_*.md), kept for reproducing them.

`benchmarks/gan_distill.py --downstream smallcnn` (the default) trains it. The library's L_SML
pool and `edgedistill train` use registered models (`edgedistill.models`) instead; new tables
should use one of those (`--downstream cnn4`). Imports torch and numpy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgedistill.methods.gan.architectures import BandNorm


class SmallCNN(nn.Module):
    """(B, F, T) raw features -> logits (B, C): band norm, 3 conv-BN-ReLU-pool blocks, dropout, linear."""

    def __init__(self, n_classes: int, input_shape: tuple[int, int], width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()
        self.norm = BandNorm(input_shape[0])
        layers: list[nn.Module] = []
        channels = 1
        for out in (width // 2, width, width):
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.body = nn.Sequential(*layers)
        self.embed_dim = channels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.norm.normalize(x).unsqueeze(1)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def train_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, *, epochs: int = 20, batch_size: int = 32,
                     lr: float = 3e-3, width: int = 32, seed: int = 0, device: torch.device | str = "cpu",
                     checkpoint_every: int | None = None, shift: int = 4) -> tuple[SmallCNN, list[dict]]:
    """Train a SmallCNN with Adam + cross-entropy; random time shifts of up to `shift` frames.

    Returns (model in eval mode on the CPU, checkpoints): with checkpoint_every=k a CPU copy of
    the state dict is kept after every k-th epoch. Seeded by `seed` (a local generator).
    """
    if len(x) == 0:
        raise ValueError("train_classifier: no training samples")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = torch.device(device)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    model = SmallCNN(n_classes, tuple(xt.shape[1:]), width=width)
    model.norm.set_stats(xt)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    checkpoints: list[dict] = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), batch_size):
            index = order[start:start + batch_size]
            if len(index) < 2:  # BatchNorm needs two samples
                continue
            xb = xt[index]
            if shift:
                xb = torch.roll(xb, int(torch.randint(-shift, shift + 1, (1,), generator=generator)), dims=2)
            loss = nn.functional.cross_entropy(model(xb.to(device)), yt[index].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if checkpoint_every and epoch % checkpoint_every == 0:
            checkpoints.append({k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    return model.cpu().eval(), checkpoints
