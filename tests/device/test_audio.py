"""The stdlib WAV reader: formats, mixdown and clear errors."""

import struct
import wave

import numpy as np
import pytest

from edgedistill.device.audio import AudioError, read_wav


def write_pcm(path, samples: np.ndarray, rate: int, width: int = 2, channels: int = 1):
    scale = {1: 127, 2: 32767, 4: 2**31 - 1}[width]
    ints = np.round(samples * scale).astype({1: np.int16, 2: "<i2", 4: "<i4"}[width])
    if width == 1:
        ints = (ints + 128).astype(np.uint8)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(ints.tobytes())


@pytest.mark.parametrize("width", [1, 2, 4])
def test_reads_pcm_widths(tmp_path, width):
    signal = np.sin(np.linspace(0, 20, 800)) * 0.5
    write_pcm(tmp_path / "a.wav", signal, 8000, width)
    samples, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and samples.dtype == np.float32
    np.testing.assert_allclose(samples, signal, atol=2.0 / {1: 127, 2: 32767, 4: 2**31}[width])


def test_stereo_is_mixed_to_mono(tmp_path):
    stereo = np.stack([np.full(100, 0.5), np.full(100, -0.25)], axis=1).reshape(-1)
    write_pcm(tmp_path / "s.wav", stereo, 16000, channels=2)
    samples, _ = read_wav(tmp_path / "s.wav")
    np.testing.assert_allclose(samples, 0.125, atol=1e-4)


def test_float_wav(tmp_path):
    data = np.linspace(-1, 1, 50, dtype="<f4")
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 64000, 4, 32)
    blob = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data.nbytes) + data.tobytes()
    (tmp_path / "f.wav").write_bytes(b"RIFF" + struct.pack("<I", len(blob)) + blob)
    samples, rate = read_wav(tmp_path / "f.wav")
    assert rate == 16000
    np.testing.assert_allclose(samples, data)


def test_errors_name_the_file(tmp_path):
    write_pcm(tmp_path / "r8k.wav", np.zeros(80), 8000)
    with pytest.raises(AudioError, match="r8k.wav: sample rate is 8000 Hz but the model expects 16000"):
        read_wav(tmp_path / "r8k.wav", expected_rate=16000)
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav: not a readable WAV"):
        read_wav(tmp_path / "junk.wav")
    write_pcm(tmp_path / "empty.wav", np.zeros(0), 16000)
    with pytest.raises(AudioError, match="empty.wav: contains no samples"):
        read_wav(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="no such file"):
        read_wav(tmp_path / "missing.wav")
