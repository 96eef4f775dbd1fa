"""Kernel ridge regression with the random-feature kernel: RFAD's inner solver and its scoring.

Pure functions with documented shapes. Kernels are Gram matrices of random features
Φ (see `random_features`), formed and solved in float64 (Cholesky with growing jitter, never an
explicit inverse). Features are computed in chunks so memory stays bounded at large budgets.
Imports torch: host-side only.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets


def regression_targets(y: np.ndarray | torch.Tensor, n_classes: int) -> torch.Tensor:
    """KRR targets for int labels y (M,): one-hot minus 1/C (zero-mean rows), float64 (M, C)."""
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    return torch.nn.functional.one_hot(y, n_classes).double() - 1.0 / n_classes


def chunked_features(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, chunk: int,
                     segment: int = 512) -> torch.Tensor:
    """fn over z in chunks of `chunk` rows (small chunks keep activations cache-sized: faster on CPU).

    With autograd on and more than `segment` rows, each segment of rows is recomputed in the
    backward pass (activation checkpointing), so memory holds one segment's activations whatever
    the coreset size.
    """
    def run(rows: torch.Tensor) -> torch.Tensor:
        if len(rows) <= chunk:
            return fn(rows)
        # split, not slicing: its backward concatenates the chunks' gradients once, where each
        # slice's backward would zero-fill a gradient the size of all rows
        return torch.cat([fn(part) for part in rows.split(chunk)])

    if len(z) <= segment or not (torch.is_grad_enabled() and z.requires_grad):
        return run(z)
    return torch.cat([checkpoint(run, part, use_reentrant=False) for part in z.split(segment)])


def cholesky_solve(k_cc: torch.Tensor, rhs: torch.Tensor, reg: float) -> torch.Tensor:
    """(K_CC + reg·mean(diag K_CC)·I)⁻¹ rhs in float64 via Cholesky; jitter grows x10 until it factors.

    k_cc: (M, M) float64 symmetric PSD. rhs: (M, C). reg: ridge relative to the kernel's mean
    diagonal (trace / M), so it does not depend on the kernel's scale.
    """
    scale = torch.diagonal(k_cc).mean().clamp_min(1e-30)
    eye = torch.eye(len(k_cc), dtype=k_cc.dtype, device=k_cc.device)
    ridge = max(float(reg), 1e-12)
    for _ in range(8):
        factor, info = torch.linalg.cholesky_ex(k_cc + (ridge * scale) * eye)
        if int(info) == 0:
            return torch.cholesky_solve(rhs, factor)
        ridge *= 10.0
    raise ValueError("kernel matrix is not positive definite even with jitter; the coreset has NaN or collapsed samples")


def krr_predict(phi_b: torch.Tensor, phi_c: torch.Tensor, y_c: torch.Tensor, reg: float) -> torch.Tensor:
    """ŷ_B = K_BC (K_CC + λI)⁻¹ y_C with K = ΦΦᵀ in float64.

    phi_b: (B, D) features of the points to predict. phi_c: (M, D) features of the support
    (coreset). y_c: (M, C) targets. reg: λ relative to mean(diag(K_CC)). Returns (B, C) float64.
    """
    phi_b, phi_c = phi_b.double(), phi_c.double()
    alpha = cholesky_solve(phi_c @ phi_c.T, y_c.double(), reg)
    return (phi_b @ phi_c.T) @ alpha


def mse_loss(pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ‖y_B − ŷ_B‖² (summed over classes), as RFAD's MSE objective."""
    return ((pred - targets) ** 2).sum(dim=1).mean()


