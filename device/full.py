"""`full` mode: train a whole small network on the device by running an exported train-step graph.

The graph (built on the host by edgedistill.export.train_step, artifact kind "train-step") maps
(batch x, targets y, per-band mean/std, lr, step, weight_decay, flat params, Adam m, v) to
(loss, new params, new m, new v); this loop feeds its outputs back in, epoch after epoch, with
onnxruntime or LiteRT: no training framework on the device. The trained weights run through the
artifact's forward graph (features, mean, std, params -> logits).

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.device.devmodel import load_graph, load_params
from edgedistill.device.predictor import Predictor, feature_config_of
from edgedistill.device.runtime import Session

STEP_INPUTS = ("x", "y", "mean", "std", "lr", "step", "weight_decay", "params", "m", "v")
V_FLOOR = 1e-30  # see train_step


@dataclass(frozen=True)
class FullConfig:
    """Adam on mean cross-entropy: epochs, batch_size, lr, weight_decay (L2 as torch.optim.Adam), seed (shuffling)."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"full: need epochs >= 1, batch_size >= 1, lr > 0, weight_decay >= 0; got {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def band_stats(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std (float32 (F,)) over clips and frames of x (N, F, T)."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=(0, 2)).astype(np.float32), np.maximum(x.std(axis=(0, 2)), eps).astype(np.float32)


def check_step_graph(session: Session) -> None:
    missing = [name for name in STEP_INPUTS if name not in session.input_names]
    if missing:
        raise ValueError(f"{session.path}: not a train-step graph (missing inputs {missing}); export one with "
                         "edgedistill.export.train_step.export_train_step")


def train_step(session: Session, params: np.ndarray, m: np.ndarray, v: np.ndarray, x: np.ndarray, targets: np.ndarray,
               mean: np.ndarray, std: np.ndarray, lr: float, step: int, weight_decay: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step through the graph: returns (loss before the update, params, m, v)."""
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    # A parameter whose gradient is exactly 0 on every step so far (a ReLU channel dead on the batch, common in a
    # trained net) has m = v = 0; train-step graphs exported before export/train_step.py kept Adam's eps lost it
    # and give 0/0 = NaN there: a floor far below any real second moment keeps such a graph's update at 0 and
    # changes no other one (a graph with eps is unaffected).
    v = np.maximum(v, np.float32(V_FLOOR))
    out = session.run_named({"x": f32(x), "y": f32(targets), "mean": f32(mean), "std": f32(std), "lr": f32([lr]),
                             "step": f32([step]), "weight_decay": f32([weight_decay]), "params": params, "m": m, "v": v})
    return float(out["loss"][0]), out["new_params"], out["new_m"], out["new_v"]


def train_full(session: Session, init: np.ndarray, x: np.ndarray, targets: np.ndarray, config: FullConfig,
               on_epoch: Callable[[int, float], None] | None = None,
               stats: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train from flat initial params on x (N, F, T) and targets (N, C): (params {params, mean, std}, per-epoch mean loss).

    stats: per-band (mean, std) to keep (a warm start from a trained model); None computes them from x.
    """
    check_step_graph(session)
    rng = np.random.default_rng(config.seed)
    mean, std = band_stats(x) if stats is None else (np.asarray(stats[0], np.float32), np.asarray(stats[1], np.float32))
    params = np.asarray(init, dtype=np.float32).copy()
    m, v = np.zeros_like(params), np.zeros_like(params)
    history, step = [], 0
    for epoch in range(config.epochs):
        order, losses = rng.permutation(len(x)), []
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            step += 1
            loss, params, m, v = train_step(session, params, m, v, x[idx], targets[idx], mean, std, config.lr, step, config.weight_decay)
            if not np.isfinite(loss):
                raise ValueError(f"full: loss became {loss} at step {step}; lower --lr")
            losses.append(loss)
        history.append(float(np.mean(losses)))
        if on_epoch:
            on_epoch(epoch, history[-1])
    return {"params": params, "mean": mean, "std": std}, history


def forward_logits(session: Session, params: dict[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """logits(x) through the forward graph with the trained params."""
    fixed = {"mean": params["mean"], "std": params["std"], "params": params["params"]}
    return lambda x: session.run_named({"features": np.ascontiguousarray(x, dtype=np.float32), **fixed})["logits"]


def load_predictor(model_dir: Path, meta, backend: str | None, threads: int | None) -> Predictor:
    """The device-model loader for mode full (see predictor.MODE_LOADERS)."""
    session = load_graph(model_dir, meta, "forward", backend, threads)
    return Predictor(labels=list(meta.labels), feature_config=feature_config_of(meta, model_dir),
                     logits_fn=forward_logits(session, load_params(model_dir)), meta=meta, path=Path(model_dir),
                     info={"backend": session.backend, "mode": "full"})
