"""Train a named classifier on feature maps: `TrainConfig`, `train_model`, `TrainedModel`.

One loop, top to bottom, in `train_model`; the pieces it needs (augmentation, sampling, the
loss for hard or soft targets, checkpoints) are small helpers beside it. Adam with a cosine
learning-rate decay; optional SpecAugment-style masks and time shift; optional class-balanced
sampling; early stopping on a validation set scored every epoch or `validations` times (the
best validated epoch's weights are kept); a checkpoint (`checkpoint.py`, safetensors) at each
validated epoch that `resume=True` continues from, exactly. Runs
are repeatable under a fixed seed on CPU. The device is picked at run time (`resolve_device`).
Inside a torch.distributed group (torchrun) the model trains under DistributedDataParallel:
every rank draws the same global batch, trains on its share, rank 0 writes the checkpoint.

Targets: `y` int (N,) class indices -> cross-entropy (with optional label smoothing); `y`
float (N, C) targets (soft labels, RFAD learned labels) -> mean squared error between the logits
and the targets, the loss the kernel coreset's labels were learned under.

Saving and loading trained models (schema "edgedistill.model") lives in `model_artifact.py`,
which imports this module (never the other way round). torch is imported at module level: import this
module inside functions where `--help` must stay fast.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedistill.checkpoint import RunState, load_checkpoint, load_state, save_checkpoint
from edgedistill.models import build_model
from edgedistill.models.layers import set_input_stats
from edgedistill.data.mapped import MappedRows
from edgedistill.runtime import resolve_precision, seed_everything
from edgedistill.train_config import TrainConfig
from edgedistill.progress import progress as Progress


@dataclass
class TrainedModel:
    """A trained classifier: the module (eval mode, on CPU) and what is needed to rebuild it."""

    module: nn.Module
    model: str
    model_kwargs: dict[str, Any]
    labels: list[str]
    input_shape: tuple[int, int]
    history: list[dict[str, Any]] = field(default_factory=list)
    train_config: TrainConfig | None = None
    meta: Any = None  # the artifact's Meta when loaded from disk

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def predict_proba(self, x: np.ndarray, mc_passes: int = 0, batch_size: int = 256,
                      seed: int | None = None) -> np.ndarray:
        """Softmax probabilities (N, C); with mc_passes > 0, (mc_passes, N, C) with dropout on.

        MC dropout switches only the dropout layers to training mode (batch-norm statistics stay
        frozen). `seed` makes the dropout masks repeatable (the global torch RNG is restored).
        """
        passes = max(1, mc_passes)
        dropouts = [m for m in self.module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        if mc_passes > 0 and not dropouts:
            raise ValueError(f"model {self.model!r} has no dropout layer; MC dropout needs one")
        device = next(self.module.parameters()).device
        rng_state = torch.random.get_rng_state()
        if seed is not None:
            torch.manual_seed(seed)
        self.module.eval()
        for layer in dropouts if mc_passes > 0 else ():
            layer.train()
        try:
            with torch.no_grad():
                out = np.stack([
                    np.concatenate([
                        torch.softmax(self.module(torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32),
                                                                  device=device)), dim=-1).cpu().numpy()
                        for i in range(0, len(x), batch_size)
                    ]) if len(x) else np.zeros((0, self.n_classes), dtype=np.float32)
                    for _ in range(passes)
                ])
        finally:
            self.module.eval()
            torch.random.set_rng_state(rng_state)
        return out if mc_passes > 0 else out[0]

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Predicted class indices (N,)."""
        return self.predict_proba(x, batch_size=batch_size).argmax(axis=1)


