"""Read any audio file the datasets use as mono float32 at the feature preset's rate.

WAV, FLAC and OGG at any rate, channel count and bit depth (libsndfile through `soundfile`),
channels averaged to mono, resampled with soxr (high quality, the resampler librosa uses by
default). Empty, undecodable or NaN-carrying files raise `AudioError` naming the file.
Must not import torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedistill.device.audio import AudioError, read_wav

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def load_audio(path: str | Path, sample_rate: int, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Mono float32 samples of `path` at `sample_rate` Hz.

    start / duration (seconds) read one segment (e.g. a 1 s cut of a long noise recording);
    duration None reads to the end. Raises AudioError (a ValueError) naming the file and the
    problem: missing, empty, truncated or undecodable, NaN/inf samples, segment past the end.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    samples, rate = _decode(path, start, duration)
    if samples.size == 0:
        raise AudioError(f"{path}: contains no samples" + (f" at {start:g} s" if start else ""))
    if not np.all(np.isfinite(samples)):
        raise AudioError(f"{path}: contains NaN or inf samples")
    if rate != sample_rate:
        import soxr

        samples = soxr.resample(samples, rate, sample_rate, quality="HQ").astype(np.float32)
    return samples


def _decode(path: Path, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError:  # host extra missing: fall back to the stdlib WAV reader
        samples, rate = read_wav(path)
        first = int(round(start * rate))
        last = None if duration is None else first + int(round(duration * rate))
        return samples[first:last], rate
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            handle.seek(min(int(round(start * rate)), handle.frames))
            frames = -1 if duration is None else int(round(duration * rate))
            data = handle.read(frames, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: cannot decode audio ({err}); the file is truncated, corrupt or not WAV/FLAC/OGG") from None
    return data.mean(axis=1, dtype=np.float32), rate


def audio_files(folder: Path) -> list[Path]:
    """Audio files (by suffix, case-insensitive) under `folder` at any depth, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
