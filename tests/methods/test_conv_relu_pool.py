"""The fused conv -> ReLU -> avg-pool C kernel: same values and input gradients as torch ops."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from edgedistill.methods import conv_relu_pool as crp  # noqa: E402
from edgedistill.methods import random_features  # noqa: E402
from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets  # noqa: E402

needs_kernel = pytest.mark.skipif(not crp.available()[0], reason=f"fused kernel not built: {crp.available()[1]}")


def torch_blocks(x, weights, groups):
    """The definition: conv2d -> relu -> avg_pool2d (2 per side >= 2) per block, channels last."""
    h = x.permute(0, 3, 1, 2)
    for weight, g in zip(weights, groups):
        h = F.relu(F.conv2d(h, weight, padding=1, groups=g))
        h = F.avg_pool2d(h, (2 if h.shape[2] >= 2 else 1, 2 if h.shape[3] >= 2 else 1))
    return h.permute(0, 2, 3, 1)


def compare(rng, shape, channels, groups, threads=1):
    """Fused vs torch values and input gradients for blocks with `channels` outputs and `groups`."""
    x = torch.as_tensor(rng.normal(size=shape), dtype=torch.float32)
    weights, cin = [], shape[-1]
    for cout, g in zip(channels, groups):
        weights.append(torch.as_tensor(rng.normal(size=(cout, cin // g, 3, 3)), dtype=torch.float32))
        cin = cout
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        xf = x.clone().requires_grad_(True)
        out = crp.conv_relu_pool(xf, weights, groups)
        grad_out = torch.as_tensor(rng.normal(size=tuple(out.shape)), dtype=torch.float32)
        out.backward(grad_out)
    finally:
        torch.set_num_threads(previous)
    xt = x.clone().requires_grad_(True)
    ref = torch_blocks(xt, weights, groups)
    ref.backward(grad_out)
    assert out.shape == ref.shape
    scale = float(ref.detach().abs().max())
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-5 * scale)
    np.testing.assert_allclose(xf.grad.numpy(), xt.grad.numpy(), atol=1e-5 * float(xt.grad.abs().max()))
    with torch.no_grad():  # no-gradient forward (no ReLU mask stored): same values
        np.testing.assert_allclose(crp.conv_relu_pool(x, weights, groups).numpy(), ref.detach().numpy(), atol=1e-5 * scale)


@needs_kernel
@pytest.mark.parametrize("shape, channels, groups", [
    ((3, 40, 101, 1), (112,), (1,)),                   # the nets' first block: vector path, odd width
    ((2, 20, 50, 112), (112,), (7,)),                  # grouped block, 16 channels per group, odd pooled width
    ((2, 12, 9, 1), (32, 32, 32), (1, 2, 2)),          # three blocks chained through padded buffers
    ((2, 7, 5, 6), (8, 12), (2, 4)),                   # scalar path: channels per group not a multiple of 16
    ((2, 1, 9, 4), (32,), (1,)),                       # one row: pooling 1 x 2
])
def test_fused_blocks_match_torch(rng, shape, channels, groups):
    compare(rng, shape, channels, groups)


@needs_kernel
def test_fused_blocks_split_rows_across_threads(rng):
    compare(rng, (5, 8, 10, 1), (16, 16), (1, 1), threads=2)


@needs_kernel
def test_without_openmp_rows_go_to_a_thread_pool(rng, monkeypatch):
    """A library built without OpenMP: the rows are split over Python threads instead."""
    library = crp._library()

    class NoOpenMP:
        crp_forward, crp_backward = library.crp_forward, library.crp_backward

        @staticmethod
        def crp_openmp():
            return 0

    monkeypatch.setattr(crp, "_library", lambda: NoOpenMP)
    compare(rng, (5, 8, 10, 1), (16, 16), (1, 1), threads=2)


@needs_kernel
def test_bad_input_is_refused():
    x = torch.zeros(2, 8, 8, 4)
    with pytest.raises(ValueError, match="do not match"):
        crp.conv_relu_pool(x, [torch.zeros(8, 3, 3, 3)], [1])
    with pytest.raises(ValueError, match="group count"):
        crp.conv_relu_pool(x, [torch.zeros(8, 4, 3, 3)], [1, 1])
    with pytest.raises(ValueError, match="float32"):
        crp.conv_relu_pool(x.double(), [torch.zeros(8, 4, 3, 3)], [1])


@needs_kernel
@pytest.mark.parametrize("width, fused_count", [(16, 3), (64, 1)])
def test_nets_fused_equal_torch_ops_values_and_gradients(rng, width, fused_count):
    """Φ and dΦ/dz of the RFAD nets with and without the kernel: at width 16 every block runs
    through it (vector path), at width 64 only the first (the wide blocks go to torch's convs)."""
    cfg = RandomFeatureConfig(n_nets=3, width=width, depth=3, n_features=32, time_pool=True)
    assert random_features.fused_blocks(random_feature_nets((16, 24), cfg, seed=2).convs(), 3) == fused_count
    shape = (16, 24)
    z = torch.as_tensor(rng.normal(size=(5, *shape)), dtype=torch.float32)
    values, grads = [], []
    for fused in (True, False):
        nets = random_feature_nets(shape, cfg, seed=2, fused=fused)
        zg = z.clone().requires_grad_(True)
        phi = nets.from_normalized(zg)
        (phi ** 2).sum().backward()
        values.append(phi.detach().numpy())
        grads.append(zg.grad.numpy())
    np.testing.assert_allclose(values[0], values[1], atol=1e-5 * np.abs(values[1]).max())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5 * np.abs(grads[1]).max())
    assert random_feature_nets(shape, cfg, seed=2, im2col=False).fused is False  # export nets: torch ops only


