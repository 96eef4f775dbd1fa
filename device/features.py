"""The single audio feature front-end (MFCC / log-mel), shared by host and device.

Everything that turns a waveform into the feature map a model sees lives here, so the host
(training, distillation) and the device (inference, on-device training) compute identical
features; `feature_id` is the hash that proves two sides agree.

Numpy only: must not import torch, librosa or the host package `edgedistill` outside
`edgedistill.device`.

Conventions (they match librosa with ``center=True, pad_mode="reflect"``):
- power spectrogram |STFT|^2 with a periodic Hann window of ``win_length`` samples, zero-padded
  to ``n_fft``, frames centred (signal reflect-padded by ``n_fft // 2`` on both sides);
- Slaney-style mel filterbank with Slaney area normalisation (``librosa.filters.mel`` defaults);
- dB: ``10 * log10(max(S, log_floor))``, then floored at ``max - top_db`` per clip (``top_db``
  None disables it), exactly ``librosa.power_to_db(S, ref=1.0, amin=log_floor, top_db=top_db)``;
- MFCC: orthonormal DCT-II of the dB mel spectrogram, first ``n_mfcc`` coefficients.
Output shape per clip: ``(n_features, n_frames)`` float32 with ``n_features = n_mfcc`` for
``kind="mfcc"`` and ``n_mels`` for ``kind="logmel"``; ``n_frames = 1 + clip_samples // hop``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from typing import Any, Iterable

import numpy as np

KINDS = ("mfcc", "logmel")
NORMALIZATIONS = ("none", "cmvn")
PADS = ("zeros", "repeat")
# Fields added after the first release, with the value every earlier config had: they enter the
# canonical dict (and so the feature_id) only when set to something else, so every feature_id
# computed before they existed stays valid.
_LATER_FIELDS = {"pad": "zeros"}


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Everything that defines the features; two equal configs give identical features.

    Attributes:
        sample_rate: audio rate in Hz that the front-end expects (audio at another rate is an
            error here; the host data layer resamples before extraction).
        clip_seconds: every clip is padded (see `pad`) or trimmed (centred) to this length.
        win_ms / hop_ms: analysis window and hop in milliseconds.
        n_fft: FFT size in samples (>= window length in samples).
        n_mels: mel bands. n_mfcc: cepstral coefficients kept (kind="mfcc" only).
        fmin / fmax: mel filterbank edges in Hz (fmax None = Nyquist).
        log_floor: power floor before the log (librosa's ``amin``).
        top_db: dynamic range kept below each clip's peak, in dB (None keeps all).
        kind: "mfcc" or "logmel".
        normalize: "none", or "cmvn" (per clip: each coefficient to zero mean and unit
            variance over time; a constant coefficient becomes zeros).
        pad: how a clip shorter than `clip_seconds` is filled: "zeros" (centred, silence on
            both sides) or "repeat" (the clip looped from its start until the length is
            reached: every frame is speech, so per-clip CMVN statistics and a model's average
            pooling over time see the utterance, not padding).
    """

    sample_rate: int = 16000
    clip_seconds: float = 1.0
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 40
    n_mfcc: int = 40
    fmin: float = 20.0
    fmax: float | None = None
    log_floor: float = 1e-10
    top_db: float | None = 80.0
    kind: str = "mfcc"
    normalize: str = "cmvn"
    pad: str = "zeros"

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind={self.kind!r} (choose one of {', '.join(KINDS)})")
        if self.normalize not in NORMALIZATIONS:
            problems.append(f"normalize={self.normalize!r} (choose one of {', '.join(NORMALIZATIONS)})")
        if self.pad not in PADS:
            problems.append(f"pad={self.pad!r} (choose one of {', '.join(PADS)})")
        if self.sample_rate <= 0 or self.clip_seconds <= 0 or self.win_ms <= 0 or self.hop_ms <= 0:
            problems.append("sample_rate, clip_seconds, win_ms and hop_ms must be positive")
        elif self.win_length > self.n_fft:
            problems.append(f"window of {self.win_length} samples is longer than n_fft={self.n_fft}")
        nyquist = self.sample_rate / 2
        if self.fmax is not None and not (self.fmin < self.fmax <= nyquist):
            problems.append(f"need fmin < fmax <= {nyquist:g} Hz, got fmin={self.fmin}, fmax={self.fmax}")
        if self.kind == "mfcc" and not (0 < self.n_mfcc <= self.n_mels):
            problems.append(f"need 0 < n_mfcc <= n_mels, got n_mfcc={self.n_mfcc}, n_mels={self.n_mels}")
        if self.log_floor <= 0:
            problems.append("log_floor must be positive")
        if problems:
            raise ValueError("invalid FeatureConfig: " + "; ".join(problems))

    # Derived sizes -------------------------------------------------------------------------
    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    @property
    def n_frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length

    @property
    def shape(self) -> tuple[int, int]:
        """Feature map shape of one clip: (n_features, n_frames)."""
        return (self.n_features, self.n_frames)

    # Serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name, original in _LATER_FIELDS.items():
            if data[name] == original:
                del data[name]
        return {"type": "FeatureConfig", **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureConfig":
        data = dict(data)
        kind = data.pop("type", "FeatureConfig")
        if kind != "FeatureConfig":
            raise ValueError(f"expected a FeatureConfig, got type={kind!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FeatureConfig field(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    @property
    def feature_id(self) -> str:
        """Stable 16-hex-digit hash of the canonical config (same features <=> same id)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


PRESETS: dict[str, FeatureConfig] = {
    # Keyword spotting: 1 s at 16 kHz, 40 MFCC over 40 mels, 25 ms / 10 ms -> (40, 101).
    "kws": FeatureConfig(),
    # ESC-50: 5 s clips, 64-band log-mel, 25 ms / 20 ms -> (64, 251).
    "esc50": FeatureConfig(clip_seconds=5.0, hop_ms=20.0, n_mels=64, kind="logmel"),
    # UrbanSound8K: 4 s clips, 64-band log-mel, 25 ms / 20 ms -> (64, 201).
    "us8k": FeatureConfig(clip_seconds=4.0, hop_ms=20.0, n_mels=64, kind="logmel"),
    # Speech emotion: the whole utterance. 5 s holds every RAVDESS speech file (2.9-5.3 s, the
    # longest lose trailing silence), CREMA-D (1.3-5 s), TESS (1.3-3 s) and ~95 % of EmoDB
    # (1.2-9 s); shorter utterances are looped ("repeat") so CMVN and the models' pooling over
    # time see speech only; longer ones are cropped (random crop for training, centred for
    # evaluation). 40 MFCC, 25 ms / 20 ms -> (40, 251) frame-level features.
    "ser": FeatureConfig(clip_seconds=5.0, hop_ms=20.0, pad="repeat"),
}


def get_preset(name: str) -> FeatureConfig:
    """The named preset; an unknown name lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown feature preset {name!r}; known: {', '.join(PRESETS)}") from None


# Numerics ------------------------------------------------------------------------------------
def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa htk=False): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    above = hz >= min_log_hz
    return np.where(above, min_log_mel + np.log(np.maximum(hz, 1e-12) / min_log_hz) / logstep, mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    above = mels >= min_log_mel
    return np.where(above, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape (n_mels, 1 + n_fft // 2), float64."""
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2 : n_mels + 2] - mel_freqs[:n_mels]))[:, None]
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=16)
def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """Orthonormal DCT-II basis, shape (n_mfcc, n_mels): mfcc = D @ log_mel."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)[:, None]
    basis = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=16)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    """Periodic Hann window of win_length, zero-padded (centred) to n_fft."""
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    padded = np.zeros(n_fft)
    padded[left : left + win_length] = win
    padded.setflags(write=False)
    return padded


def fit_length(waveform: np.ndarray, n_samples: int, offset: int | None = None, pad: str = "zeros") -> np.ndarray:
    """Pad or trim the last axis to n_samples.

    offset None centres the crop (evaluation); an int is the start sample of the crop when the
    clip is longer (a seeded random crop for training picks it), ignored when it is shorter.
    pad: "zeros" centres a shorter clip between zeros; "repeat" loops it from its start (an
    empty clip stays zeros). See `FeatureConfig.pad`.
    """
    if pad not in PADS:
        raise ValueError(f"pad={pad!r}; choose one of {', '.join(PADS)}")
    length = waveform.shape[-1]
    if length >= n_samples:
        start = (length - n_samples) // 2 if offset is None else int(np.clip(offset, 0, length - n_samples))
        return waveform[..., start : start + n_samples]
    if pad == "repeat" and length > 0:
        reps = [1] * (waveform.ndim - 1) + [-(-n_samples // length)]
        return np.tile(waveform, reps)[..., :n_samples]
    left = (n_samples - length) // 2
    widths = [(0, 0)] * (waveform.ndim - 1) + [(left, n_samples - length - left)]
    return np.pad(waveform, widths)


def power_spectrogram(waveforms: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """|STFT|^2 of (batch, samples) float audio -> (batch, 1 + n_fft // 2, n_frames) float64."""
    n_fft, hop = config.n_fft, config.hop_length
    x = np.asarray(waveforms, dtype=np.float64)
    x = np.pad(x, [(0, 0), (n_fft // 2, n_fft // 2)], mode="reflect")
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[:, ::hop][:, :n_frames]
    spectrum = np.fft.rfft(frames * _window(config.win_length, n_fft), axis=-1)
    return np.transpose(spectrum.real**2 + spectrum.imag**2, (0, 2, 1))


def extract_batch(waveforms: np.ndarray | Iterable[np.ndarray], config: FeatureConfig) -> np.ndarray:
    """Features for a batch of mono clips at ``config.sample_rate``.

    ``waveforms``: a (batch, samples) array or an iterable of 1-D arrays of any lengths; each
    clip is fitted to ``config.clip_samples`` (trimmed centred, padded as ``config.pad``).
    Samples outside [-1, 1] (clipped or un-normalised audio) are accepted; NaN or inf samples
    raise ValueError.
    Returns float32 of shape (batch, n_features, n_frames).
    """
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 2:
        clips = fit_length(waveforms, config.clip_samples, pad=config.pad)
    else:
        fitted = [fit_length(np.asarray(w).reshape(-1), config.clip_samples, pad=config.pad) for w in waveforms]
        clips = np.stack(fitted) if fitted else np.zeros((0, config.clip_samples))
    if clips.shape[0] == 0:
        return np.zeros((0, *config.shape), dtype=np.float32)
    if not np.all(np.isfinite(clips)):
        bad = np.flatnonzero(~np.all(np.isfinite(clips), axis=-1)).tolist()
        raise ValueError(f"audio contains NaN or inf samples (clip index {bad[:10]}); clean or skip these clips")
    return np.concatenate([_features(clips[i : i + _CHUNK], config) for i in range(0, len(clips), _CHUNK)])


_CHUNK = 8  # clips per vectorised pass: small chunks keep the float64 STFT in cache (measured)


def _features(clips: np.ndarray, config: FeatureConfig) -> np.ndarray:
    return finish_features(mel_db(power_spectrogram(clips, config), config), config)


def mel_db(power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Per-frame dB mel energies of a power spectrogram (..., 1 + n_fft // 2, frames) -> (..., n_mels, frames), float64.

    Frame-local (no per-clip step): the streaming front-end (stream.py) computes it once per frame.
    """
    mel = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax) @ power
    return 10.0 * np.log10(np.maximum(mel, config.log_floor))


def finish_features(db: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The per-clip steps on dB mel frames (batch, n_mels, n_frames): top_db floor, DCT (mfcc), CMVN -> float32."""
    if config.top_db is not None:
        db = np.maximum(db, db.max(axis=(1, 2), keepdims=True) - config.top_db)
    feats = dct_matrix(config.n_mfcc, config.n_mels) @ db if config.kind == "mfcc" else db
    if config.normalize == "cmvn":
        feats = feats - feats.mean(axis=-1, keepdims=True)
        std = feats.std(axis=-1, keepdims=True)
        feats = feats / np.where(std > 1e-8, std, 1.0)
    return feats.astype(np.float32)


def extract(waveform: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Features of one mono clip: float32 (n_features, n_frames). See `extract_batch`."""
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"extract() takes one mono clip of shape (samples,), got shape {waveform.shape}")
    return extract_batch(waveform[None], config)[0]
