"""Host audio reading: formats, channels, bit depths, resampling, and the bad-file errors."""

import numpy as np
import pytest
import soundfile

from edgedistill.data.audio import load_audio
from edgedistill.device.audio import AudioError

RATE = 16000


def sine(rate, seconds=0.5, freq=440.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("fmt,subtype,suffix", [("WAV", "PCM_16", ".wav"), ("WAV", "PCM_24", ".wav"), ("WAV", "PCM_U8", ".wav"),
                                                ("WAV", "FLOAT", ".wav"), ("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg")])
def test_formats_become_mono_float32_at_the_rate(tmp_path, fmt, subtype, suffix):
    path = tmp_path / f"a{suffix}"
    soundfile.write(str(path), sine(44100, channels=2), 44100, format=fmt, subtype=subtype)
    x = load_audio(path, RATE)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) - RATE // 2) <= 2
    spectrum = np.abs(np.fft.rfft(x[1000:7000]))
    assert abs(np.argmax(spectrum) * RATE / 6000 - 440) < 5  # resampled pitch is right
    tol = 0.06 if subtype in ("VORBIS", "PCM_U8") else 0.01
    assert abs(np.abs(x).max() - 0.5) < tol


def test_segment_read(tmp_path):
    path = tmp_path / "long.wav"
    soundfile.write(str(path), sine(8000, seconds=3.0), 8000)
    assert len(load_audio(path, RATE, start=1.0, duration=1.0)) == RATE
    with pytest.raises(AudioError, match="no samples at 5"):
        load_audio(path, RATE, start=5.0, duration=1.0)


def test_bad_files_name_the_file_and_problem(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(str(good), sine(RATE), RATE)
    cases = {"empty.wav": b"", "garbage.wav": b"this is not audio at all" * 10, "truncated.wav": good.read_bytes()[:30]}
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    with pytest.raises(AudioError, match=r"empty\.wav: empty file"):
        load_audio(tmp_path / "empty.wav", RATE)
    for name in ("garbage.wav", "truncated.wav"):
        with pytest.raises(AudioError, match=rf"{name}: cannot decode"):
            load_audio(tmp_path / name, RATE)
    header_only = tmp_path / "zero.wav"
    soundfile.write(str(header_only), np.zeros(0), RATE)
    with pytest.raises(AudioError, match="contains no samples"):
        load_audio(header_only, RATE)
    nan = tmp_path / "nan.wav"
    soundfile.write(str(nan), np.array([0.1, np.nan, 0.2] * 100, dtype=np.float32), RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(nan, RATE)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav", RATE)
