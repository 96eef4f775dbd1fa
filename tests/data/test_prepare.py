"""prepare(): feature caches from datasets, caching, atomicity, bad-file handling, workers."""

import os

import numpy as np
import pytest

from edgedistill.artifacts import ArtifactError
from edgedistill.data import prepare as prepare_module
from edgedistill.data.featureset import FeatureSet
from edgedistill.data.prepare import prepare
from edgedistill.features import extract, fit_length, get_preset
from edgedistill.data.audio import load_audio


def test_prepare_fixture_writes_a_loadable_cache(layout, tmp_path):
    root = layout("emodb")
    out = prepare("emodb", root, "ser", tmp_path / "feat", progress=False)
    fs = FeatureSet.load(out, features=get_preset("ser"))
    assert fs.x.shape == (42, 40, 251) and fs.dataset == "emodb" and fs.n_classes == 7
    assert set(fs.split) == {"train", "valid", "test"} and fs.meta.extra["speakers"] == ["03", "08", "09", "10", "11", "12"]
    assert np.allclose(fs.duration, 0.3, atol=1e-3)
    i = int(np.flatnonzero(fs.split == "test")[0])
    wave = load_audio(root / fs.path[i], 16000)
    expected = extract(fit_length(wave, 80000, pad="repeat"), get_preset("ser"))
    np.testing.assert_allclose(fs.x[i], expected, atol=1e-6)  # resampled 22.05 kHz -> 16 kHz, same front-end
    np.testing.assert_allclose(fs.x[i], extract(wave, get_preset("ser")), atol=1e-6)  # extract loops it the same way
    # the 0.3 s utterance is looped over the 5 s clip, so frames repeat with its period (15 frames of 20 ms)
    np.testing.assert_allclose(fs.x[i][:, 20:100], fs.x[i][:, 35:115], atol=0.05)


@pytest.mark.parametrize("dataset, n, rate", [("ravdess", 90, 48000), ("cremad", 120, 16000), ("tess", 70, 24414)])
def test_prepare_emotion_corpora(layout, tmp_path, dataset, n, rate):
    """Each emotion corpus decodes from its rate to 16 kHz into ser features, speaker-disjoint."""
    root = layout(dataset)
    fs = FeatureSet.load(prepare(dataset, root, "ser", tmp_path / "feat", progress=False))
    assert fs.x.shape == (n, 40, 251) and np.all(np.isfinite(fs.x)) and fs.dataset == dataset
    assert np.allclose(fs.duration, 0.3, atol=1e-3) and len(fs.meta.extra["skipped"]) == 0
    test, train = set(fs.speaker[fs.split == "test"]), set(fs.speaker[fs.split == "train"])
    assert test and train and not test & train


def test_rerun_is_a_no_op_and_changes_are_detected(layout, tmp_path):
    root = layout("folder")
    out = prepare("folder", root, "kws", tmp_path / "feat", progress=False)
    stamp = os.stat(out / "features.npy").st_mtime_ns
    assert prepare("folder", root, "kws", out, progress=False) == out
    assert os.stat(out / "features.npy").st_mtime_ns == stamp
    with pytest.raises(ArtifactError, match="made from other inputs"):
        prepare("folder", root, "kws", out, progress=False, seed=1)
    (root / "bark" / "clip0.wav").unlink()
    with pytest.raises(ArtifactError, match="--force"):
        prepare("folder", root, "kws", out, progress=False)
    prepare("folder", root, "kws", out, progress=False, force=True)
    assert len(FeatureSet.load(out)) == 19
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feat", "folder"]


def test_interrupted_run_leaves_no_cache(layout, tmp_path, monkeypatch):
    root = layout("folder")
    real = prepare_module._extract_chunk
    calls = []

    def failing(task):
        calls.append(task)
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "_extract_chunk", failing)
    with pytest.raises(KeyboardInterrupt):
        prepare("folder", root, "kws", tmp_path / "feat", progress=False)
    assert calls and not (tmp_path / "feat").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    monkeypatch.setattr(prepare_module, "_extract_chunk", real)
    assert len(FeatureSet.load(prepare("folder", root, "kws", tmp_path / "feat", progress=False))) == 20