def train_model(
    model: str,
    x: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    config: TrainConfig,
    *,
    model_kwargs: dict | None = None,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    init_state: dict | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
) -> TrainedModel:
    """Train model `model` on x (N, F, T) with targets y and return it (eval mode, on CPU).

    y: int (N,) class indices (cross-entropy) or float (N, C) targets (MSE on logits).
    valid: (x, y int) scored at the epochs `config.validated` picks (every epoch by default); the
    best scored epoch's weights are returned, and `config.patience` stops early. init_state: a
    state dict to start from (warm start; the input normalisation comes with it) instead of a
    fresh initialisation and data statistics. checkpoint: a file written (atomically) at those
    same epochs; with `resume=True` an existing checkpoint of the same model, classes and input
    shape is continued from its last epoch.
    """
    from edgedistill import distributed

    x, y, soft = _check_data(x, y, labels)
    model_kwargs = dict(model_kwargs or {})
    input_shape = (int(x.shape[1]), int(x.shape[2]))
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = distributed.setup(config.device)
    bf16 = resolve_precision(config.precision, device) == "bf16"
    world, main = distributed.world_size(), distributed.is_main()
    if world > 1 and config.batch_size < 2 * world:
        raise ValueError(f"training batch_size {config.batch_size} is too small for {world} processes: "
                         f"each needs at least 2 clips per step (batch_size >= {2 * world})")
    progress = progress and main
    seed_everything(config.seed)
    module = build_model(model, len(labels), input_shape, **model_kwargs)
    if init_state is not None:
        load_state(module, init_state, f"init_state for {model!r}")
    else:
        set_input_stats(module, x)
    module.to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    identity = {"model": model, "model_kwargs": model_kwargs, "labels": list(labels), "input_shape": list(input_shape)}
    state = RunState()
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_checkpoint(Path(checkpoint), identity, module, optimizer, generator)
    distributed.barrier()  # every rank has read the checkpoint before rank 0 replaces it
    net = _data_parallel(module, device, world)

    clips = _clip_reader(x, device)
    y_all = torch.as_tensor(y, device=device)
    fill = module.norm.mean.detach().to(device) if config.augment else None
    steps = max(1, math.ceil(len(x) / config.batch_size))
    epochs = config.epochs_for(len(x))
    bar = Progress(epochs, f"train {model}", start=state.epoch, enabled=progress).__enter__()
    for epoch in range(state.epoch, epochs):
        if config.patience and state.since_best >= config.patience:
            break
        for group in optimizer.param_groups:
            group["lr"] = config.lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        net.train()
        order = _batch_order(y, soft, len(labels), steps * config.batch_size, config.balanced, generator)
        total = torch.zeros((), dtype=torch.float64, device=device)
        for step in range(steps):
            # the global batch and its augmentation are drawn identically on every rank (same
            # generator); each rank then trains on its contiguous share of the rows
            index = order[step * config.batch_size:(step + 1) * config.batch_size].to(device)
            xb, yb = clips(index), y_all[index]
            if config.augment:
                xb = spec_augment(xb, fill, generator)
            if len(xb) == 1:  # batch-norm cannot train on one clip: repeat it
                xb, yb = xb.repeat(2, 1, 1), yb.repeat(2, *([1] * (yb.dim() - 1)))
            rows = torch.as_tensor(distributed.shard(np.arange(len(xb))), device=device)
            share = len(rows) / len(xb)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = net(xb[rows])
            loss = _loss(logits.float(), yb[rows], soft, config.label_smoothing) * share
            optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over ranks: scaled by the world size, the ranks' shares add up
            # to the gradient of the global batch's mean loss
            (loss * world).backward()
            optimizer.step()
            total += loss.detach().double()
        distributed.all_reduce_([total])
        record = {"epoch": epoch + 1, "loss": float(total) / steps, "lr": optimizer.param_groups[0]["lr"]}
        due = config.validated(epoch + 1, epochs)
        if valid is not None and due:
            record["valid_accuracy"] = _accuracy(module, valid[0], valid[1], device)
            if state.best_accuracy is None or record["valid_accuracy"] > state.best_accuracy:
                state.best_accuracy, state.best_epoch, state.since_best = record["valid_accuracy"], epoch + 1, 0
                state.best_weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                state.since_best += 1
        state.history.append(record)
        state.epoch = epoch + 1
        if checkpoint is not None and main and due:  # a resume replays the epochs since: the same result
            save_checkpoint(Path(checkpoint), identity, module, optimizer, generator, state, config)
        bar.update(epoch + 1, loss=record["loss"], **({"valid": record["valid_accuracy"]} if "valid_accuracy" in record else {}))
    bar.__exit__(None, None, None)
    if net is not module:  # back to plain batch-norm layers for saving and export
        plain = build_model(model, len(labels), input_shape, **model_kwargs)
        plain.load_state_dict(module.state_dict())
        module = plain.to(device)
    if state.best_weights is not None:
        module.load_state_dict(state.best_weights)
    module.to("cpu").eval()
    return TrainedModel(module=module, model=model, model_kwargs=model_kwargs, labels=list(labels),
                        input_shape=input_shape, history=state.history, train_config=config)


def _data_parallel(module: nn.Module, device: torch.device, world: int) -> nn.Module:
    """`module` itself in one process; under torch.distributed a DistributedDataParallel wrapper
    (gradients averaged over ranks) whose batch-norm layers take their statistics over the global
    batch (torch's SyncBatchNorm on CUDA, `RankBatchNorm` on CPU, where torch has none), so the
    ranks train the model one process trains. Dropout masks are drawn per rank (statistically the
    same, not equal). Mutates `module`'s batch-norm layers (same state-dict keys)."""
    if world == 1:
        return module
    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    else:
        from edgedistill.models.rank_batchnorm import sync_batchnorm

        module = sync_batchnorm(module)
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


