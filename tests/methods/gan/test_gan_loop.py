"""Short GAN distillation runs on the toy set: generated-only training beats chance; resume is exact."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.methods.gan.artifact import sample  # noqa: E402
from edgedistill.methods.gan.config import GANConfig  # noqa: E402
from edgedistill.methods.gan.loop import distill  # noqa: E402
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
    model = train_model("cnn4", x, y, train.labels, TrainConfig(epochs=15, batch_size=32, device="cpu", threads=1),
                        model_kwargs={"width": 8}, progress=False)
    scores = accuracy_and_uar(test.y, model.predict(test.x), train.n_classes)
    assert scores["uar"] >= 0.45, scores  # chance is 0.25 on four classes (real data gives 1.0)


def test_resume_continues_exactly(tmp_path, toy_featureset):
    train = small(toy_featureset).by_split("train")
    straight = distill(train, GANConfig(arch="gan-att", steps=4, **TINY), progress=False)
    first = GANConfig(arch="gan-att", steps=2, checkpoint_every=1, **TINY)
    distill(train, first, progress=False, checkpoint=tmp_path / "ckpt")
    resumed = distill(train, first.replace(steps=4), progress=False, checkpoint=tmp_path / "ckpt", resume=True)
    for key, value in straight.module.state_dict().items():
        torch.testing.assert_close(resumed.module.state_dict()[key], value, rtol=0, atol=1e-6)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]
    with pytest.raises(ValueError, match="differs in"):
        distill(train, first.replace(steps=4, lambda_div=0.5), progress=False, checkpoint=tmp_path / "ckpt", resume=True)
    with pytest.raises(ValueError, match="already holds"):
        distill(train, first, progress=False, checkpoint=tmp_path / "ckpt")
    with pytest.raises(ValueError, match="no training state"):
        distill(train, first, progress=False, checkpoint=tmp_path / "none", resume=True)


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