def test_bad_files_raise_by_default_and_skip_on_request(layout, tmp_path, write_table):
    root = layout("folder")
    (root / "bark" / "clip2.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    (root / "meow" / "clip4.wav").write_bytes(b"")
    with pytest.raises(ValueError, match=r"clip2\.wav: cannot decode.*on-error skip"):
        prepare("folder", root, "kws", tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    out = prepare("folder", root, "kws", tmp_path / "b", on_error="skip", progress=False)
    fs = FeatureSet.load(out)
    skipped = {s["path"]: s["reason"] for s in fs.meta.extra["skipped"]}
    assert len(fs) == 18 and set(skipped) == {"bark/clip2.wav", "meow/clip4.wav"} and "empty file" in skipped["meow/clip4.wav"]
    with pytest.raises(ValueError, match="on_error="):
        prepare("folder", root, "kws", tmp_path / "c", on_error="ignore", progress=False)


def test_manifest_problems_raise_or_skip(tmp_path, write_tone, write_table):
    for k in range(4):
        write_tone(tmp_path / f"{k}.wav")
    rows = [["0.wav", "a", "train"], ["1.wav", "b", "test"], ["1.wav", "b", "test"], ["2.wav", "c", "train"], ["3.wav", "a", "valid"]]
    csv = write_table(tmp_path / "m.csv", ["path", "label", "split"], rows)
    with pytest.raises(ValueError, match=r"1\.wav: duplicate path.*1 more"):
        prepare("manifest", csv, "kws", tmp_path / "f1", classes="a,b", progress=False)
    fs = FeatureSet.load(prepare("manifest", csv, "kws", tmp_path / "f2", classes="a,b", on_error="skip", progress=False))
    assert len(fs) == 3 and len(fs.meta.extra["skipped"]) == 2


def test_train_clips_get_seeded_random_crops_and_eval_clips_are_centred(tmp_path, write_tone, write_table):
    for k in range(2):
        write_tone(tmp_path / f"{k}.wav", seconds=3.0, freq=300 + 200 * k)
    rows = [["0.wav", "a", "train"], ["1.wav", "a", "test"]]
    csv = write_table(tmp_path / "m.csv", ["path", "label", "split"], rows)
    config = get_preset("kws")
    a = FeatureSet.load(prepare("manifest", csv, config, tmp_path / "s0", seed=0, progress=False))
    b = FeatureSet.load(prepare("manifest", csv, config, tmp_path / "s0b", seed=0, progress=False))
    np.testing.assert_array_equal(a.x, b.x)
    wave = load_audio(tmp_path / "0.wav", 16000)
    offset = int(np.random.default_rng([0, 0]).integers(0, len(wave) - 16000 + 1))
    np.testing.assert_allclose(a.x[0], extract(fit_length(wave, 16000, offset), config), atol=1e-6)
    test_wave = load_audio(tmp_path / "1.wav", 16000)
    np.testing.assert_allclose(a.x[1], extract(fit_length(test_wave, 16000), config), atol=1e-6)


def test_workers_give_identical_features(layout, tmp_path, monkeypatch):
    root = layout("fsdd", speakers=("george", "jackson", "lucas"), per=3)
    monkeypatch.setattr(prepare_module, "CHUNK", 16)
    one = FeatureSet.load(prepare("fsdd", root, "kws", tmp_path / "w1", progress=False))
    two = FeatureSet.load(prepare("fsdd", root, "kws", tmp_path / "w2", workers=2, progress=False))
    np.testing.assert_array_equal(one.x, two.x)
    assert list(one.path) == list(two.path) and one.meta.extra["cache_key"] == two.meta.extra["cache_key"]


def test_fold_dataset_without_test_fold_keeps_folds(layout, tmp_path):
    fs = FeatureSet.load(prepare("us8k", layout("us8k"), "us8k", tmp_path / "f", progress=False))
    assert fs.meta.extra["protocol"] == "folds" and sorted(set(fs.fold.tolist())) == list(range(1, 11))
    assert fs.meta.extra["fold_counts"]["3"] == 3


def test_shared_emodb_and_speech_commands(shared_data, tmp_path):
    fs = FeatureSet.load(prepare("emodb", shared_data / "emodb", "ser", tmp_path / "emodb", progress=False))
    assert fs.x.shape == (535, 40, 251) and np.all(np.isfinite(fs.x))
    sc = shared_data / "speech_commands"
    fs = FeatureSet.load(prepare("gsc", sc / "v0.01_sample_vinsis", "kws", tmp_path / "gsc", silence=True,
                                 noise_dir=sc / "_background_noise_", progress=False))
    assert fs.n_classes == 11 and (fs.y == 10).sum() == 10 and "#" in fs.path[fs.y == 10][0]


@pytest.mark.slow
def test_shared_fsdd_prepare_and_linear_probe(shared_data, tmp_path, probe_accuracy):
    """The full FSDD sample: 3000 clips, and the features separate digits (ridge probe >= 0.7)."""
    fs = FeatureSet.load(prepare("fsdd", shared_data / "fsdd", "kws", tmp_path / "fsdd", progress=False))
    assert len(fs) == 3000
    assert probe_accuracy(fs) >= 0.7