# Helpers ---------------------------------------------------------------------------------------
def _clip_reader(x, device: torch.device):
    """index (a tensor) -> those clips as a float32 tensor on `device`: from one tensor of the whole
    set when x is in memory; read from the file on demand when x is a feature cache's rows
    (`MappedRows`), so training memory does not grow with the cache. Same values either way."""
    if isinstance(x, MappedRows):
        return lambda index: torch.as_tensor(np.asarray(x[index.cpu().numpy()], dtype=np.float32), device=device)
    whole = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32), device=device)
    return lambda index: whole[index]


def _check_data(x: np.ndarray, y: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate shapes and targets; returns (x, y as int64 or float32, soft?). A feature cache's
    rows (`MappedRows`) stay on disk: FeatureSet.load scanned them for NaN already."""
    x = x if isinstance(x, MappedRows) else np.asarray(x)
    y = np.asarray(y)
    n_classes = len(labels)
    if x.ndim != 3 or len(x) == 0:
        raise ValueError(f"training features must have shape (N, F, T) with N > 0, got {x.shape}")
    if len(y) != len(x):
        raise ValueError(f"{len(x)} feature maps but {len(y)} targets")
    if n_classes < 2:
        raise ValueError(f"need at least 2 class labels, got {labels}")
    if not isinstance(x, MappedRows) and not np.isfinite(x).all():
        raise ValueError("training features contain NaN or infinite values")
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ValueError(f"soft targets have {y.shape[1]} columns but there are {n_classes} classes")
        return x, y.astype(np.float32), True
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"targets must be int class indices (N,) or float (N, C) soft labels, got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"class indices must be in [0, {n_classes}), got [{y.min()}, {y.max()}]")
    counts = np.bincount(y, minlength=n_classes)
    if (counts == 0).any():
        empty = [labels[c] for c in np.flatnonzero(counts == 0)]
        raise ValueError(f"class(es) {', '.join(empty)} have no training samples; every class needs at least one")
    return x, y.astype(np.int64), False


def _batch_order(y: np.ndarray, soft: bool, n_classes: int, n: int, balanced: bool,
                 generator: torch.Generator) -> torch.Tensor:
    """Indices for one epoch: reshuffled passes over the data, or class-balanced draws."""
    if balanced:
        classes = y.argmax(axis=1) if soft else y
        weights = 1.0 / np.bincount(classes, minlength=n_classes)[classes]
        return torch.multinomial(torch.as_tensor(weights, dtype=torch.float64), n, replacement=True, generator=generator)
    passes = math.ceil(n / len(y))
    return torch.cat([torch.randperm(len(y), generator=generator) for _ in range(passes)])[:n]


def spec_augment(x: torch.Tensor, fill: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SpecAugment-style masks and a time shift on a batch x (B, F, T); `fill` (F, 1) band means.

    Per clip: one band span of up to F/8 and one frame span of up to T/8 set to the band mean;
    then a shift of up to ±T/10 frames, repeating the edge frame. Random draws use `generator`.
    """
    b, f, t = x.shape
    cpu = torch.device("cpu")

    def spans(size: int, limit: int) -> torch.Tensor:
        width = torch.randint(0, max(1, limit) + 1, (b, 1), generator=generator)
        start = (torch.rand(b, 1, generator=generator) * (size - width + 1)).long()
        pos = torch.arange(size, device=cpu).view(1, -1)
        return ((pos >= start) & (pos < start + width)).to(x.device)

    mask = spans(f, f // 8).unsqueeze(2) | spans(t, t // 8).unsqueeze(1)
    x = torch.where(mask, fill.view(1, f, 1).expand_as(x), x)
    max_shift = t // 10
    shift = torch.randint(-max_shift, max_shift + 1, (b, 1), generator=generator)
    index = (torch.arange(t).view(1, -1) - shift).clamp(0, t - 1).to(x.device)
    return torch.gather(x, 2, index.unsqueeze(1).expand(b, f, t))


def _loss(logits: torch.Tensor, target: torch.Tensor, soft: bool, label_smoothing: float) -> torch.Tensor:
    if soft:
        return nn.functional.mse_loss(logits, target)
    return nn.functional.cross_entropy(logits, target, label_smoothing=label_smoothing)


def _accuracy(module: nn.Module, x: np.ndarray, y: np.ndarray, device: torch.device, batch_size: int = 256) -> float:
    """Top-1 accuracy of `module` (switched to eval mode) on int labels y."""
    module.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float32), device=device)
            correct += int((module(xb).argmax(1).cpu().numpy() == np.asarray(y[i:i + batch_size])).sum())
    return correct / max(1, len(x))