def platt_loss(pred: torch.Tensor, y: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Platt-scaled cross-entropy: CE(softmax(exp(log_scale)·ŷ_B), y_B) with a learned scale
    (inverse temperature), as RFAD. pred (B, C); y (B,) int class indices."""
    return torch.nn.functional.cross_entropy(pred * log_scale.exp(), y)


def krr_score(x_c: np.ndarray, targets_c: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              rf_config: RandomFeatureConfig, mean: np.ndarray, std: np.ndarray, *, draws: int = 5,
              seed: int = 0, reg: float = 1e-4, device: str | torch.device = "cpu", chunk: int = 256) -> dict[str, Any]:
    """Accuracy of KRR fitted on (x_c, targets_c) and scored on (x_test, y_test) with fresh random nets.

    x_c (M, F, T) raw features; targets_c (M, C) regression targets (one-hot − 1/C, or learned
    labels); x_test (N, F, T); y_test (N,) int. Each of `draws` draws new nets (seeded from
    `seed`). Returns accuracy mean / std / per-draw list, n, and `mse`: the mean squared error of
    the KRR predictions against the test targets (one-hot − 1/C), RFAD's own loss on held-out
    data (continuous, so far less noisy than accuracy on a small test split).
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    input_shape = tuple(x_c.shape[1:])
    y_test = np.asarray(y_test)
    n_classes = int(np.asarray(targets_c).shape[1])
    accuracies, errors = [], []
    with torch.no_grad():
        for draw in range(draws):
            nets = random_feature_nets(input_shape, rf_config, seed=_draw_seed(seed, draw), mean=mean, std=std, device=device)
            phi_c = chunked_features(nets, torch.as_tensor(np.asarray(x_c, dtype=np.float32), device=device), chunk)
            alpha = cholesky_solve(phi_c.double() @ phi_c.double().T, torch.as_tensor(targets_c, device=device).double(), reg)
            correct, squared = 0, 0.0
            for start in range(0, len(y_test), chunk):
                xb = torch.as_tensor(np.asarray(x_test[start:start + chunk], dtype=np.float32), device=device)
                pred = (nets(xb).double() @ phi_c.double().T) @ alpha
                yb = y_test[start:start + chunk]
                correct += int((pred.argmax(1).cpu().numpy() == yb).sum())
                squared += float(((pred - regression_targets(yb, n_classes).to(pred)) ** 2).sum())
            accuracies.append(correct / max(len(y_test), 1))
            errors.append(squared / max(len(y_test) * n_classes, 1))
    acc = np.array(accuracies)
    return {"accuracy": float(acc.mean()), "accuracy_std": float(acc.std()), "accuracies": acc.tolist(),
            "mse": float(np.mean(errors)), "draws": draws, "n": int(len(y_test))}


def _draw_seed(seed: int, draw: int) -> int:
    """A seed for scoring draw `draw`, disjoint from the seeds RFAD uses while distilling."""
    return int(np.random.SeedSequence([int(seed), 7, int(draw)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def coreset_kernel(coreset) -> tuple[RandomFeatureConfig, np.ndarray, np.ndarray]:
    """(random-net config, band mean, band std) of a coreset's kernel, as RFAD stored them in its meta.

    A coreset without them (e.g. random real samples) gets the default nets and its own band
    stats. `coreset_feature_nets` builds the nets of one draw from these.
    """
    from edgedistill.methods.random_features import band_stats

    extra = coreset.meta.extra if coreset.meta is not None else {}
    rf = RandomFeatureConfig(**extra["random_features"]) if "random_features" in extra else RandomFeatureConfig()
    if "rf_norm" in extra:
        return rf, np.asarray(extra["rf_norm"]["mean"]), np.asarray(extra["rf_norm"]["std"])
    return rf, *band_stats(coreset.x)


def coreset_feature_nets(coreset, seed: int, device: str = "cpu", im2col: bool = False):
    """The random-feature nets (a torch module, raw features (B, F, T) -> Φ (B, N·M)) of a coreset's
    kernel for one draw `seed`: what the device `krr` mode exports (im2col=False: plain conv2d)."""
    rf, mean, std = coreset_kernel(coreset)
    return random_feature_nets(coreset.config.shape, rf, seed, mean, std, device=device, im2col=im2col)


def score_coreset(coreset, test, *, draws: int = 5, seed: int = 0, device: str = "auto", chunk: int = 16) -> dict[str, Any]:
    """`krr_score` of a Coreset on a FeatureSet (same features and classes), mean ± std over draws.

    The kernel is `coreset_kernel(coreset)`. Targets: the learned labels `y_soft` when present,
    else one-hot − 1/C of `y`.
    """
    from edgedistill.runtime import resolve_device

    if list(test.labels) != list(coreset.labels):
        raise ValueError(f"coreset classes {coreset.labels} differ from the evaluation set's classes {list(test.labels)}")
    if test.feature_id != coreset.config.feature_id:
        raise ValueError(f"coreset features ({coreset.config.feature_id}) differ from the evaluation set's ({test.feature_id})")
    rf, mean, std = coreset_kernel(coreset)
    method = (coreset.meta.method.get("config", {}) if coreset.meta is not None else {}) or {}
    reg = float(method.get("reg", 1e-4))
    targets = coreset.y_soft if coreset.y_soft is not None else regression_targets(coreset.y, len(coreset.labels)).numpy()
    result = krr_score(coreset.x, targets, test.x, test.y, rf, mean, std, draws=draws, seed=seed, reg=reg,
                       device=resolve_device(device), chunk=chunk)
    return {**result, "n_coreset": int(len(coreset.y)), "ipc": coreset.ipc}
