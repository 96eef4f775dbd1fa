"""Generator and critic shapes for both architectures, and the config's dict round trip."""

import pytest

torch = pytest.importorskip("torch")

from edgedistill.methods.gan.architectures import ARCHITECTURES, build  # noqa: E402
from edgedistill.methods.gan.config import GANConfig  # noqa: E402


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
@pytest.mark.parametrize("shape", [(40, 101), (13, 50)])
def test_shapes(arch, shape):
    generator, critic = build(arch, n_classes=3, input_shape=shape, z_dim=8, width=16)
    z, onehot = torch.randn(5, 8), torch.eye(3)[[0, 1, 2, 0, 1]]
    x = generator(z, onehot)
    assert x.shape == (5, *shape) and x.dtype == torch.float32
    score, logits, embedding = critic(x)
    assert score.shape == (5,) and logits.shape == (5, 3) and embedding.shape == (5, 16 * (shape[0] // 8))


def test_critic_keeps_frequency_and_refuses_tiny_inputs():
    _, critic = build("gan-cnn", n_classes=2, input_shape=(40, 32), z_dim=4, width=8)
    x = torch.zeros(2, 40, 32)
    x[1, :20] = 5.0  # same time profile, different bands: an all-pooled embedding could hardly tell them apart
    _, logits, embedding = critic(x)
    assert embedding.shape == (2, 8 * 5)
    assert not torch.allclose(embedding[0].reshape(8, 5), embedding[1].reshape(8, 5))
    with pytest.raises(ValueError, match="at least 8 feature bands"):
        build("gan-cnn", n_classes=2, input_shape=(6, 20), z_dim=4, width=8)


def test_generator_output_follows_band_stats():
    generator, _ = build("gan-cnn", n_classes=2, input_shape=(8, 20), z_dim=4, width=8)
    data = torch.randn(50, 8, 20) * 3 + torch.arange(8.0)[:, None] * 10
    generator.norm.set_stats(data)
    with torch.no_grad():
        generator.out.weight.zero_()
        generator.out.bias.zero_()
        x = generator(torch.randn(2, 4), torch.eye(2))
    assert torch.allclose(x[0, :, 0], data.mean(dim=(0, 2)), atol=1e-4)  # zero net output = band mean


def test_attention_generator_has_more_parameters_and_unknown_arch_fails():
    cnn, _ = build("gan-cnn", n_classes=2, input_shape=(16, 32), z_dim=4, width=16)
    att, _ = build("gan-att", n_classes=2, input_shape=(16, 32), z_dim=4, width=16)
    assert sum(p.numel() for p in att.parameters()) > sum(p.numel() for p in cnn.parameters())
    with pytest.raises(ValueError, match="gan-cnn"):
        build("gan-xyz", n_classes=2, input_shape=(16, 32))


def test_config_round_trip_and_checks():
    config = GANConfig(arch="gan-att", steps=7, betas=(0.1, 0.2))
    assert GANConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown key"):
        GANConfig.from_dict({**config.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="arch"):
        GANConfig(arch="dcgan")
    with pytest.raises(ValueError, match="pool"):
        GANConfig(lambda_sml=1.0, pool_models=0)


def test_generator_bytes_counts_the_built_generator():
    from edgedistill.methods.gan.architectures import generator_bytes

    for arch in ("gan-cnn", "gan-att"):
        generator, _ = build(arch, n_classes=7, input_shape=(40, 101), z_dim=64, width=24)
        assert generator_bytes(arch, 7, (40, 101), 64, 24) == sum(t.numel() * 4 for t in generator.state_dict().values())
    assert generator_bytes("gan-cnn", 7, (40, 101), 64, 64) == 4_959_056  # the former fixed default: 4.96 MB


def test_default_width_grows_with_the_data_it_replaces():
    from edgedistill.methods.gan.architectures import MAX_SHARE, default_width, generator_bytes

    clip = 40 * 101 * 4  # bytes of one float32 (40, 101) feature map
    widths = [default_width("gan-cnn", 7, (40, 101), 64, n * clip) for n in (50, 100, 200, 320, 640, 5000)]
    assert widths == [8, 8, 16, 32, 64, 64]  # EmoDB's 6 training speakers (~320 clips) get 32
    for n, width in zip((200, 320, 640), widths[2:5]):
        assert generator_bytes("gan-cnn", 7, (40, 101), 64, width) <= MAX_SHARE * n * clip
    assert default_width("gan-att", 7, (40, 101), 64, 640 * clip) == 48  # attention adds weights: one step narrower
