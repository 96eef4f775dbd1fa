"""bf16 autocast of RFAD's random nets: the loss stays within a stated tolerance of float32.

The tolerance logic is tested on the CPU with torch's CPU bf16 autocast (the same autocast the
`precision="bf16"` option runs on CUDA): at small shapes the RFAD loss with bf16 nets is within
BF16_LOSS_RTOL of the float32 loss, its coreset gradient points the same way, and the KRR solve
stays float64.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.methods.krr import krr_predict, regression_targets  # noqa: E402
from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets  # noqa: E402
from edgedistill.methods.rfad import RFADConfig, step_loss  # noqa: E402

BF16_LOSS_RTOL = 2e-2  # relative change of RFAD's loss allowed from bf16 nets (measured ~1e-3 here)
BF16_GRAD_COSINE = 0.99  # cosine between the bf16 and float32 coreset gradients


def loss_and_grad(precision: str, loss: str, rng_seed: int = 0):
    rng = np.random.default_rng(rng_seed)
    shape, n_classes = (16, 20), 4
    # width 48: the first block runs through the fused float32 kernel, the wide ones under autocast
    config = RFADConfig(n_nets=2, width=48, depth=2, n_features=64, time_pool=False, loss=loss, chunk=64,
                        precision=precision, ipc=3)
    nets = config.nets(shape, 5, np.zeros(shape[0]), np.ones(shape[0]), "cpu")
    xb = torch.as_tensor(rng.normal(size=(24, *shape)), dtype=torch.float32)
    yb = torch.as_tensor(rng.integers(0, n_classes, 24))
    z = torch.as_tensor(rng.normal(size=(n_classes * 3, *shape)), dtype=torch.float32).requires_grad_(True)
    targets = regression_targets(np.repeat(np.arange(n_classes), 3), n_classes)
    log_scale = torch.tensor(np.log(10.0), dtype=torch.float64)
    value = step_loss(nets, xb, yb, z, targets, log_scale, config)
    value.backward()
    return float(value.detach()), z.grad.flatten().double()


@pytest.mark.parametrize("loss", ["mse", "platt"])
def test_bf16_nets_keep_the_rfad_loss_within_tolerance(loss):
    reference, grad_ref = loss_and_grad("fp32", loss)
    value, grad = loss_and_grad("bf16", loss)
    assert value != reference  # autocast really ran: bf16 rounding moves the loss a little
    assert abs(value - reference) <= BF16_LOSS_RTOL * abs(reference)
    cosine = float(grad @ grad_ref / (grad.norm() * grad_ref.norm()))
    assert cosine >= BF16_GRAD_COSINE


def test_bf16_features_are_float32_and_krr_float64(rng):
    cfg = RandomFeatureConfig(n_nets=2, width=64, depth=2, n_features=16, time_pool=True)
    x = torch.as_tensor(rng.normal(size=(6, 8, 12)), dtype=torch.float32)
    nets = random_feature_nets((8, 12), cfg, seed=1, precision="bf16", fused=False)
    phi = nets(x)
    assert phi.dtype == torch.float32  # the head runs in float32 after the bf16 blocks
    reference = random_feature_nets((8, 12), cfg, seed=1, fused=False)(x)
    assert float((phi - reference).abs().max()) <= 5e-2 * float(reference.abs().max())
    pred = krr_predict(phi[:3], phi[3:], regression_targets(np.array([0, 1, 0]), 2), 1e-4)
    assert pred.dtype == torch.float64


def test_precision_auto_is_bf16_on_cuda_only_and_bad_values_are_refused():
    assert RFADConfig().nets_precision("cpu") == "fp32"
    assert RFADConfig().nets_precision("cuda") == "bf16"
    assert RFADConfig(precision="bf16").nets_precision("cpu") == "bf16"
    assert RFADConfig(precision="fp32").nets_precision("cuda") == "fp32"
    with pytest.raises(ValueError, match="RFAD precision 'fp16' unknown; choose one of auto, fp32, bf16"):
        RFADConfig(precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        random_feature_nets((8, 12), RandomFeatureConfig(), seed=1, precision="half")
