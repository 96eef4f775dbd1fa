"""`device learn`: a new class is learned from a few clips while replay keeps the old classes (krr, head, full)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from edgedistill.cli.main import app
from edgedistill.device.trainset import save_samples
from tests.device.conftest import write_wav

MAX_OLD_DROP_POINTS = 2.0  # the goal for coreset replay
MIN_NEW_ACCURACY = 0.75
runner = CliRunner()


@pytest.fixture(scope="module")
def split_toy(tmp_path_factory, toy_featureset):
    """Old classes 0-2 as a replay samples file (10/class of train) and training data; class3 clips as WAV folders; eval = test split."""
    from tests.conftest import toy_waveforms

    root = tmp_path_factory.mktemp("learn")
    train = toy_featureset.by_split("train")
    old = train.y < 3
    pick = np.concatenate([np.flatnonzero(train.y == c)[:10] for c in range(3)])
    replay = save_samples(root / "replay.npz", train.x[pick], train.y[pick], train.labels[:3], train.config)
    old_train = save_samples(root / "old_train.npz", train.x[old], train.y[old], train.labels[:3], train.config)
    waves, y, speakers = toy_waveforms()
    new = root / "new" / "class3"
    new.mkdir(parents=True)
    for i in np.flatnonzero((y == 3) & ~np.isin(speakers, ["spk0", "spk1"]))[:5]:
        write_wav(new / f"{i}.wav", waves[i], 16000)
    return {"replay": replay, "old_train": old_train, "new": new.parent, "root": root}


def learn_json(args):
    result = runner.invoke(app, ["device", "learn", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_krr_learns_a_new_word_without_forgetting(tmp_path, split_toy, random_features_export, toy_features_dir):
    from edgedistill.device.train import train

    old, _ = train("krr", random_features_export, split_toy["old_train"], tmp_path / "old")
    before = (old / "meta.json").read_bytes()
    common = ["--eval", toy_features_dir, "--eval-split", "test"]
    replayed = learn_json([old, split_toy["new"], "--replay", split_toy["replay"], "--out", tmp_path / "new", *common])
    assert replayed["labels"] == ["class0", "class1", "class2", "class3"] and replayed["new_classes"] == ["class3"]
    assert replayed["old_class_drop_points"] <= MAX_OLD_DROP_POINTS
    assert replayed["new_class_accuracy"] >= MIN_NEW_ACCURACY
    method = json.loads((tmp_path / "new" / "meta.json").read_text())["method"]
    assert replayed["new_weight"] == 2.0 and method["reg"] == 0.1  # adding a class: the new clips weigh 2 classes, ridge 0.1
    alone = learn_json([old, split_toy["new"], "--out", tmp_path / "alone", *common])
    assert alone["old_class_accuracy_after"] < 0.5 and alone["n_replay"] == 0  # forgetting without replay
    assert (old / "meta.json").read_bytes() == before  # the old model stays as it was
    again = runner.invoke(app, ["device", "learn", str(old), str(split_toy["new"]), "--out", str(tmp_path / "new")])
    assert again.exit_code != 0 and "already exists" in str(again.exception)
    infer = runner.invoke(app, ["device", "infer", str(tmp_path / "new"), *map(str, sorted(split_toy["new"].rglob("*.wav"))[:1]), "--json"])
    assert json.loads(infer.stdout)["results"][0]["top"][0]["label"] == "class3"


def test_head_learns_with_replay_and_forgets_without(tmp_path, split_toy, backbone_export, toy_features_dir, toy_featureset):
    from edgedistill.device.train import train

    old, _ = train("head", backbone_export, split_toy["old_train"], tmp_path / "old", options={"epochs": 60})
    common = ["--eval", toy_features_dir, "--eval-split", "test", "--epochs", "40"]
    replayed = learn_json([old, split_toy["new"], "--replay", split_toy["replay"], "--out", tmp_path / "new", *common])
    assert replayed["old_class_drop_points"] <= MAX_OLD_DROP_POINTS
    assert replayed["new_class_accuracy"] >= MIN_NEW_ACCURACY
    from edgedistill.device.predictor import load_predictor

    x = toy_featureset.by_split("test").x
    np.testing.assert_allclose(load_predictor(tmp_path / "new").logits(x)[:, :3], load_predictor(old).logits(x), atol=1e-9)  # --freeze-old
    alone = learn_json([old, split_toy["new"], "--train-all", "--out", tmp_path / "alone", *common])
    assert alone["old_class_drop_points"] > 20  # new clips only, whole head trained: it drifts to the new class


def test_full_learns_through_a_wider_train_step(tmp_path, split_toy, toy_featureset, toy_features_dir):
    from edgedistill.device.train import train
    from edgedistill.export.train_step import TrainStepConfig, export_train_step

    config = toy_featureset.config
    small = TrainStepConfig(hidden1=8, hidden2=8)
    step3 = export_train_step(tmp_path / "s3", config.to_dict(), config.feature_id, toy_featureset.labels[:3], small, seed=0)
    step4 = export_train_step(tmp_path / "s4", config.to_dict(), config.feature_id, toy_featureset.labels, small, seed=0)
    old, _ = train("full", step3, split_toy["old_train"], tmp_path / "old", options={"epochs": 15})
    missing = runner.invoke(app, ["device", "learn", str(old), str(split_toy["new"]), "--out", str(tmp_path / "x")])
    assert missing.exit_code != 0 and "--step" in str(missing.exception)
    result = learn_json([old, split_toy["new"], "--replay", split_toy["replay"], "--step", step4, "--epochs", "10",
                         "--eval", toy_features_dir, "--eval-split", "test", "--out", tmp_path / "new"])
    assert result["new_class_accuracy"] >= MIN_NEW_ACCURACY
    assert result["old_class_drop_points"] <= 10  # a whole net moves more than a head; bounded


def test_learn_refuses_bad_input(tmp_path, split_toy, random_features_export, toy_coreset):
    from edgedistill.device.train import train

    old, _ = train("krr", random_features_export, split_toy["old_train"], tmp_path / "old")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["device", "learn", str(old), str(empty), "--out", str(tmp_path / "a")])
    assert result.exit_code != 0 and "sub-folder" in str(result.exception)
    wrong = runner.invoke(app, ["device", "learn", str(old), str(split_toy["new"]), "--replay", str(toy_coreset), "--out", str(tmp_path / "b")])
    assert wrong.exit_code != 0 and "class3" in str(wrong.exception)  # the 4-class coreset is not this 3-class model's
    epochs = runner.invoke(app, ["device", "learn", str(old), str(split_toy["new"]), "--epochs", "3", "--out", str(tmp_path / "c")])
    assert epochs.exit_code != 0 and "does not apply" in str(epochs.exception)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def distilled_replay(tmp_path_factory, toy_featureset):
    """An RFAD coreset (5 per class, small nets, 20 steps) of the old classes 0-2: the replay the device carries."""
    pytest.importorskip("torch")
    from edgedistill.methods.coreset import save_coreset
    from edgedistill.methods.rfad import RFADConfig, distill

    train = toy_featureset.by_split("train")
    old = replace(train.subset(train.y < 3), labels=train.labels[:3])
    config = RFADConfig(ipc=5, steps=20, init="real", n_nets=2, width=4, n_features=32, batch_size=32, threads=1, device="cpu", seed=0)
    coreset = distill(old, config, progress=False)
    return save_coreset(tmp_path_factory.mktemp("replay") / "coreset", coreset, config.to_dict(), 0, None)


@pytest.mark.parametrize("mode", ["krr", "head"])
def test_no_forgetting_with_distilled_coreset_replay(mode, tmp_path, split_toy, distilled_replay, random_features_export,
                                                     backbone_export, toy_features_dir):
    """The learn defaults (no options) add class3 from 5 clips while an RFAD coreset keeps classes 0-2 within the bound."""
    from edgedistill.device.train import train

    graph = random_features_export if mode == "krr" else backbone_export
    old, _ = train(mode, graph, split_toy["old_train"], tmp_path / "old", options={"epochs": 60} if mode == "head" else None)
    result = learn_json([old, split_toy["new"], "--replay", distilled_replay, "--eval", toy_features_dir, "--eval-split", "test",
                         "--out", tmp_path / "new"])
    assert result["n_replay"] == 15 and result["new_classes"] == ["class3"]
    assert result["old_class_drop_points"] <= MAX_OLD_DROP_POINTS
    assert result["new_class_accuracy"] >= MIN_NEW_ACCURACY


def test_krr_ridge_choice_keeps_replay_leave_one_out_accuracy():
    """choose_ridge takes the largest ridge whose replay LOO accuracy stays within the tolerance."""
    from edgedistill.device import krr
    from edgedistill.device.learn import RIDGE_LOO_TOLERANCE, RIDGE_MAX, choose_ridge

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32)) * 3
    y = np.repeat(np.arange(4), 12)
    separable = centres[y] + rng.normal(size=(48, 32)) * 0.1
    targets = krr.regression_targets(y, 4)
    reg, scores = choose_ridge(krr.KernelEig.of(separable), targets, y, 36, 1e-4)
    assert reg == pytest.approx(RIDGE_MAX) and list(scores) == ["0.0001", "0.001", "0.01", "0.1"]
    # rows of very different norms: a large ridge shrinks the small ones to the mean, their LOO fails
    scaled = separable * np.repeat([1e-3, 1e-3, 1.0, 1.0], 12)[:, None] + rng.normal(size=(48, 32)) * 1e-4
    reg, scores = choose_ridge(krr.KernelEig.of(scaled), targets, y, 36, 1e-4)
    floor = scores["0.0001"] - RIDGE_LOO_TOLERANCE
    assert reg < RIDGE_MAX and scores[f"{reg:g}"] >= floor
    assert all(score < floor for key, score in scores.items() if float(key) > reg)
