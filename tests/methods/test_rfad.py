"""RFAD distillation: config round-trip, clear errors, quality floor vs random real samples,
and a killed run that resumes to exactly the uninterrupted coreset."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.data.featureset import FeatureSet  # noqa: E402
from edgedistill.methods import DISTILLERS  # noqa: E402
from edgedistill.methods import rfad  # noqa: E402
from edgedistill.methods.coreset import Coreset, load_coreset, save_coreset  # noqa: E402
from edgedistill.methods.krr import score_coreset  # noqa: E402
from edgedistill.methods.rfad import RFADConfig, distill  # noqa: E402

# Small nets keep the default run fast; the method is the same at any size.
SMALL = dict(n_nets=2, width=4, n_features=32, batch_size=32, threads=1, device="cpu")


@pytest.fixture(scope="module")
def splits(toy_featureset):
    return toy_featureset.by_split("train"), toy_featureset.by_split("valid"), toy_featureset.by_split("test")


def test_config_round_trip_and_unknown_keys():
    config = RFADConfig(ipc=3, loss="platt", learn_labels=True)
    assert RFADConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="RFADConfig: unknown key"):
        RFADConfig.from_dict({**config.to_dict(), "lr_typo": 1})
    with pytest.raises(ValueError, match="loss"):
        RFADConfig(loss="hinge")
    with pytest.raises(ValueError, match="ipc"):
        RFADConfig(ipc=0)


def test_registry_entry_is_rfad():
    entry = DISTILLERS.get_entry("rfad")
    assert entry.name == "rfad" and entry.config_type is RFADConfig


def test_bad_input_is_a_clear_error(splits):
    train = splits[0]
    with pytest.raises(ValueError, match="exceeds the smallest class"):
        distill(train, RFADConfig(ipc=500, steps=1, **SMALL), progress=False)
    one_class = train.subset(train.y == 0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        distill(one_class, RFADConfig(ipc=1, steps=1, **SMALL), progress=False)
    x = np.array(train.x, dtype=np.float32)
    x[3, 0, 0] = np.nan
    broken = FeatureSet(x=x, y=train.y, labels=train.labels, config=train.config)
    with pytest.raises(ValueError, match="NaN"):
        distill(broken, RFADConfig(ipc=1, steps=1, **SMALL), progress=False)


def random_subset(train, ipc, seed):
    rng = np.random.default_rng(seed)
    index = np.concatenate([rng.choice(np.flatnonzero(train.y == c), ipc, replace=False) for c in range(train.n_classes)])
    return Coreset(x=np.asarray(train.x[index]), y=train.y[index], labels=train.labels, config=train.config)


def test_coreset_beats_random_real_samples(splits):
    """At 1 sample per class, KRR on the distilled coreset beats KRR on random real samples."""
    train, valid, test = splits
    config = RFADConfig(ipc=1, steps=30, lr=0.1, eval_every=10, init="real", time_pool=False,  # the paper's settings
                        **{**SMALL, "n_nets": 3, "width": 8, "n_features": 64})
    coreset = distill(train, config, progress=False, valid=valid)
    assert coreset.x.shape == (4, *train.config.shape) and coreset.x.dtype == np.float32
    assert list(coreset.y) == [0, 1, 2, 3]
    losses = [h["loss"] for h in coreset.meta.extra["history"] if "loss" in h]
    assert losses[-1] < losses[0]
    distilled = score_coreset(coreset, test, draws=3, device="cpu")["accuracy"]
    baseline = np.mean([score_coreset(random_subset(train, 1, s), test, draws=3, seed=s, device="cpu")["accuracy"]
                        for s in range(5)])
    assert distilled >= 0.85
    assert distilled > baseline + 0.05, (distilled, baseline)


def test_learned_labels_platt_round_trip(splits, tmp_path):
    train, valid, _ = splits
    config = RFADConfig(ipc=1, steps=3, loss="platt", learn_labels=True, init="noise", eval_every=2, **SMALL)
    coreset = distill(train, config, progress=False, valid=valid)
    assert coreset.y_soft is not None and coreset.y_soft.shape == (4, 4)
    meta = coreset.meta
    out = save_coreset(tmp_path / "cs", coreset, meta.method, config.seed, meta.source_manifest_hash, meta.metrics, meta.extra)
    loaded = load_coreset(out, features=train.config, labels=train.labels)
    np.testing.assert_array_equal(loaded.x, coreset.x)
    np.testing.assert_array_equal(loaded.y_soft, coreset.y_soft)
    assert RFADConfig.from_dict(loaded.meta.method["config"]) == config


def test_killed_run_resumes_to_the_same_coreset(splits, tmp_path, monkeypatch):
    train, valid, _ = splits
    config = RFADConfig(ipc=1, steps=6, eval_every=2, checkpoint_every=2, **SMALL)
    reference = distill(train, config, progress=False, valid=valid)

    ckpt = tmp_path / "run.ckpt.npz"
    real_step_loss, calls = rfad.step_loss, {"n": 0}

    def dies_at_step_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("killed")
        return real_step_loss(*args, **kwargs)

    monkeypatch.setattr(rfad, "step_loss", dies_at_step_five)
    with pytest.raises(KeyboardInterrupt):
        distill(train, config, progress=False, valid=valid, checkpoint=ckpt)
    monkeypatch.setattr(rfad, "step_loss", real_step_loss)
    assert ckpt.exists()
    resumed = distill(train, config, progress=False, valid=valid, checkpoint=ckpt)
    np.testing.assert_array_equal(resumed.x, reference.x)
    assert resumed.meta.extra["history"] == reference.meta.extra["history"]

    with pytest.raises(ValueError, match="was made with lr=0.01, not 0.5"):
        distill(train, RFADConfig.from_dict({**config.to_dict(), "lr": 0.5}), progress=False, checkpoint=ckpt)


def test_compiled_run_gives_the_same_coreset(splits):
    """`compile=True` (torch.compile'd nets) ends with the eager run's coreset, to float tolerance."""
    train, valid, _ = splits
    config = RFADConfig(ipc=1, steps=3, lr=0.1, eval_every=3, **SMALL)
    eager = distill(train, config, progress=False, valid=valid)
    compiled = distill(train, RFADConfig.from_dict({**config.to_dict(), "compile": True}), progress=False, valid=valid)
    np.testing.assert_allclose(compiled.x, eager.x, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="compile"):
        RFADConfig(compile="yes")


def test_starting_coreset_is_kept_when_never_beaten(splits):
    """Validation scores the starting coreset too: if no later step beats it, it is the result."""
    train, valid, _ = splits
    config = RFADConfig(ipc=1, steps=4, lr=1e-9, eval_every=2, **SMALL)
    coreset = distill(train, config, progress=False, valid=valid)
    assert coreset.meta.metrics["best_step"] == 0
    assert [h["step"] for h in coreset.meta.extra["history"] if "valid_accuracy" in h] == [0, 2, 4]
