"""Short GAN distillation runs on the toy set: generated-only training beats chance; resume is exact."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.methods.gan.artifact import sample  # noqa: E402
from edgedistill.methods.gan.config import GANConfig  # noqa: E402
from edgedistill.methods.gan.loop import GeneratorSizeWarning, distill  # noqa: E402
from edgedistill.methods.gan.pool import accuracy_and_uar  # noqa: E402
from edgedistill.training import TrainConfig, train_model  # noqa: E402

def small(featureset):
    """The toy set at 13 MFCCs and a 40 ms hop: exactly coefficients 0-12 and every 4th frame of the kws features."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import FeatureConfig

    config = FeatureConfig(n_mfcc=13, hop_ms=40.0)
    x = np.ascontiguousarray(featureset.x[:, :13, ::4])
    return FeatureSet(x=x, y=featureset.y, labels=featureset.labels, config=config, split=featureset.split,
                      speaker=featureset.speaker, path=featureset.path, dataset="toy13")


TINY = dict(z_dim=8, width=8, batch_size=16, n_critic=1, pool_models=1, pool_epochs=2, pool_every=1, device="cpu", threads=1)


def test_generated_samples_train_a_classifier_above_chance(toy_featureset):
    data = small(toy_featureset)
    train, test = data.by_split("train"), data.by_split("test")
    config = GANConfig(arch="gan-cnn", z_dim=16, width=16, steps=300, n_critic=2, batch_size=32, lr_g=1e-3, lr_d=1e-3,
                       pool_models=1, pool_epochs=6, pool_every=2, device="cpu", threads=1, seed=0)
    gen = distill(train, config, progress=False, valid=data.by_split("valid"))
    assert len(gen.history) > 0 and np.isfinite([h["loss_g"] for h in gen.history]).all()
    assert 0.0 <= gen.metrics["aux_valid_uar"] <= 1.0
    x, y = sample(gen, 30, seed=1)
    model = train_model("cnn4", x, y, train.labels, TrainConfig(min_steps=0, epochs=15, batch_size=32, device="cpu", threads=1),
                        model_kwargs={"width": 8}, progress=False)
    scores = accuracy_and_uar(test.y, model.predict(test.x), train.n_classes)
    assert scores["uar"] >= 0.45, scores  # chance is 0.25 on four classes (real data gives 1.0)


def band_toy(n_classes: int = 4, per_class: int = 40, seed: int = 0):
    """Features whose class lives only in the spectral pattern: class c is a ripple over time in bands 8c..8c+7.

    Every clip and band is then standardised over time (as per-clip CMVN), so the bands' means
    and spreads say nothing; a critic that pools over frequency before its heads cannot tell
    the classes apart. 32 bands x 26 frames; every 4th clip is "valid", the rest "train".
    """
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import FeatureConfig

    rng = np.random.default_rng(seed)
    config = FeatureConfig(n_mfcc=32, hop_ms=40.0)
    n_bands, n_frames = config.shape
    y = np.repeat(np.arange(n_classes), per_class)
    x = rng.normal(size=(len(y), n_bands, n_frames))
    ripple = 3 * np.sin(2 * np.pi * np.arange(n_frames) / 6 + rng.uniform(0, 2 * np.pi, (len(y), 1)))
    for i, c in enumerate(y):
        x[i, 8 * c:8 * c + 8] += ripple[i]
    x = ((x - x.mean(2, keepdims=True)) / x.std(2, keepdims=True)).astype(np.float32)
    split = np.where(np.arange(len(y)) % 4 == 3, "valid", "train").astype(object)
    return FeatureSet(x=x, y=y, labels=[f"c{c}" for c in range(n_classes)], config=config, split=split,
                      path=np.array([f"toy/{i}" for i in range(len(y))], dtype=object), dataset="bandtoy")


def test_critic_class_head_learns_inside_the_gan():
    """Issue 7: inside the GAN the critic's aux head stayed at chance (CE ln C), so its aux term taught the generator nothing.

    The critic before the fix (one body shared with the Wasserstein head, pooled over time and
    frequency) ends this run at aux CE 1.44 = ln 4 and valid UAR 0.25; the fixed one at 0.00 and 1.0.
    """
    data = band_toy()
    config = GANConfig(arch="gan-cnn", z_dim=16, width=16, steps=100, n_critic=2, batch_size=32, lr_g=1e-3, lr_d=1e-3,
                       lambda_sml=0.0, lambda_div=0.0, device="cpu", threads=1, seed=0)
    gen = distill(data.by_split("train"), config, progress=False, valid=data.by_split("valid"))
    assert gen.metrics["aux_valid_uar"] >= 0.75, gen.metrics  # chance 0.25 on four classes
    assert np.mean([h["ac_real"] for h in gen.history[-5:]]) < 0.25 * np.log(4)  # the aux CE on real left ln 4


