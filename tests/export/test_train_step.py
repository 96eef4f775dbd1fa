"""The exported train-step graph matches torch autograd + torch.optim.Adam, step by step.

Reference: the same network written with F.conv1d and torch's autograd, trained by
torch.optim.Adam(weight_decay=...) on the same batches from the same weights. The exported graph
runs in onnxruntime via the device's `full.train_step`.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn import functional as F  # noqa: E402

from edgedistill.device.full import train_step  # noqa: E402
from edgedistill.device.runtime import load_session  # noqa: E402
from edgedistill.export.train_step import (  # noqa: E402
    PARAMS, TrainStep, TrainStepConfig, conv_weight, export_train_step, flatten, init_params, param_shapes, unflatten,
)

STEP_ATOL = 2e-5  # params after each step, fp32 graph vs torch eager (Adam normalises updates to ~lr)
LOSS_RTOL = 1e-5
CONFIG = TrainStepConfig(hidden1=6, hidden2=5, kernel=3)
N_FEATURES, N_FRAMES, N_CLASSES, BATCH = 7, 11, 3, 5


def reference_logits(p, z, kernel):
    h1 = torch.relu(F.conv1d(z, conv_weight(p["w1"], kernel), p["b1"], padding=kernel // 2))
    h2 = torch.relu(F.conv1d(h1, conv_weight(p["w2"], kernel), p["b2"], padding=kernel // 2))
    return h2.mean(-1) @ p["w3"].t() + p["b3"]


@pytest.fixture(scope="module")
def step_artifact(tmp_path_factory):
    from edgedistill.features import FeatureConfig

    # a feature config whose shape is (7, 11): 7 MFCC over 8 mels, 0.1 s at 16 kHz with 10 ms hops
    config = FeatureConfig(clip_seconds=0.1, n_mels=8, n_mfcc=7)
    assert config.shape == (N_FEATURES, N_FRAMES)
    return export_train_step(tmp_path_factory.mktemp("step") / "s", config.to_dict(), config.feature_id,
                             ["a", "b", "c"], CONFIG, seed=3)


def batches(n_steps, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n_steps):
        x = rng.standard_normal((BATCH, N_FEATURES, N_FRAMES)).astype(np.float32) * 2 + 0.5
        y = np.eye(N_CLASSES, dtype=np.float32)[rng.integers(0, N_CLASSES, BATCH)]
        yield x, y


def test_hand_written_backward_matches_autograd():
    shapes = param_shapes(N_FEATURES, N_CLASSES, CONFIG)
    flat = torch.from_numpy(flatten(init_params(shapes, 0))).double().requires_grad_(True)
    x, y = next(batches(1))
    x, y = torch.from_numpy(x).double(), torch.from_numpy(y).double()
    ones, zeros = torch.ones(N_FEATURES, dtype=torch.float64), torch.zeros(N_FEATURES, dtype=torch.float64)
    loss, new_params, m, _ = TrainStep(shapes, CONFIG)(x, y, zeros, ones, torch.tensor([1.0], dtype=torch.float64),
                                                       torch.tensor([1.0], dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
                                                       flat.detach(), torch.zeros_like(flat), torch.zeros_like(flat))
    ref_loss = F.cross_entropy(reference_logits(unflatten(flat, shapes), x, CONFIG.kernel), y.argmax(1))
    (grad,) = torch.autograd.grad(ref_loss, flat)
    assert float(loss) == pytest.approx(float(ref_loss.detach()), rel=1e-12)
    np.testing.assert_allclose(m.numpy() / (1 - CONFIG.beta1), grad.numpy(), rtol=1e-9, atol=1e-12)  # m_1 = (1-β1)·g


def test_onnx_train_steps_match_torch_adam(step_artifact):
    shapes = {k: tuple(v) for k, v in json.loads((step_artifact / "meta.json").read_text())["param_shapes"].items()}
    init = np.load(step_artifact / "init.npz")["params"]
    session = load_session(step_artifact / "train_step.onnx")
    mean = np.linspace(-0.5, 0.5, N_FEATURES).astype(np.float32)
    std = np.linspace(1.0, 2.0, N_FEATURES).astype(np.float32)
    lr, wd = 1e-2, 1e-3

    ref = {k: v.clone().requires_grad_(True) for k, v in unflatten(torch.from_numpy(init.copy()), shapes).items()}
    opt = torch.optim.Adam([ref[k] for k in PARAMS], lr=lr, weight_decay=wd)
    params, m, v = init.copy(), np.zeros_like(init), np.zeros_like(init)
    for step, (x, y) in enumerate(batches(5), start=1):
        loss, params, m, v = train_step(session, params, m, v, x, y, mean, std, lr, step, wd)
        opt.zero_grad()
        z = (torch.from_numpy(x) - torch.from_numpy(mean)[None, :, None]) / torch.from_numpy(std)[None, :, None]
        ref_loss = F.cross_entropy(reference_logits(ref, z, CONFIG.kernel), torch.from_numpy(y).argmax(1))
        ref_loss.backward()
        opt.step()
        assert loss == pytest.approx(float(ref_loss), rel=LOSS_RTOL)
        expected = torch.cat([ref[k].detach().reshape(-1) for k in PARAMS]).numpy()
        np.testing.assert_allclose(params, expected, atol=STEP_ATOL)


def test_forward_graph_matches_reference(step_artifact):
    shapes = {k: tuple(v) for k, v in json.loads((step_artifact / "meta.json").read_text())["param_shapes"].items()}
    init = np.load(step_artifact / "init.npz")["params"]
    session = load_session(step_artifact / "forward.onnx")
    x, _ = next(batches(1, seed=5))
    mean, std = np.zeros(N_FEATURES, np.float32), np.full(N_FEATURES, 2.0, np.float32)
    logits = session.run_named({"features": x, "mean": mean, "std": std, "params": init})["logits"]
    with torch.no_grad():
        expected = reference_logits(unflatten(torch.from_numpy(init), shapes), torch.from_numpy(x) / 2.0, CONFIG.kernel)
    np.testing.assert_allclose(logits, expected.numpy(), atol=1e-5)


def test_zero_gradient_parameters_stay_finite_in_the_graph(step_artifact):
    """Adam's eps survives export: a parameter with an all-zero gradient (m = v = 0) gets update 0, not 0/0 = NaN.

    Runs the graph directly (device/full.py's floor on v for older graphs is not applied here)."""
    session = load_session(step_artifact / "train_step.onnx")
    params = np.load(step_artifact / "init.npz")["params"].astype(np.float32).copy()
    w1 = CONFIG.kernel * N_FEATURES * CONFIG.hidden1
    params[: CONFIG.kernel * N_FEATURES] = 0.0  # conv1 channel 0: weights 0, bias 0 -> ReLU output 0 -> no gradient
    params[w1] = 0.0  # its bias (b1[0])
    x, y = next(batches(1))
    zeros = np.zeros_like(params)
    out = session.run_named({"x": x, "y": y, "mean": np.zeros(N_FEATURES, np.float32), "std": np.ones(N_FEATURES, np.float32),
                             "lr": np.array([1e-2], np.float32), "step": np.array([1.0], np.float32),
                             "weight_decay": np.array([0.0], np.float32), "params": params, "m": zeros, "v": zeros})
    assert np.all(np.isfinite(out["new_params"]))
    dead = np.r_[np.arange(CONFIG.kernel * N_FEATURES), w1]
    assert np.all(out["new_v"][dead] == 0)  # the channel really had no gradient
    np.testing.assert_array_equal(out["new_params"][dead], params[dead])  # and did not move
    assert np.any(out["new_params"] != params)  # the rest did
