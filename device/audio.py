"""Read WAV files on the device with the standard library alone (no soundfile, no librosa).

PCM 8/16/24/32-bit and 32-bit float WAV, any channel count, mixed down to mono float32 in
[-1, 1]. The device does not resample: audio at a rate other than the model's is refused with a
message saying how to convert it. Must not import torch or the host package.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np


class AudioError(ValueError):
    """An audio file cannot be read or does not fit the model (rate, length, content)."""


def read_wav(path: str | Path, expected_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Return (mono float32 samples, sample rate). Raises AudioError naming the file."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not a WAV file; give the WAV files themselves")
    size = path.stat().st_size
    if size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes); re-record or re-export it")
    try:
        samples, rate = _read_pcm(path)
    except (wave.Error, EOFError, struct.error) as err:
        try:
            samples, rate = _read_float_wav(path)
        except Exception:
            reason = str(err) or type(err).__name__
            raise AudioError(f"{path}: not a readable WAV file ({reason}; {size} bytes); convert it to PCM WAV") from None
    if samples.size == 0:
        raise AudioError(f"{path}: contains no samples")
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: contains NaN or inf samples")
    if expected_rate is not None and rate != expected_rate:
        raise AudioError(
            f"{path}: sample rate is {rate} Hz but the model expects {expected_rate} Hz; resample it first, "
            f"e.g. `sox {path.name} -r {expected_rate} out.wav` or `ffmpeg -i {path.name} -ar {expected_rate} out.wav`"
        )
    return samples, rate


def _read_pcm(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as handle:
        rate, channels, width = handle.getframerate(), handle.getnchannels(), handle.getsampwidth()
        frames = handle.getnframes()
        raw = handle.readframes(frames)
    if len(raw) < frames * channels * width < 0x7FFFFFFF:  # (streaming writers declare a huge size: not truncation)
        raise AudioError(f"{path}: truncated: the header says {frames} frames but the data chunk holds "
                         f"{len(raw) // max(1, channels * width)}; the file was cut short, re-export it")
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        bytes3 = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = (bytes3[:, 0].astype(np.int32) | (bytes3[:, 1].astype(np.int32) << 8) | (bytes3[:, 2].astype(np.int32) << 16))
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float32) / float(1 << 23)
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        raise wave.Error(f"unsupported sample width {width} bytes")
    usable = (data.size // channels) * channels
    return data[:usable].reshape(-1, channels).mean(axis=1).astype(np.float32), rate


def _read_float_wav(path: Path) -> tuple[np.ndarray, int]:
    """IEEE-float WAV (format tag 3), which the stdlib `wave` module refuses."""
    blob = path.read_bytes()
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError("not RIFF/WAVE")
    pos, rate, channels, bits, fmt = 12, None, None, None, None
    while pos + 8 <= len(blob):
        chunk, size = blob[pos : pos + 4], struct.unpack("<I", blob[pos + 4 : pos + 8])[0]
        body = blob[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
        elif chunk == b"data" and fmt == 3 and bits in (32, 64):
            data = np.frombuffer(body[: len(body) // (bits // 8) * (bits // 8)], dtype="<f4" if bits == 32 else "<f8")
            usable = (data.size // channels) * channels
            return data[:usable].reshape(-1, channels).mean(axis=1).astype(np.float32), rate
        pos += 8 + size + (size & 1)
    raise ValueError("no float data chunk")
