"""`head` mode: a softmax-regression or one-hidden-layer MLP head trained in numpy with Adam on
embeddings from a frozen exported backbone (any graph mapping features (B, F, T) to (B, E)).

Embeddings are standardised with their training mean/std (stored with the head). Loss: mean
cross-entropy + weight_decay/2 · ‖W‖² (weights only). The gradients are written out by hand
(softmax − one-hot, back through ReLU); `tests/device/test_head.py` checks them numerically.

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.device.devmodel import load_graph, load_params
from edgedistill.device.predictor import Predictor, feature_config_of, softmax


@dataclass(frozen=True)
class HeadConfig:
    """hidden: 0 = softmax regression, else MLP hidden units. Adam with lr, weight_decay (L2), epochs, batch_size, seed."""

    hidden: int = 0
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-2
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 0 or self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"head: need hidden >= 0, epochs >= 1, batch_size >= 1, lr > 0, weight_decay >= 0; got {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def init_head(n_in: int, n_classes: int, hidden: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-initialised weights: w1/b1 (n_in, hidden) when hidden > 0, then w/b to the classes."""
    params = {}
    if hidden:
        params["w1"] = rng.standard_normal((n_in, hidden)) * np.sqrt(2.0 / n_in)
        params["b1"] = np.zeros(hidden)
        n_in = hidden
    params["w"] = rng.standard_normal((n_in, n_classes)) * np.sqrt(1.0 / n_in)
    params["b"] = np.zeros(n_classes)
    return params


def head_logits(params: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """Logits (N, C) of standardised embeddings z (N, E)."""
    h = np.maximum(z @ params["w1"] + params["b1"], 0.0) if "w1" in params else z
    return h @ params["w"] + params["b"]


def loss_and_grads(params: dict[str, np.ndarray], z: np.ndarray, y: np.ndarray, weight_decay: float) -> tuple[float, dict[str, np.ndarray]]:
    """Mean CE + weight_decay/2·Σ‖W‖² and its gradients w.r.t. every parameter."""
    hidden = z @ params["w1"] + params["b1"] if "w1" in params else None
    h = np.maximum(hidden, 0.0) if hidden is not None else z
    p = softmax(h @ params["w"] + params["b"])
    n = len(y)
    loss = -np.mean(np.log(np.maximum(p[np.arange(n), y], 1e-300)))
    d_logits = p.copy()
    d_logits[np.arange(n), y] -= 1.0
    d_logits /= n
    grads = {"w": h.T @ d_logits, "b": d_logits.sum(0)}
    if hidden is not None:
        d_hidden = (d_logits @ params["w"].T) * (hidden > 0)
        grads["w1"], grads["b1"] = z.T @ d_hidden, d_hidden.sum(0)
    for name in ("w", "w1"):
        if name in params:
            loss += 0.5 * weight_decay * float(np.sum(params[name] ** 2))
            grads[name] = grads[name] + weight_decay * params[name]
    return float(loss), grads


def adam_step(params, grads, state, lr: float, step: int, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
    """One in-place Adam update (bias-corrected) of params from grads; state holds m/v per parameter."""
    for name, g in grads.items():
        m, v = state.setdefault(name, (np.zeros_like(g), np.zeros_like(g)))
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        state[name] = (m, v)
        params[name] -= lr * (m / (1 - beta1 ** step)) / (np.sqrt(v / (1 - beta2 ** step)) + eps)


def train_head(emb: np.ndarray, y: np.ndarray, n_classes: int, config: HeadConfig,
               init: dict[str, np.ndarray] | None = None,
               trainable: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], list[float]]:
    """Train on embeddings (N, E) and int labels: (params incl. standardisation mean/std, per-epoch mean loss).

    init: a trained head to start from (warm start, on-device learning): its mean/std and weights are
    kept, with the class dimension of w/b already sized to n_classes (see learn.py).
    trainable: optional 0/1 masks per parameter (same shapes); masked entries keep their initial value.
    """
    emb = np.asarray(emb, dtype=np.float64)
    rng = np.random.default_rng(config.seed)
    if init is None:
        mean, std = emb.mean(0), emb.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        params = init_head(emb.shape[1], n_classes, config.hidden, rng)
    else:
        mean, std = init["mean"], init["std"]
        params = {k: np.array(v, dtype=np.float64) for k, v in init.items() if k not in ("mean", "std")}
        if params["w"].shape[1] != n_classes:
            raise ValueError(f"head: the initial head has {params['w'].shape[1]} classes, the data {n_classes}")
    z = (emb - mean) / std
    state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    history, step = [], 0
    for _ in range(config.epochs):
        order, losses = rng.permutation(len(y)), []
        for start in range(0, len(y), config.batch_size):
            idx = order[start : start + config.batch_size]
            loss, grads = loss_and_grads(params, z[idx], y[idx], config.weight_decay)
            if trainable is not None:
                grads = {k: g * trainable[k] if k in trainable else g for k, g in grads.items()}
            step += 1
            adam_step(params, grads, state, config.lr, step)
            losses.append(loss)
        history.append(float(np.mean(losses)))
    return {**params, "mean": mean, "std": std}, history


def embed(session, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Backbone embeddings (N, E) of x (N, F, T); the backbone graph must output a 2-D array."""
    out = np.concatenate([session.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    if out.ndim != 2:
        raise ValueError(f"{session.path}: backbone output has shape {list(out.shape)}; the head needs a (B, E) embedding")
    return out


def head_logits_fn(session, params: dict[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """logits(x): backbone embeddings, standardised, through the trained head."""
    head = {k: v for k, v in params.items() if k not in ("mean", "std")}
    return lambda x: head_logits(head, (embed(session, x).astype(np.float64) - params["mean"]) / params["std"])


def load_predictor(model_dir: Path, meta, backend: str | None, threads: int | None) -> Predictor:
    """The device-model loader for mode head (see predictor.MODE_LOADERS)."""
    session = load_graph(model_dir, meta, "backbone", backend, threads)
    return Predictor(labels=list(meta.labels), feature_config=feature_config_of(meta, model_dir),
                     logits_fn=head_logits_fn(session, load_params(model_dir)), meta=meta, path=Path(model_dir),
                     info={"backend": session.backend, "mode": "head"})