def test_ac_flood_keeps_the_critic_class_branch_from_memorising():
    """The band toy's critic aux CE on real falls below 0.1 within 100 steps; flooded at 0.5 it stays near 0.5."""
    data = band_toy()
    config = GANConfig(arch="gan-cnn", z_dim=16, width=16, steps=100, n_critic=2, batch_size=32, lr_g=1e-3, lr_d=1e-3,
                       lambda_sml=0.0, lambda_div=0.0, device="cpu", threads=1, seed=0)
    plain = distill(data.by_split("train"), config, progress=False)
    flooded = distill(data.by_split("train"), config.replace(ac_flood=0.5), progress=False)
    end = {name: np.mean([h["ac_real"] for h in gen.history[-10:]]) for name, gen in (("plain", plain), ("flooded", flooded))}
    assert end["plain"] < 0.1 and 0.3 < end["flooded"] < 0.8, end


def test_resume_continues_exactly(tmp_path, toy_featureset):
    train = small(toy_featureset).by_split("train")
    straight = distill(train, GANConfig(arch="gan-att", steps=4, **TINY), progress=False)
    first = GANConfig(arch="gan-att", steps=2, checkpoint_every=1, **TINY)
    distill(train, first, progress=False, checkpoint=tmp_path / "ckpt")
    resumed = distill(train, first.replace(steps=4), progress=False, checkpoint=tmp_path / "ckpt", resume=True)
    for key, value in straight.module.state_dict().items():
        torch.testing.assert_close(resumed.module.state_dict()[key], value, rtol=0, atol=1e-6)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]
    with pytest.raises(ValueError, match="was made with lambda_div=1.0, not 0.5"):
        distill(train, first.replace(steps=4, lambda_div=0.5), progress=False, checkpoint=tmp_path / "ckpt", resume=True)
    with pytest.raises(ValueError, match="already holds"):
        distill(train, first, progress=False, checkpoint=tmp_path / "ckpt")
    with pytest.raises(ValueError, match="no training state"):
        distill(train, first, progress=False, checkpoint=tmp_path / "none", resume=True)
    state = torch.load(tmp_path / "ckpt" / "state.pt", weights_only=True)
    del state["config"]["lambda_ac_fake"]  # as written before the two-branch critic
    torch.save(state, tmp_path / "ckpt" / "state.pt")
    with pytest.raises(ValueError, match="predates the two-branch critic"):
        distill(train, first.replace(steps=6), progress=False, checkpoint=tmp_path / "ckpt", resume=True)


def test_ablation_switches_drop_terms(toy_featureset):
    train = small(toy_featureset).by_split("train")
    gen = distill(train, GANConfig(steps=2, lambda_sml=0.0, lambda_div=0.0, **TINY), progress=False)
    assert "sml" not in gen.history[-1] and "div" not in gen.history[-1]
    assert "pool_uar_on_generated" not in gen.metrics


def test_empty_class_is_refused(toy_featureset):
    train = small(toy_featureset).by_split("train")
    two = train.subset(np.flatnonzero(train.y < 2))
    with pytest.raises(ValueError, match="class2, class3 have no training clips"):
        distill(two, GANConfig(steps=1, **TINY), progress=False)


def test_default_width_is_sized_to_the_data_and_a_large_generator_warns(toy_featureset, recwarn):
    """The toy train split (64 clips of (13, 26): 86.5 kB) gets width 16 (generator 34 kB; width 24
    would take 59 kB, over half the features); width 64 (260 kB) is not smaller than the
    features, so distillation warns."""
    train = small(toy_featureset).by_split("train")
    tiny = {k: v for k, v in TINY.items() if k != "width"}
    gen = distill(train, GANConfig(steps=1, lambda_sml=0.0, **tiny), progress=False)
    assert gen.builder_kwargs["width"] == 16 and gen.gan_config["width"] == 16 and gen.size_bytes() == 34_296
    assert gen.size_bytes() <= 0.5 * train.x.nbytes
    assert not [w for w in recwarn if issubclass(w.category, GeneratorSizeWarning)]
    with pytest.warns(GeneratorSizeWarning, match=r"generator \(\d\.\d\d MB at width 64\) is not smaller than the 64 training"):
        big = distill(train, GANConfig(steps=1, lambda_sml=0.0, **{**tiny, "width": 64}), progress=False)
    assert big.size_bytes() >= train.x.nbytes


def test_rows_are_read_on_demand_with_the_same_result(tmp_path, toy_featureset, monkeypatch):
    """A feature cache opened by rows (`MappedRows`) trains the same generator (and L_SML pool) as the
    set in memory, without ever reading the whole cache."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.mapped import MappedRows

    small(toy_featureset).save(tmp_path / "feats")
    config = GANConfig(steps=3, **TINY)
    in_memory = distill(FeatureSet.load(tmp_path / "feats", mmap=False).by_split("train"), config, progress=False)

    def whole_read(self, dtype=None, copy=None):
        raise AssertionError("the GAN loop read the whole feature cache")

    monkeypatch.setattr(MappedRows, "__array__", whole_read)
    train = FeatureSet.load(tmp_path / "feats").by_split("train")
    assert isinstance(train.x, MappedRows)
    on_demand = distill(train, config, progress=False)
    for key, value in in_memory.module.state_dict().items():
        torch.testing.assert_close(on_demand.module.state_dict()[key], value, rtol=0, atol=1e-6)
