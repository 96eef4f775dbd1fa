"""HuBERT frame features from a local folder (tiny random HuBERT), cached, and a generator trained on them."""

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from edgedistill.methods.gan.artifact import load_generator, sample, save_generator  # noqa: E402
from edgedistill.methods.gan.config import GANConfig  # noqa: E402
from edgedistill.methods.gan.loop import distill  # noqa: E402
from edgedistill.methods.gan.ssl import SSLConfig, hubert_features, load_hubert, ssl_featureset  # noqa: E402


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory):
    config = transformers.HubertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                       conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hubert") / "tiny"
    transformers.HubertModel(config).save_pretrained(path)
    return path


def test_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="HuBERT weights not found"):
        load_hubert(tmp_path / "nope")


def test_features_shape_and_layer_choice(tiny_hubert, rng):
    model = load_hubert(tiny_hubert)
    waves = [rng.normal(size=16000).astype(np.float32), rng.normal(size=9000).astype(np.float32)]
    x = hubert_features(waves, model, layer=2, clip_seconds=1.0, device="cpu")
    assert x.shape == (2, 16, 49) and x.dtype == np.float32  # 20 ms frames over 1 s
    x0 = hubert_features(waves, model, layer=0, clip_seconds=1.0, device="cpu")
    assert not np.allclose(x, x0)
    with pytest.raises(ValueError, match="layers 0..2"):
        hubert_features(waves, model, layer=5)


def test_cached_ssl_featureset_trains_a_generator(tiny_hubert, toy_featureset, tmp_path, rng):
    data = dataclasses.replace(toy_featureset.subset(np.flatnonzero(toy_featureset.y < 2)[::4]), labels=toy_featureset.labels[:2])
    waves = [rng.normal(size=16000).astype(np.float32) * (1 + c) for c in data.y]
    ssl = ssl_featureset(data, waves, tiny_hubert, layer=1, cache_dir=tmp_path / "cache", device="cpu")
    assert isinstance(ssl.config, SSLConfig) and ssl.x.shape == (len(data), 16, 49)
    assert len(list((tmp_path / "cache").glob("hubert-*.npz"))) == 1
    again = ssl_featureset(data, waves, tiny_hubert, layer=1, cache_dir=tmp_path / "cache", device="cpu")
    np.testing.assert_array_equal(again.x, ssl.x)
    gen = distill(ssl, GANConfig(steps=2, z_dim=4, width=8, batch_size=4, n_critic=1, pool_models=1, pool_epochs=1,
                                 pool_every=1, device="cpu"), progress=False)
    loaded = load_generator(save_generator(tmp_path / "gen", gen), features=ssl.config)
    x, _ = sample(loaded, 3, seed=0)
    assert x.shape == (3 * ssl.n_classes, 16, 49) and loaded.config == ssl.config


def test_saved_ssl_featureset_reopens(tiny_hubert, toy_featureset, tmp_path, rng):
    from edgedistill.artifacts import ArtifactError
    from edgedistill.data.featureset import FEATURE_KINDS, FeatureSet

    assert dict(FEATURE_KINDS) == {"hubert": SSLConfig}  # every listed kind is tested here

    data = toy_featureset.subset(np.arange(0, len(toy_featureset), 8))
    waves = [rng.normal(size=16000).astype(np.float32) for _ in range(len(data))]
    ssl = ssl_featureset(data, waves, tiny_hubert, layer=2, device="cpu")
    out = ssl.save(tmp_path / "feat")
    loaded = FeatureSet.load(out, features=ssl.config)
    assert loaded.config == ssl.config and isinstance(loaded.config, SSLConfig)
    assert loaded.config.layer == 2 and loaded.config.weights_id == ssl.config.weights_id and loaded.x.shape == ssl.x.shape
    np.testing.assert_array_equal(loaded.x, ssl.x)
    np.testing.assert_array_equal(loaded.y, ssl.y)
    assert loaded.feature_id == ssl.feature_id and list(loaded.speaker) == list(ssl.speaker)
    with pytest.raises(ArtifactError, match="made with features"):  # an MFCC config is not these features
        FeatureSet.load(out, features=toy_featureset.config)

    meta = json.loads((out / "meta.json").read_text())
    del meta["feature_config"]["layer"]
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"meta.json: feature_config cannot be read \(SSLConfig: missing field\(s\) layer"):
        FeatureSet.load(out)
