"""Generator artifact: exact save/load round trip, sampling budgets (balanced and prior), errors."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.artifacts import ArtifactError  # noqa: E402
from edgedistill.features import get_preset  # noqa: E402
from edgedistill.methods.gan.architectures import build  # noqa: E402
from edgedistill.methods.gan.artifact import (  # noqa: E402
    TrainedGenerator, class_budget, load_generator, sample, sample_featureset, save_generator)


@pytest.fixture
def generator():
    config = get_preset("kws")
    kwargs = {"n_classes": 3, "input_shape": config.shape, "z_dim": 8, "width": 8}
    module, _ = build("gan-att", **kwargs)
    module.norm.set_stats(torch.randn(10, *config.shape) + 2)
    return TrainedGenerator(module=module.eval(), arch="gan-att", builder_kwargs=kwargs, labels=["a", "b", "c"],
                            config=config, class_prior=np.array([0.6, 0.3, 0.1]), gan_config={"steps": 1})


def test_round_trip_exact(tmp_path, generator):
    path = save_generator(tmp_path / "gen", generator, seed=3)
    loaded = load_generator(path, features=get_preset("kws"))
    for key, value in generator.module.state_dict().items():
        assert torch.equal(value, loaded.module.state_dict()[key])
    x1, y1 = sample(generator, 4, seed=11)
    x2, y2 = sample(loaded, 4, seed=11)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert loaded.labels == ["a", "b", "c"] and loaded.z_dim == 8
    np.testing.assert_allclose(loaded.class_prior, [0.6, 0.3, 0.1])
    meta = json.loads((path / "meta.json").read_text())
    assert meta["schema"] == "edgedistill.generator" and meta["arch"] == "gan-att"
    assert meta["metrics"]["generator_bytes"] == generator.size_bytes()


def test_sampling_budgets(generator):
    x, y = sample(generator, 5, seed=0)
    assert x.shape == (15, *get_preset("kws").shape) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [5, 5, 5]
    _, y = sample(generator, 10, seed=0, balanced=False)
    assert np.bincount(y, minlength=3).tolist() == [18, 9, 3]  # 30 samples split 0.6 / 0.3 / 0.1
    assert class_budget(generator, 1, balanced=False).sum() == 3
    _, y = sample(generator, {"b": 2, 0: 1}, seed=0)
    assert np.bincount(y, minlength=3).tolist() == [1, 2, 0]
    assert not np.array_equal(sample(generator, 2, seed=0)[0], sample(generator, 2, seed=1)[0])
    with pytest.raises(ValueError, match="unknown class"):
        sample(generator, {"zebra": 1})


def test_sample_featureset_saves(tmp_path, generator):
    fs = sample_featureset(generator, 2, seed=0)
    assert len(fs) == 6 and (fs.split == "train").all()
    from edgedistill.data.featureset import FeatureSet

    assert len(FeatureSet.load(fs.save(tmp_path / "feat"))) == 6


def test_load_errors(tmp_path, generator):
    path = save_generator(tmp_path / "gen", generator)
    with pytest.raises(ArtifactError, match="features"):
        load_generator(path, features=get_preset("ser"))
    (path / "generator.safetensors").write_bytes(b"junk")
    with pytest.raises(ArtifactError, match="generator.safetensors"):
        load_generator(path)
    with pytest.raises(ArtifactError, match="already exists"):
        save_generator(path, generator)