def test_unbuildable_kernel_falls_back_to_torch_ops_with_one_warning(rng, monkeypatch):
    monkeypatch.setattr(crp, "available", lambda: (False, "RuntimeError: no C compiler found (set CC or install gcc)"))
    monkeypatch.setattr(random_features, "_FUSED_WARNED", [])
    cfg = RandomFeatureConfig(n_nets=2, width=4, depth=2, n_features=8)
    z = torch.as_tensor(rng.normal(size=(3, 8, 12)), dtype=torch.float32)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        phi = random_feature_nets((8, 12), cfg, seed=1).from_normalized(z)
    reference = random_feature_nets((8, 12), cfg, seed=1, fused=False).from_normalized(z)
    np.testing.assert_array_equal(phi.detach().numpy(), reference.detach().numpy())


def test_environment_switch_disables_the_kernel(monkeypatch):
    monkeypatch.setenv("EDGEDISTILL_FUSED_KERNEL", "0")
    crp._library.cache_clear()
    try:
        assert crp.available() == (False, "disabled by EDGEDISTILL_FUSED_KERNEL=0")
        with pytest.raises(RuntimeError, match="unavailable"):
            crp.conv_relu_pool(torch.zeros(1, 4, 4, 1), [torch.zeros(16, 1, 3, 3)], [1])
    finally:
        monkeypatch.delenv("EDGEDISTILL_FUSED_KERNEL")
        crp._library.cache_clear()


def test_a_compiler_that_fails_leaves_the_kernel_unavailable_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "false")  # a "compiler" that always fails
    monkeypatch.setenv("EDGEDISTILL_KERNEL_CACHE", str(tmp_path))
    crp._library.cache_clear()
    try:
        ok, why = crp.available()
        assert not ok and "false failed" in why
        assert list(tmp_path.iterdir()) == []  # no half-written library left behind
    finally:
        monkeypatch.undo()
        crp._library.cache_clear()


@needs_kernel
def test_an_unwritable_cache_builds_for_this_process_only(monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("EDGEDISTILL_KERNEL_CACHE", str(blocker / "kernels"))
    crp._library.cache_clear()
    try:
        assert crp.available() == (True, "")
    finally:
        monkeypatch.undo()
        crp._library.cache_clear()
