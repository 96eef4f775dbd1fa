"""The numpy front-end against librosa, edge cases, and config identity."""

from dataclasses import replace

import numpy as np
import pytest

from edgedistill.device.features import PRESETS, FeatureConfig, extract, extract_batch, fit_length, get_preset, mel_filterbank

librosa = pytest.importorskip("librosa")

# float32 output of a float64 pipeline: dB values up to ~100 agree to a few 1e-6.
FEATURE_ATOL = 1e-4
FILTERBANK_ATOL = 1e-8


def librosa_reference(y: np.ndarray, config: FeatureConfig) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
        win_length=config.win_length, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax,
        center=True, pad_mode="reflect", power=2.0,
    )
    db = librosa.power_to_db(mel, ref=1.0, amin=config.log_floor, top_db=config.top_db)
    return librosa.feature.mfcc(S=db, n_mfcc=config.n_mfcc) if config.kind == "mfcc" else db


@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
@pytest.mark.parametrize("preset", ["kws", "esc50", "ser"])
def test_matches_librosa(preset, kind, rng):
    config = replace(get_preset(preset), kind=kind, normalize="none")
    y = (rng.standard_normal(config.clip_samples) * 0.1).astype(np.float32)
    y[: config.clip_samples // 3] *= 0.01  # quiet stretch exercises the top_db floor
    ours = extract(y, config)
    ref = librosa_reference(y, config)
    assert ours.shape == ref.shape == config.shape
    np.testing.assert_allclose(ours, ref, atol=FEATURE_ATOL, rtol=0)


def test_matches_librosa_at_8khz_with_fmax(rng):
    config = FeatureConfig(sample_rate=8000, n_fft=256, n_mels=32, n_mfcc=13, fmax=3800.0, top_db=None, normalize="none")
    y = rng.uniform(-1, 1, config.clip_samples)
    np.testing.assert_allclose(extract(y, config), librosa_reference(y, config), atol=FEATURE_ATOL, rtol=0)


def test_filterbank_matches_librosa():
    ours = mel_filterbank(16000, 512, 40, 20.0, None)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0)
    np.testing.assert_allclose(ours, ref, atol=FILTERBANK_ATOL)


def test_batch_equals_single(rng):
    config = get_preset("kws")
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 9000, 23000)]
    batch = extract_batch(waves, config)
    for wave, feats in zip(waves, batch):
        np.testing.assert_array_equal(extract(wave, config), feats)


@pytest.mark.parametrize("length", [0, 1, 100, 399])
def test_clip_shorter_than_window(length, rng):
    config = get_preset("kws")
    feats = extract(rng.standard_normal(length).astype(np.float32) * 0.1, config)
    assert feats.shape == config.shape and np.all(np.isfinite(feats))


def test_silence_and_clipping_are_finite():
    config = get_preset("kws")
    silence = np.zeros(config.clip_samples, dtype=np.float32)
    clipped = np.clip(np.sin(np.linspace(0, 2000, config.clip_samples)) * 10, -1, 1).astype(np.float32)
    loud = np.sin(np.linspace(0, 2000, config.clip_samples)).astype(np.float32) * 1e4  # un-normalised input
    for wave in (silence, clipped, loud):
        assert np.all(np.isfinite(extract(wave, config)))
    assert np.allclose(extract(silence, config), 0)  # cmvn of a constant is zeros


def test_nan_audio_is_refused():
    wave = np.zeros(16000, dtype=np.float32)
    wave[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        extract(wave, get_preset("kws"))


def test_cmvn_normalises_each_coefficient(rng):
    feats = extract(rng.standard_normal(16000).astype(np.float32) * 0.1, get_preset("kws"))
    np.testing.assert_allclose(feats.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(feats.std(axis=1), 1, atol=1e-4)


def test_feature_id_is_stable_and_sensitive():
    config = get_preset("kws")
    assert config.feature_id == FeatureConfig.from_dict(config.to_dict()).feature_id
    assert config.feature_id == "7257e7a0dccf1af9"  # changing it invalidates every cached artifact
    assert replace(config, n_mfcc=13).feature_id != config.feature_id
    assert len({c.feature_id for c in PRESETS.values()}) == len(PRESETS)


def test_config_refuses_bad_values_and_unknown_keys():
    with pytest.raises(ValueError, match="kind"):
        FeatureConfig(kind="spectrogram")
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureConfig(n_mfcc=80, n_mels=40)
    with pytest.raises(ValueError, match="unknown FeatureConfig field"):
        FeatureConfig.from_dict({**get_preset("kws").to_dict(), "n_bins": 3})
    with pytest.raises(ValueError, match="unknown feature preset 'nope'; known: kws"):
        get_preset("nope")


def test_preset_shapes():
    assert get_preset("kws").shape == (40, 101)
    assert get_preset("esc50").shape == (64, 251)
    assert get_preset("us8k").shape == (64, 201)
    assert get_preset("ser").shape == (40, 251) and get_preset("ser").pad == "repeat"


def test_fit_length_pads_with_zeros_or_loops():
    wave = np.arange(1, 5, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(wave, 7), [0, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(fit_length(wave, 10, pad="repeat"), [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    np.testing.assert_array_equal(fit_length(np.stack([wave, -wave]), 6, pad="repeat")[1], [-1, -2, -3, -4, -1, -2])
    np.testing.assert_array_equal(fit_length(wave, 2, pad="repeat"), [2, 3])  # longer: centred crop either way
    np.testing.assert_array_equal(fit_length(np.zeros(0), 3, pad="repeat"), [0, 0, 0])
    with pytest.raises(ValueError, match="pad='mirror'"):
        fit_length(wave, 8, pad="mirror")
    with pytest.raises(ValueError, match="pad='mirror'"):
        FeatureConfig(pad="mirror")


def test_pad_enters_the_feature_id_only_when_not_zeros():
    config = get_preset("kws")
    assert "pad" not in config.to_dict() and config.feature_id == "7257e7a0dccf1af9"
    looped = replace(config, pad="repeat")
    assert looped.to_dict()["pad"] == "repeat" and looped.feature_id != config.feature_id
    assert FeatureConfig.from_dict(looped.to_dict()) == looped


def test_repeat_padding_keeps_the_utterance_statistics(rng):
    """A looped short utterance: CMVN'd frames are (nearly) those of the utterance itself;
    zero padding adds floor frames that shift every coefficient's mean."""
    config = replace(get_preset("ser"), normalize="none")
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * (300 + 200 * t) * t) * (1 + rng.standard_normal(16000) * 0.05)).astype(np.float32)
    own = extract(wave, replace(config, clip_seconds=1.0))[:, 3:-3].mean(1)
    looped = extract(wave, config).mean(1)
    zeros = extract(wave, replace(config, pad="zeros")).mean(1)
    assert np.abs(looped - own).max() < 0.1 * np.abs(zeros - own).max()
