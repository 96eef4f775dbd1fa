"""The L_SML checkpoint pool: downstream classifiers trained on the real data, one drawn per step.

The paper draws, at every generator step, one classifier from a pool of checkpoints saved
while training downstream models on the real data; L_SML then matches that classifier's
softmax on real and generated batches. The checkpoints come from the library's training loop
(`edgedistill.training.train_model`) on a registered model (`GANConfig.pool_model`, e.g. cnn4):
each pool model trains in cosine cycles of `every` epochs, each cycle warm-started from the
previous one's weights (a snapshot ensemble, Huang et al. 2017), and the weights at the end of
every cycle are one checkpoint. Also `predict` and `accuracy_and_uar`, the scoring helpers the
loop and the tests share. Imports torch and numpy; must not import the GAN loop or the CLI.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from edgedistill.models import build_model


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


def snapshot_states(model: str, model_kwargs: dict[str, Any], x: np.ndarray, y: np.ndarray, labels: list[str], *,
                    epochs: int, every: int, seed: int, device: str = "auto", threads: int | None = None) -> list[dict]:
    """CPU state dicts of registered model `model` after every `every` epochs of `train_model` on (x, y).

    epochs // every cycles; cycle k is `train_model` for `every` epochs (its own cosine decay,
    seed seed + k), started from cycle k-1's weights. Returns one state dict per cycle.
    """
    from edgedistill.training import TrainConfig, train_model

    if every < 1 or epochs < every:
        raise ValueError(f"snapshot_states: need 1 <= every <= epochs, got every={every}, epochs={epochs}")
    states: list[dict] = []
    for cycle in range(epochs // every):
        config = TrainConfig(min_steps=0, epochs=every, device=device, threads=threads, seed=seed + cycle)
        trained = train_model(model, x, y, labels, config, model_kwargs=model_kwargs,
                              init_state=states[-1] if states else None, progress=False)
        states.append({k: v.detach().cpu().clone() for k, v in trained.state_dict().items()})
    return states


class CheckpointPool:
    """Frozen downstream classifiers of one registered model; `draw()` loads a uniformly drawn checkpoint (torch RNG)."""

    def __init__(self, model: str, model_kwargs: dict[str, Any], n_classes: int, input_shape: tuple[int, int],
                 checkpoints: list[dict], device: torch.device) -> None:
        if not checkpoints:
            raise ValueError("CheckpointPool: no checkpoints; train downstream models first")
        self.checkpoints = checkpoints
        self.model = build_model(model, n_classes, input_shape, **model_kwargs).to(device).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def __len__(self) -> int:
        return len(self.checkpoints)

    def draw(self) -> nn.Module:
        index = int(torch.randint(len(self.checkpoints), (1,)))
        self.model.load_state_dict(self.checkpoints[index])
        return self.model

    @classmethod
    def train(cls, x: np.ndarray, y: np.ndarray, labels: list[str], *, model: str, model_kwargs: dict[str, Any],
              models: int, epochs: int, every: int, seed: int, device: torch.device,
              threads: int | None = None) -> "CheckpointPool":
        """Train `models` classifiers on real data (seeds seed + 1000 + 100 k + cycle), keeping their snapshots.

        Under torch.distributed classifier k is trained once, by rank k % world alone (each model is
        a single-process `train_model` run, so the same as in one process), and broadcast from
        there: every rank ends with the same checkpoints, bit for bit.
        """
        from edgedistill import distributed

        world, me = distributed.world_size(), distributed.rank()
        cycles = epochs // every
        template = build_model(model, len(labels), tuple(x.shape[1:]), **model_kwargs).state_dict()
        trained: dict[int, list[dict]] = {}
        for k in range(me, models, world):  # this rank's classifiers first, then the exchange
            with distributed.local():
                trained[k] = snapshot_states(model, model_kwargs, x, y, labels, epochs=epochs, every=every,
                                             seed=seed + 1000 + 100 * k, device=str(device), threads=threads)
        checkpoints: list[dict] = []
        for k in range(models):
            states = trained.get(k) or [{key: torch.empty_like(value) for key, value in template.items()}
                                        for _ in range(cycles)]
            for state in states:
                distributed.broadcast_(state.values(), src=k % world, device=device)
            checkpoints += states
        return cls(model, model_kwargs, len(labels), tuple(x.shape[1:]), checkpoints, device)
