"""Each GAN loss term against a direct computation on hand-built tensors."""

import math

import pytest

torch = pytest.importorskip("torch")

from edgedistill.methods.gan import losses  # noqa: E402

TOL = 1e-6


def test_gradient_penalty_zero_for_unit_norm_linear_critic():
    w = torch.randn(3, 5)
    w = w / w.norm()  # gradient of x -> <w, x> is w everywhere, with norm 1
    real, fake = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
    gp = losses.gradient_penalty(lambda v: (v * w).sum(dim=(1, 2)), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_matches_direct_formula_for_scaled_linear_critic():
    w = torch.full((2, 3), 0.5)  # ||w|| = sqrt(6)/2
    gp = losses.gradient_penalty(lambda v: 3.0 * (v * w).sum(dim=(1, 2)), torch.randn(5, 2, 3), torch.randn(5, 2, 3))
    assert gp.item() == pytest.approx((3.0 * math.sqrt(6) / 2 - 1) ** 2, rel=TOL)


def test_gradient_penalty_quadratic_critic_uses_interpolates():
    real, fake = torch.ones(2, 1, 1) * 2.0, torch.zeros(2, 1, 1)
    alpha = torch.tensor([0.5, 0.25])  # interpolates 1.0 and 0.5; d/dx x^2 = 2x -> norms 2 and 1
    gp = losses.gradient_penalty(lambda v: (v ** 2).sum(dim=(1, 2)), real, fake, alpha=alpha)
    assert gp.item() == pytest.approx(((2 - 1) ** 2 + (1 - 1) ** 2) / 2, abs=TOL)


def test_wasserstein_terms():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert losses.wasserstein_critic(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert losses.wasserstein_generator(fake).item() == pytest.approx(1.0)


def test_kl_zero_for_identical_logits_and_matches_direct_kl():
    logits = torch.randn(6, 4)
    assert losses.softmax_matching(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-7)
    other = torch.randn(6, 4)
    p, q = torch.softmax(logits, 1), torch.softmax(other, 1)
    direct = (p * (p.log() - q.log())).sum(1).mean()
    assert losses.softmax_matching(logits, other).item() == pytest.approx(direct.item(), rel=1e-5)
    assert losses.softmax_matching(logits, other).item() > 0
    p2, q2 = torch.softmax(logits / 2, 1), torch.softmax(other / 2, 1)
    assert losses.softmax_matching(logits, other, temperature=2.0).item() == pytest.approx(
        (p2 * (p2.log() - q2.log())).sum(1).mean().item(), rel=1e-5)


def test_kl_gradient_flows_only_to_generated_side():
    real, fake = torch.randn(3, 4, requires_grad=True), torch.randn(3, 4, requires_grad=True)
    losses.softmax_matching(real, fake).backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_diversity_sign_and_threshold():
    z1, z2 = torch.zeros(2, 4), torch.ones(2, 4)  # mean |dz| = 1
    g1 = torch.zeros(2, 3)
    g2 = torch.tensor([[0.5, 0.5, 0.5], [3.0, 3.0, 3.0]])  # ratios 0.5 and 3.0
    value = losses.diversity(g1, g2, z1, z2, tau=1.0)
    assert value.item() == pytest.approx(-(0.5 + 1.0) / 2)  # the second pair is capped at tau
    assert losses.diversity(g1, g2, z1, z2, tau=10.0).item() == pytest.approx(-(0.5 + 3.0) / 2)
    assert losses.diversity(g1, g1, z1, z2, tau=1.0).item() == pytest.approx(0.0)  # collapsed: no reward
    assert -1.0 <= value.item() <= 0.0


def test_diversity_gradient_stops_above_tau():
    z1, z2 = torch.zeros(1, 2), torch.ones(1, 2)
    g2 = torch.tensor([[5.0, 5.0]], requires_grad=True)
    losses.diversity(torch.zeros(1, 2), g2, z1, z2, tau=1.0).backward()
    assert g2.grad.abs().sum().item() == 0.0
    g2b = torch.tensor([[0.2, 0.2]], requires_grad=True)
    losses.diversity(torch.zeros(1, 2), g2b, z1, z2, tau=1.0).backward()
    assert (g2b.grad < 0).all()  # minimising pushes the pair apart


def test_feature_matching_and_aux_ce():
    real, fake = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    assert losses.feature_matching(real, fake).item() == pytest.approx(((2 - 1) ** 2 + (3 - 1) ** 2) / 2)
    logits = torch.tensor([[2.0, 0.0]])
    assert losses.auxiliary_ce(logits, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-6)


def test_flooded_reverses_the_gradient_below_the_level():
    above = torch.tensor(0.8, requires_grad=True)
    below = torch.tensor(0.2, requires_grad=True)
    out_above, out_below = losses.flooded(above, 0.5), losses.flooded(below, 0.5)
    assert out_above.item() == pytest.approx(0.8) and out_below.item() == pytest.approx(0.8)  # |l - b| + b
    (out_above + out_below).backward()
    assert above.grad.item() == 1.0 and below.grad.item() == -1.0
    share = torch.tensor(0.1, requires_grad=True)  # one rank's share below the level, the global batch above it
    losses.flooded(share, 0.5, global_value=torch.tensor(0.7)).backward()
    assert share.grad.item() == 1.0
    assert losses.flooded(below, 0.0) is below
