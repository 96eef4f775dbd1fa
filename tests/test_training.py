"""train_model: learns the toy set, repeatable under a seed, soft labels, exact resume from a
checkpoint, refusals (empty class, bad targets, another model's checkpoint), save/load round trip."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.artifacts import ArtifactError  # noqa: E402
from edgedistill.evaluate import evaluate_model  # noqa: E402
from edgedistill.features import get_preset  # noqa: E402
from edgedistill.model_artifact import load_model, save_model  # noqa: E402
from edgedistill.training import TrainConfig, train_model  # noqa: E402

FAST = TrainConfig(min_steps=0, epochs=12, batch_size=16, threads=1, device="cpu")
SMALL = {"width": 8}


@pytest.fixture(scope="module")
def splits(toy_featureset):
    return {s: toy_featureset.by_split(s) for s in ("train", "valid", "test")}


@pytest.fixture(scope="module")
def trained(splits, toy_featureset):
    train, valid = splits["train"], splits["valid"]
    return train_model("cnn4", train.x, train.y, toy_featureset.labels, FAST, model_kwargs=SMALL,
                       valid=(valid.x, valid.y), progress=False)


def test_learns_the_toy_set(trained, splits):
    test = splits["test"]
    assert trained.history[-1]["loss"] < trained.history[0]["loss"]
    assert evaluate_model(trained, test.x, test.y)["accuracy"] >= 0.8
    assert not trained.module.training
    assert next(trained.module.parameters()).device.type == "cpu"


def test_same_seed_same_weights_other_seed_differs(splits, toy_featureset):
    train = splits["train"]
    config = dataclasses.replace(FAST, epochs=2)
    run = lambda cfg: train_model("cnn4", train.x, train.y, toy_featureset.labels, cfg, model_kwargs=SMALL, progress=False)  # noqa: E731
    a, b, c = run(config), run(config), run(dataclasses.replace(config, seed=1))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert not all(torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def _killed_after_epoch(epoch: int, monkeypatch, run) -> None:
    """run() is killed (KeyboardInterrupt) once the progress bar reports `epoch` completed."""
    import edgedistill.progress as progress_module

    def interrupt(self, completed, **fields):
        if completed == epoch:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(progress_module.progress, "update", interrupt)
        with pytest.raises(KeyboardInterrupt):
            run()


def test_resume_continues_exactly(tmp_path, monkeypatch, splits, toy_featureset):
    train, valid = splits["train"], splits["valid"]
    ckpt = tmp_path / "run.ckpt.safetensors"
    config = dataclasses.replace(FAST, epochs=4)
    args = ("cnn4", train.x, train.y, toy_featureset.labels, config)
    kwargs = dict(model_kwargs=SMALL, valid=(valid.x, valid.y), progress=False)
    straight = train_model(*args, **kwargs)

    _killed_after_epoch(2, monkeypatch, lambda: train_model(*args, **kwargs, checkpoint=ckpt))  # epoch 2's checkpoint is on disk
    resumed = train_model(*args, **kwargs, checkpoint=ckpt, resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.history == straight.history
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    with pytest.raises(ValueError, match="another model.*model"):
        train_model("dscnn-s", *args[1:], progress=False, checkpoint=ckpt, resume=True)


def test_sparse_validation_scores_and_checkpoints_only_its_epochs(tmp_path, monkeypatch, splits, toy_featureset):
    """validations=2 over 6 epochs: epochs 3 and 6 are scored and checkpointed; a run killed in
    epoch 5 resumes from epoch 3's checkpoint and ends exactly as an uninterrupted run."""
    train, valid = splits["train"], splits["valid"]
    config = dataclasses.replace(FAST, epochs=6, validations=2)
    assert [e for e in range(1, 7) if config.validated(e, 6)] == [3, 6]
    assert all(FAST.validated(e, 6) for e in range(1, 7))  # the default: every epoch
    args = ("cnn4", train.x, train.y, toy_featureset.labels, config)
    kwargs = dict(model_kwargs=SMALL, valid=(valid.x, valid.y), progress=False)
    straight = train_model(*args, **kwargs)
    assert [h["epoch"] for h in straight.history if "valid_accuracy" in h] == [3, 6]
    ckpt = tmp_path / "run.ckpt.safetensors"

    _killed_after_epoch(5, monkeypatch, lambda: train_model(*args, **kwargs, checkpoint=ckpt))
    from safetensors import safe_open

    with safe_open(str(ckpt), framework="pt") as handle:
        import json

        assert json.loads(handle.metadata()["run"])["epoch"] == 3
    resumed = train_model(*args, **kwargs, checkpoint=ckpt, resume=True)
    assert resumed.history == straight.history
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_soft_labels_train_with_mse(splits, toy_featureset):
    train, test = splits["train"], splits["test"]
    onehot = np.eye(train.n_classes, dtype=np.float32)[train.y]
    soft = 0.9 * onehot + 0.1 / train.n_classes
    trained = train_model("cnn4", train.x, soft, toy_featureset.labels, FAST, model_kwargs=SMALL, progress=False)
    assert evaluate_model(trained, test.x, test.y)["accuracy"] >= 0.7


