"""Every registered model: (B, F, T) -> (B, C) logits, BandNorm first, dropout before the
classifier, parameters/MACs reported, a few training steps lower the loss, unknown options refused."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.models import MODELS, build_model, describe_model, set_input_stats  # noqa: E402
from edgedistill.models.layers import BandNorm  # noqa: E402

SHAPE = (40, 101)
SMALL = {"resnet18": {"width": 8}}  # full width is for benchmarks; tests stay fast


@pytest.mark.parametrize("name", MODELS.names())
def test_shapes_norm_dropout_and_size(name):
    torch.manual_seed(0)
    model = build_model(name, 5, SHAPE, **SMALL.get(name, {}))
    assert isinstance(next(model.children()), BandNorm)
    layers = list(model.modules())
    dropout_at = max(i for i, m in enumerate(layers) if isinstance(m, torch.nn.Dropout))
    linear_at = max(i for i, m in enumerate(layers) if isinstance(m, torch.nn.Linear))
    assert dropout_at < linear_at
    model.eval()
    assert model(torch.randn(3, *SHAPE)).shape == (3, 5)
    size = describe_model(model, SHAPE)
    assert size["params"] == sum(p.numel() for p in model.parameters()) > 0
    assert size["macs"] > size["params"] / 10


@pytest.mark.parametrize("name", MODELS.names())
def test_a_few_steps_lower_the_loss(name, toy_featureset):
    torch.manual_seed(0)
    train = toy_featureset.by_split("train")
    model = build_model(name, train.n_classes, SHAPE, **SMALL.get(name, {}))
    set_input_stats(model, train.x)
    pick = np.concatenate([np.flatnonzero(train.y == c)[:3] for c in range(train.n_classes)])  # 12 clips keep dscnn-l fast
    x, y = torch.as_tensor(np.asarray(train.x[pick])), torch.as_tensor(train.y[pick])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_input_stats_normalise_each_band(rng):
    x = (rng.normal(size=(50, 40, 20)) * np.arange(1, 41)[None, :, None] + 7).astype(np.float32)
    model = build_model("cnn4", 3, (40, 20), width=4)
    set_input_stats(model, x)
    z = model.norm(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-3)


def test_dscnn_sizes_grow_and_small_fits_a_microcontroller():
    params = {name: describe_model(build_model(name, 12, (10, 49)), (10, 49))["params"] for name in ("dscnn-s", "dscnn-m", "dscnn-l")}
    assert params["dscnn-s"] < 50e3 < params["dscnn-m"] < params["dscnn-l"] < 600e3


def test_full_resnet18_has_resnet18_size():
    params = describe_model(build_model("resnet18", 10, SHAPE), SHAPE)["params"]
    assert 11.0e6 < params < 11.4e6


def test_bad_names_and_options_are_clear():
    with pytest.raises(ValueError, match="unknown model 'cnn5'.*cnn4"):
        build_model("cnn5", 3, SHAPE)
    with pytest.raises(ValueError, match="no option.*depth.*width"):
        build_model("cnn4", 3, SHAPE, depth=3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model("cnn4", 1, SHAPE)
