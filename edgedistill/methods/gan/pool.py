"""Downstream classifiers for L_SML: a small CNN, its training loop, and the checkpoint pool.

The paper draws, at every generator step, one classifier from a pool of checkpoints saved
while training downstream models on the real data; L_SML then matches that classifier's
softmax on real and generated batches. This module trains those models (several seeds, a
checkpoint every few epochs) and holds the pool. The same small CNN and `train_classifier`
are used by the tests and the benchmark to score generated-only training.

Kept inside the GAN package until the shared `edgedistill.training` lands; then the pool can
be filled from `train_model` checkpoints instead. Imports torch and numpy only.
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


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) of a model in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    out = [torch.softmax(model(torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32)).to(device)), 1).cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy()


def accuracy_and_uar(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """accuracy and UAR (unweighted average recall over the classes present in y_true)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [float((y_pred[y_true == c] == c).mean()) for c in range(n_classes) if (y_true == c).any()]
    return {"accuracy": float((y_true == y_pred).mean()), "uar": float(np.mean(recalls))}


class CheckpointPool:
    """Frozen downstream classifiers; `draw()` loads a uniformly drawn checkpoint (torch RNG)."""

    def __init__(self, n_classes: int, input_shape: tuple[int, int], checkpoints: list[dict], width: int,
                 device: torch.device) -> None:
        if not checkpoints:
            raise ValueError("CheckpointPool: no checkpoints; train downstream models first")
        self.checkpoints = checkpoints
        self.model = SmallCNN(n_classes, input_shape, width=width).to(device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def __len__(self) -> int:
        return len(self.checkpoints)

    def draw(self) -> SmallCNN:
        index = int(torch.randint(len(self.checkpoints), (1,)))
        self.model.load_state_dict(self.checkpoints[index])
        return self.model

    @classmethod
    def train(cls, x: np.ndarray, y: np.ndarray, n_classes: int, *, models: int, epochs: int, every: int,
              seed: int, device: torch.device, width: int = 32) -> "CheckpointPool":
        """Train `models` classifiers (seeds seed, seed+1, ...) on real data, keeping checkpoints."""
        checkpoints: list[dict] = []
        for k in range(models):
            _, saved = train_classifier(x, y, n_classes, epochs=epochs, width=width, seed=seed + 1000 + k,
                                        device=device, checkpoint_every=every)
            checkpoints += saved
        return cls(n_classes, tuple(x.shape[1:]), checkpoints, width, device)
