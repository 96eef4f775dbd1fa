"""Loss terms of the GAN distiller (Ritter-Gutierrez et al., Eq. 1-8), as pure functions.

Shapes: x (B, F, T) features; scores (B,); logits (B, C); y (B,) int class indices;
embeddings (B, D). Every function returns a scalar tensor. Imports torch only.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def wasserstein_critic(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic's Wasserstein loss E[D(x~)] - E[D(x)] (Eq. 1, minimised by the critic)."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator's adversarial loss -E[D(G(z))] (Eq. 4)."""
    return -fake_scores.mean()


def gradient_penalty(score_fn: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x^ D(x^)||_2 - 1)^2] at x^ = alpha x + (1 - alpha) x~ (Eq. 2).

    score_fn maps a batch to critic scores (B,); alpha (B,) in [0, 1] is drawn uniformly when
    None. The gradient norm is taken per sample over all feature dimensions. Multiply by
    lambda_gp (10) outside.
    """
    if alpha is None:
        alpha = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    alpha = alpha.reshape(-1, *([1] * (real.dim() - 1)))
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = score_fn(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def auxiliary_ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Auxiliary-classifier cross-entropy of the critic's class head (Eq. 3 and 5)."""
    return F.cross_entropy(logits, y)


def flooded(loss: torch.Tensor, level: float, global_value: torch.Tensor | None = None) -> torch.Tensor:
    """Flooding (Ishida et al. 2020): |loss - level| + level, the loss's gradient reversed below `level`.

    global_value: the loss over the whole batch when `loss` is one process's weighted share of it
    (data-parallel): its side of the level sets the sign, so the ranks' summed gradients equal
    one process's. level 0 returns loss unchanged (a CE is never below 0).
    """
    if level <= 0:
        return loss
    reference = (loss if global_value is None else global_value).detach()
    return torch.where(reference >= level, loss, 2 * level - loss)


def feature_matching(real_embedding: torch.Tensor, fake_embedding: torch.Tensor) -> torch.Tensor:
    """mean_d (E[h(x)] - E[h(G(z))])_d^2 on the critic's penultimate embedding (real side detached)."""
    return (real_embedding.detach().mean(0) - fake_embedding.mean(0)).pow(2).mean()


def softmax_matching(real_logits: torch.Tensor, fake_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """L_SML (Eq. 6): KL(p_real || p_fake) between a downstream classifier's softmax outputs.

    Row i of the real and generated batches share a label; the KL is summed over classes and
    averaged over rows. The real side is a fixed target (detached). 0 for identical logits.
    """
    target = F.log_softmax(real_logits.detach() / temperature, dim=1)
    prediction = F.log_softmax(fake_logits / temperature, dim=1)
    return F.kl_div(prediction, target, reduction="batchmean", log_target=True)


def diversity(g1: torch.Tensor, g2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """L_DIV (Eq. 7): -E[min(||G(z1) - G(z2)|| / ||z1 - z2||, tau)] over same-class noise pairs.

    Distances are mean absolute differences per sample (L1 divided by the dimension), so the
    ratio does not grow with the feature size. Always in [-tau, 0]: minimising it spreads the
    samples of one class apart until the ratio reaches tau, where it stops pulling.
    """
    dg = (g1 - g2).abs().flatten(1).mean(dim=1)
    dz = (z1 - z2).abs().flatten(1).mean(dim=1).clamp_min(1e-8)
    return -torch.clamp(dg / dz, max=tau).mean()
