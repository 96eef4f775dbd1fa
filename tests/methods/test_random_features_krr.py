"""Random-feature nets (batched == one net at a time, seeded, exportable path) and the KRR solver."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from edgedistill.methods.krr import cholesky_solve, krr_predict, krr_score, regression_targets  # noqa: E402
from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets  # noqa: E402

SHAPE = (40, 101)
CFG = RandomFeatureConfig(n_nets=3, width=4, depth=3, n_features=16)


def one_net_at_a_time(nets, x):
    """Φ computed net by net from slices of the same weights (the definition)."""
    z = (x - nets.mean) * nets.inv_std
    outs = []
    for i in range(CFG.n_nets):
        h = z.unsqueeze(1)
        for weight in nets.convs():
            h = F.avg_pool2d(F.relu(F.conv2d(h, weight[i * CFG.width:(i + 1) * CFG.width], padding=1)), 2)
        outs.append(h.flatten(1) @ nets.head[i])
    return torch.cat(outs, 1) / np.sqrt(CFG.n_nets * CFG.n_features)


def test_batched_nets_equal_one_net_at_a_time(rng):
    mean, std = rng.normal(size=40), rng.uniform(0.5, 2, size=40)
    x = torch.as_tensor(rng.normal(size=(5, *SHAPE)), dtype=torch.float32)
    nets = random_feature_nets(SHAPE, CFG, seed=3, mean=mean, std=std)
    with torch.no_grad():
        phi = nets(x)
        assert phi.shape == (5, CFG.n_nets * CFG.n_features)
        np.testing.assert_allclose(phi.numpy(), one_net_at_a_time(nets, x).numpy(), atol=1e-5)
        conv_path = random_feature_nets(SHAPE, CFG, seed=3, mean=mean, std=std, im2col=False)(x)
        np.testing.assert_allclose(conv_path.numpy(), phi.numpy(), atol=1e-5)
    with torch.enable_grad():  # autograd path gives the same numbers
        np.testing.assert_allclose(nets(x).detach().numpy(), phi.numpy(), atol=1e-6)


def test_compiled_nets_match_eager_values_and_gradients(rng):
    """torch.compile path (rows padded to a multiple of compile_rows) = eager, with and without autograd."""
    small = (8, 12)
    eager = random_feature_nets(small, CFG, seed=4)
    compiled = random_feature_nets(small, CFG, seed=4, compile_rows=4)
    z = torch.as_tensor(rng.normal(size=(3, *small)), dtype=torch.float32)  # 3 rows: padded to 4
    with torch.no_grad():
        np.testing.assert_allclose(compiled.from_normalized(z).numpy(), eager.from_normalized(z).numpy(), atol=1e-5)
    grads = []
    for nets in (eager, compiled):
        zg = z.clone().requires_grad_(True)
        (nets.from_normalized(zg) ** 2).sum().backward()
        grads.append(zg.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="compile_rows"):
        random_feature_nets(small, CFG, seed=4, compile_rows=0)


def test_failed_compile_falls_back_to_eager_with_a_warning(rng, monkeypatch):
    from edgedistill.methods import random_features

    def broken():
        def fail(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return fail

    monkeypatch.setattr(random_features, "_compiled_phi", broken)
    monkeypatch.setattr(random_features, "_COMPILE_FAILURE", [])
    small = (8, 12)
    z = torch.as_tensor(rng.normal(size=(3, *small)), dtype=torch.float32)
    with pytest.warns(RuntimeWarning, match="No working C\\+\\+ compiler"):
        phi = random_feature_nets(small, CFG, seed=4, compile_rows=4).from_normalized(z)
    np.testing.assert_array_equal(phi.numpy(), random_feature_nets(small, CFG, seed=4).from_normalized(z).numpy())


def test_nets_are_seeded():
    a, b, c = (random_feature_nets(SHAPE, CFG, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.head, b.head) and not torch.equal(a.head, c.head)


def test_krr_predict_matches_closed_form(rng):
    phi_c, phi_b = rng.normal(size=(6, 20)), rng.normal(size=(4, 20))
    y_c = rng.normal(size=(6, 3))
    reg = 1e-2
    k_cc = phi_c @ phi_c.T
    expected = phi_b @ phi_c.T @ np.linalg.solve(k_cc + reg * np.trace(k_cc) / 6 * np.eye(6), y_c)
    got = krr_predict(torch.tensor(phi_b), torch.tensor(phi_c), torch.tensor(y_c), reg)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_cholesky_jitter_handles_singular_kernel():
    phi = torch.ones(3, 4, dtype=torch.float64)  # rank one: K_CC singular without the ridge
    out = cholesky_solve(phi @ phi.T, torch.eye(3, dtype=torch.float64), reg=1e-12)
    assert torch.isfinite(out).all()


def test_regression_targets_are_centred():
    t = regression_targets(np.array([0, 2]), 4).numpy()
    np.testing.assert_allclose(t.sum(1), 0, atol=1e-12)
    assert t[0, 0] == pytest.approx(0.75) and t[1, 2] == pytest.approx(0.75)


def test_krr_score_separable_classes(rng):
    centres = rng.normal(0, 3, size=(3, *SHAPE))
    y_c, y_t = np.repeat(np.arange(3), 2), np.repeat(np.arange(3), 5)
    x_c = (centres[y_c] + rng.normal(size=(6, *SHAPE))).astype(np.float32)
    x_t = (centres[y_t] + rng.normal(size=(15, *SHAPE))).astype(np.float32)
    result = krr_score(x_c, regression_targets(y_c, 3).numpy(), x_t, y_t, CFG, np.zeros(40), np.ones(40), draws=2)
    assert result["accuracy"] == 1.0 and len(result["accuracies"]) == 2 and result["n"] == 15


@pytest.mark.slow  # torch.onnx dynamo export: ~10-50 s here
def test_coreset_nets_export_to_onnx(tmp_path, rng):
    """The device `krr` mode runs these nets as ONNX: exported Φ matches torch."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from edgedistill.features import get_preset
    from edgedistill.methods.coreset import Coreset
    from edgedistill.methods.krr import coreset_feature_nets

    config = get_preset("kws")
    coreset = Coreset(x=rng.normal(size=(4, *config.shape)).astype(np.float32), y=np.arange(4), labels=list("abcd"), config=config)
    nets = coreset_feature_nets(coreset, seed=0)
    x = torch.as_tensor(rng.normal(size=(3, *config.shape)), dtype=torch.float32)
    path = tmp_path / "rf.onnx"
    torch.onnx.export(nets, (x,), str(path), input_names=["features"], output_names=["phi"], dynamo=True,
                      external_data=False, dynamic_shapes={"x": {0: torch.export.Dim("batch")}})
    got = ort.InferenceSession(str(path)).run(None, {"features": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, nets(x).numpy(), atol=1e-5)


def test_time_pool_makes_the_kernel_shift_tolerant(rng):
    """Averaging over time: a clip and its time-shifted copy get nearly the same features."""
    x = rng.standard_normal((1, 40, 101)).astype(np.float32)
    shifted = np.roll(x, 16, axis=2)
    distances = {}
    for pool in (False, True):
        config = RandomFeatureConfig(n_nets=2, width=4, depth=3, n_features=64, time_pool=pool)
        nets = random_feature_nets((40, 101), config, seed=3)
        with torch.no_grad():
            a, b = nets(torch.as_tensor(x)), nets(torch.as_tensor(shifted))
        distances[pool] = float((a - b).norm() / a.norm())
    assert distances[True] < 0.25 * distances[False], distances
    with pytest.raises(ValueError, match="time_pool"):
        RandomFeatureConfig(time_pool=1)
