"""`krr` mode: kernel ridge regression on the exported random-feature nets, closed form in numpy.

The nets graph maps raw features x (B, F, T) to Φ (B, D) (RFAD's random-feature NNGP kernel,
K = ΦΦᵀ). Fitting on M labelled examples (a coreset, generator samples or recordings):
    targets Y (M, C): the coreset's learned labels, else one-hot − 1/C (as RFAD);
    α = (K_CC + λ·mean(diag K_CC)·I)⁻¹ Y via an eigendecomposition (float64; λ relative, so it
    does not depend on the kernel's scale); the model is W = Φ(C)ᵀ α (D, C), ŷ(x) = Φ(x) W.
Scores become probabilities through a Platt scale s, softmax(s·ŷ), chosen by minimising the
cross-entropy of the closed-form leave-one-out predictions ŷ_loo,i = y_i − α_i / [(K + λI)⁻¹]_ii.

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.device.devmodel import load_graph, load_params
from edgedistill.device.predictor import Predictor, feature_config_of, softmax
from edgedistill.device.runtime import Session


@dataclass(frozen=True)
class KRRConfig:
    """reg: ridge λ relative to mean(diag K_CC). batch_size: rows per nets-graph call."""

    reg: float = 1e-4
    batch_size: int = 64

    def __post_init__(self) -> None:
        if not self.reg > 0:
            raise ValueError(f"krr: reg must be > 0, got {self.reg}")
        if self.batch_size < 1:
            raise ValueError(f"krr: batch_size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def regression_targets(y: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot minus 1/C (zero-mean rows), float64 (M, C), RFAD's KRR targets for int labels."""
    return np.eye(n_classes)[np.asarray(y, dtype=np.int64)] - 1.0 / n_classes


@dataclass(frozen=True)
class KernelEig:
    """K = ΦΦᵀ of a fit's rows, decomposed once: fits at several ridges share it (`solve`)."""

    phi: np.ndarray  # (M, D) float64
    evals: np.ndarray
    evecs: np.ndarray
    mean_diag: float

    @classmethod
    def of(cls, phi_c: np.ndarray) -> "KernelEig":
        phi = np.asarray(phi_c, dtype=np.float64)
        if not np.all(np.isfinite(phi)):
            raise ValueError("random features contain NaN or inf; the training features are corrupt")
        kernel = phi @ phi.T
        evals, evecs = np.linalg.eigh(kernel)
        return cls(phi, evals, evecs, max(float(np.mean(np.diag(kernel))), 1e-30))


def krr_fit(phi_c: np.ndarray, targets: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form KRR. phi_c (M, D), targets (M, C). Returns (W (D, C), leave-one-out predictions (M, C)), float64."""
    return solve(KernelEig.of(phi_c), targets, reg)


def solve(eig: KernelEig, targets: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """`krr_fit` on an already decomposed kernel: (W (D, C), leave-one-out predictions (M, C))."""
    phi, evals, evecs = eig.phi, eig.evals, eig.evecs
    inv_evals = 1.0 / (np.maximum(evals, 0.0) + reg * eig.mean_diag)
    alpha = evecs @ (inv_evals[:, None] * (evecs.T @ targets))
    inv_diag = (evecs ** 2) @ inv_evals
    loo = targets - alpha / inv_diag[:, None]
    return phi.T @ alpha, loo


def krr_reference(phi_c: np.ndarray, targets: np.ndarray, phi_b: np.ndarray, reg: float) -> np.ndarray:
    """ŷ_B = K_BC (K_CC + λI)⁻¹ Y with an explicit solve (the textbook form; tests compare krr_fit with it)."""
    k_cc = phi_c @ phi_c.T
    ridge = reg * np.mean(np.diag(k_cc))
    return (phi_b @ phi_c.T) @ np.linalg.solve(k_cc + ridge * np.eye(len(k_cc)), targets)


def platt_scale(scores: np.ndarray, y: np.ndarray) -> float:
    """The s > 0 minimising mean cross-entropy of softmax(s·scores) for int labels y (log-spaced search + refinement)."""
    def loss(s: float) -> float:
        p = softmax(s * scores)
        return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-300))))

    grid = np.logspace(-2, 4, 61)
    best = grid[int(np.argmin([loss(s) for s in grid]))]
    fine = best * np.logspace(-0.1, 0.1, 21)
    return float(fine[int(np.argmin([loss(s) for s in fine]))])


def features_of(session: Session, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Φ of x (N, F, T) through the nets graph, in batches."""
    return np.concatenate([session.run(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).astype(np.float64)


def fit(session: Session, x: np.ndarray, y: np.ndarray, n_classes: int, config: KRRConfig,
        y_soft: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Fit KRR on labelled features: params {w (D, C), scale ()} for `Predictor` logits = scale·Φ(x)W."""
    targets = np.asarray(y_soft, dtype=np.float64) if y_soft is not None else regression_targets(y, n_classes)
    if targets.shape != (len(y), n_classes):
        raise ValueError(f"learned labels have shape {targets.shape}, expected ({len(y)}, {n_classes})")
    w, loo = krr_fit(features_of(session, x, config.batch_size), targets, config.reg)
    return {"w": w, "scale": np.array(platt_scale(loo, np.asarray(y, dtype=np.int64)))}


def krr_logits(session: Session, params: dict[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """logits(x) = scale · Φ(x) W for fitted params."""
    w, scale = params["w"], float(params["scale"])
    return lambda x: scale * (session.run(x).astype(np.float64) @ w)


def load_predictor(model_dir: Path, meta, backend: str | None, threads: int | None) -> Predictor:
    """The device-model loader for mode krr (see predictor.MODE_LOADERS)."""
    session = load_graph(model_dir, meta, "features", backend, threads)
    return Predictor(labels=list(meta.labels), feature_config=feature_config_of(meta, model_dir),
                     logits_fn=krr_logits(session, load_params(model_dir)), meta=meta, path=Path(model_dir),
                     info={"backend": session.backend, "mode": "krr"})
