"""On-device inference: WAV files -> features (the shared front-end) -> top-k labels.

A clip no longer than the model's clip length is classified once (centred and padded as in
training). A longer recording is cut into windows of the clip length every `stride` seconds;
each window is classified, windows whose top label reaches `threshold` are reported as
detections with their start and end times, and the recording's top-k comes from the mean of the
window probabilities. Audio at a rate other than the model's is refused (see audio.read_wav).

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgedistill.device.audio import read_wav
from edgedistill.device.features import extract_batch
from edgedistill.device.predictor import Predictor


# A recording shorter than this fraction of the model's clip length is padded with a warning
# (speech keywords are often shorter than their 1 s clip; a 1 s sound for a 5 s model is not).
SHORT_CLIP_FRACTION = 0.5


class ShortClipWarning(UserWarning):
    """A recording much shorter than the clips the model was trained on (padded with silence)."""


def windows(n_samples: int, clip: int, hop: int) -> list[int]:
    """Start samples of clip-long windows every `hop` samples covering a recording of n_samples."""
    if n_samples <= clip:
        return [0]
    starts = list(range(0, n_samples - clip + 1, hop))
    if starts[-1] + clip < n_samples:  # cover the tail
        starts.append(n_samples - clip)
    return starts


def classify_waveform(predictor: Predictor, wave: np.ndarray, top_k: int = 3, stride_s: float | None = None,
                      threshold: float = 0.5, name: str = "the recording") -> dict[str, Any]:
    """Top-k (label, probability) of one recording; windows and detections when it is longer than a clip.

    A recording shorter than SHORT_CLIP_FRACTION of the clip length is classified padded, with a
    `ShortClipWarning` naming both lengths (also in the result under "warning")."""
    config = predictor.feature_config
    clip = config.clip_samples
    warning = None
    if len(wave) < SHORT_CLIP_FRACTION * clip:
        warning = (f"{name} is {len(wave) / config.sample_rate:.2f} s long but the model was trained on "
                   f"{config.clip_seconds:.2f} s clips; it was padded with silence to {config.clip_seconds:.2f} s, "
                   "which can lower accuracy: record at least the clip length")
        warnings.warn(warning, ShortClipWarning, stacklevel=2)
    if stride_s is not None and stride_s <= 0:
        raise ValueError(f"--stride must be positive seconds, got {stride_s}")
    hop = int(round((stride_s if stride_s else config.clip_seconds / 2) * config.sample_rate))
    starts = windows(len(wave), clip, max(hop, 1))
    feats = extract_batch([wave[s : s + clip] for s in starts], config)
    probs = predictor.predict_proba(feats)
    mean = probs.mean(axis=0)
    k = max(1, min(top_k, len(predictor.labels)))
    order = np.argsort(-mean)[:k]
    result: dict[str, Any] = {
        "duration_s": round(len(wave) / config.sample_rate, 4),
        "top": [{"label": predictor.labels[i], "prob": float(mean[i])} for i in order],
    }
    if warning:
        result["warning"] = warning
    if len(starts) > 1:
        best = probs.argmax(axis=1)
        result["windows"] = len(starts)
        result["detections"] = [
            {"start_s": round(s / config.sample_rate, 3), "end_s": round((s + clip) / config.sample_rate, 3),
             "label": predictor.labels[b], "prob": float(p[b])}
            for s, b, p in zip(starts, best, probs) if p[b] >= threshold
        ]
    return result


def infer_files(predictor: Predictor, audio: Iterable[str | Path], top_k: int = 3, stride_s: float | None = None,
                threshold: float = 0.5) -> list[dict[str, Any]]:
    """`classify_waveform` for each WAV file (at the model's sample rate), with the file name."""
    results = []
    for path in audio:
        wave, _ = read_wav(path, expected_rate=predictor.feature_config.sample_rate)
        results.append({"file": str(path), **classify_waveform(predictor, wave, top_k, stride_s, threshold, name=str(path))})
    return results