def test_mc_dropout_passes_differ_and_plain_is_deterministic(trained, splits):
    x = splits["test"].x
    plain = trained.predict_proba(x)
    np.testing.assert_allclose(plain.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(plain, trained.predict_proba(x))
    mc = trained.predict_proba(x, mc_passes=3, seed=0)
    assert mc.shape == (3, *plain.shape)
    assert not np.allclose(mc[0], mc[1])
    np.testing.assert_array_equal(mc, trained.predict_proba(x, mc_passes=3, seed=0))
    assert not trained.module.training


def test_bad_inputs_are_refused(splits, toy_featureset):
    train = splits["train"]
    labels = toy_featureset.labels
    keep = train.y != 2
    with pytest.raises(ValueError, match="class2 have no training samples"):
        train_model("cnn4", train.x[keep], train.y[keep], labels, FAST, progress=False)
    with pytest.raises(ValueError, match="soft targets have 3 columns but there are 4"):
        train_model("cnn4", train.x, np.zeros((len(train.y), 3), np.float32), labels, FAST, progress=False)
    with pytest.raises(ValueError, match="3 targets"):
        train_model("cnn4", train.x, train.y[:3], labels, FAST, progress=False)
    with pytest.raises(ValueError, match="TrainConfig: unknown key.*epoch"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="epochs=0"):
        TrainConfig(epochs=0)


def test_save_load_round_trip(tmp_path, trained, splits, toy_featureset):
    config = toy_featureset.config
    out = save_model(tmp_path / "model", trained, config, seed=0, source_manifest_hash=toy_featureset.manifest_hash(),
                     metrics={"accuracy": 1.0}, extra={"training_data": {"source": "train split"}})
    loaded = load_model(out, features=config)
    assert loaded.model == "cnn4" and loaded.model_kwargs == SMALL and loaded.labels == toy_featureset.labels
    assert loaded.meta.extra["training_data"] == {"source": "train split"}
    assert loaded.train_config == trained.train_config
    np.testing.assert_array_equal(loaded.predict_proba(splits["test"].x), trained.predict_proba(splits["test"].x))
    other = get_preset("esc50")
    with pytest.raises(ArtifactError, match="made with features"):
        load_model(out, features=other)
    with pytest.raises(ArtifactError, match="already exists"):
        save_model(out, trained, config)


def test_spec_augment_masks_with_the_band_mean_and_shifts_within_bands():
    from edgedistill.training import spec_augment

    b, f, t = 8, 16, 40
    x = torch.arange(b * f * t, dtype=torch.float32).view(b, f, t)
    fill = torch.full((f, 1), -1.0)
    out = spec_augment(x, fill, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for i in range(b):
        for band in range(f):
            values = out[i, band]
            kept = values[values != -1]
            assert set(kept.tolist()) <= set(x[i, band].tolist())  # only this band's own frames
        masked_bands = int((out[i] == -1).all(dim=1).sum())
        masked_frames = int((out[i] == -1).all(dim=0).sum())
        assert masked_bands <= f // 8 and masked_frames <= t // 8 + 2 * (t // 10)
    assert (out == -1).any() and not torch.equal(out, x)


def test_cache_rows_are_read_on_demand_with_the_same_weights(tmp_path, splits, toy_featureset, monkeypatch):
    """Training on a feature cache's rows (`MappedRows`) reads batches from the file, never the whole
    cache, and gives the weights the same set in memory gives."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.mapped import MappedRows

    toy_featureset.save(tmp_path / "feats")
    config = dataclasses.replace(FAST, epochs=2)
    memory = FeatureSet.load(tmp_path / "feats", mmap=False).by_split("train")
    straight = train_model("cnn4", memory.x, memory.y, toy_featureset.labels, config, model_kwargs=SMALL, progress=False)

    def whole_read(self, dtype=None, copy=None):
        raise AssertionError("training read the whole feature cache")

    monkeypatch.setattr(MappedRows, "__array__", whole_read)
    rows = FeatureSet.load(tmp_path / "feats").by_split("train")
    assert isinstance(rows.x, MappedRows)
    on_demand = train_model("cnn4", rows.x, rows.y, toy_featureset.labels, config, model_kwargs=SMALL, progress=False)
    for key, value in straight.module.state_dict().items():
        torch.testing.assert_close(on_demand.module.state_dict()[key], value, rtol=0, atol=1e-6)
