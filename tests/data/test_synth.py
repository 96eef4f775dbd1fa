"""Offline keyword synthesis: layout, manifest, determinism, speaker-disjoint splits, noise."""

import csv
import hashlib
from collections import Counter

import numpy as np
import pytest

from edgedistill.data.audio import load_audio
from edgedistill.data.espeak import english_voices, synthesize_word
from edgedistill.data.featureset import FeatureSet
from edgedistill.data.prepare import prepare
from edgedistill.data.synth import make_speakers, synthesize


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synth") / "kw", "yes,no,stop", per_word=10, seed=7, progress=False)


def test_layout_manifest_and_speaker_disjoint_splits(small):
    rows = list(csv.DictReader(open(small / "manifest.csv")))
    assert len(rows) == 30 and Counter(r["label"] for r in rows) == {"yes": 10, "no": 10, "stop": 10}
    assert all((small / r["path"]).is_file() and r["path"].startswith(r["label"] + "/") for r in rows)
    by_split = {}
    for r in rows:
        by_split.setdefault(r["split"], set()).add(r["speaker"])
    assert set(by_split) == {"train", "valid", "test"}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["valid"])
    assert len({r["voice"] for r in rows}) == 10  # default: 10 speakers on distinct voices
    for r in rows[:5]:
        wave = load_audio(small / r["path"], 16000)
        assert len(wave) == 16000 and 0.05 < np.abs(wave).max() <= 1.0


def test_same_seed_same_bytes_other_seed_differs(small, tmp_path):
    again = synthesize(tmp_path / "again", "yes,no,stop", per_word=10, seed=7, progress=False)
    assert tree_digest(again) == tree_digest(small)
    other = synthesize(tmp_path / "other", "yes,no,stop", per_word=10, seed=8, progress=False)
    assert tree_digest(other) != tree_digest(small)


def test_prepared_as_synth_and_folder(small, tmp_path):
    fs = FeatureSet.load(prepare("synth", small, "kws", tmp_path / "f", progress=False))
    assert fs.dataset == "synth" and fs.labels == ["no", "stop", "yes"] and len(fs) == 30
    assert len(set(fs.speaker)) == 10
    assert len(FeatureSet.load(prepare("folder", small, "kws", tmp_path / "g", progress=False))) == 30


def test_noise_folder_and_snr(tmp_path, write_tone):
    write_tone(tmp_path / "noise" / "hum.wav", 50.0, seconds=3.0)
    out = synthesize(tmp_path / "n", "go", per_word=3, seed=0, noise_dir=tmp_path / "noise", snr_db=(0.0, 0.0),
                     progress=False)
    wave = load_audio(out / "go" / "spk000_0000.wav", 16000)
    spectrum = np.abs(np.fft.rfft(wave))
    assert spectrum[45:56].max() > 0.2 * spectrum.max()  # the 50 Hz hum is audible at 0 dB SNR


def test_refusals(small, tmp_path):
    with pytest.raises(ValueError, match="already exists"):
        synthesize(small, "yes", per_word=1, progress=False)
    with pytest.raises(ValueError, match="distinct"):
        synthesize(tmp_path / "x", "yes,yes", per_word=1, progress=False)
    with pytest.raises(ValueError, match="no noise recordings"):
        synthesize(tmp_path / "y", "yes", per_word=1, noise_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="no voice"):
        synthesize_word("yes", "en+nobody")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_voices_and_speakers_vary():
    voices = english_voices()
    assert len(voices) > 100 and not any("Robot" in v or "whisper" in v for v in voices)
    cast = make_speakers(voices, 20, seed=0)
    assert len({s.voice for s in cast}) == 20 and np.std([s.pitch for s in cast]) > 5
    a, b = synthesize_word("left", cast[0].voice), synthesize_word("left", cast[1].voice)
    assert a.dtype == np.int16 and len(a) > 2000 and not np.array_equal(a[: len(b)], b[: len(a)])


@pytest.mark.slow
def test_synthetic_keywords_are_learnable(tmp_path, probe_accuracy):
    """200 clips x 10 keywords; a ridge probe on pooled MFCCs beats chance (0.1) by far on unseen speakers."""
    out = synthesize(tmp_path / "kw", per_word=200, seed=0, progress=False)
    fs = FeatureSet.load(prepare("synth", out, "kws", tmp_path / "f", progress=False))
    assert len(fs) == 2000 and probe_accuracy(fs) >= 0.4
