"""Per-class detection thresholds for a target false-accept rate, measured on background audio.

`calibrate(predictor, background, positives, fa_per_hour, base)`:
1. streams every background WAV through the front-end and the model (stream.py) and keeps the
   smoothed posterior trace (the detector's moving average, its top non-filler class and score);
2. for each keyword class c, counts the events the detector would raise for c at each candidate
   threshold (runs of windows where c is the top class at or above it, merged within the
   refractory period) and picks the lowest threshold whose rate, over the background's hours, is
   at most the class's share of `fa_per_hour` (the target is the total over the keyword classes,
   split equally); with too little background for a non-zero count, the threshold lands just
   above the highest background score;
3. runs the real `Detector` with those thresholds over the background (false accepts per hour)
   and over every positive clip (one sub-folder of WAVs per class, each clip padded with
   `pad_s` seconds of silence on both sides) to report the miss rate per class.
`write_detector(model_dir, settings)` stores the thresholds in the model's meta.json atomically.

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.device.artifacts import META_FILE, ArtifactError, write_json_atomic
from edgedistill.device.audio import read_wav
from edgedistill.device.predictor import Predictor
from edgedistill.device.stream import DetectorConfig, StreamingFrontEnd, listen, wav_chunks

GRID = np.round(np.concatenate([np.arange(0.30, 0.95, 0.01), np.arange(0.95, 0.9995, 0.0025)]), 4)


def wav_files(folder: str | Path, what: str) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{what} {folder}: not a directory of WAV files")
    files = sorted(folder.rglob("*.wav"))
    if not files:
        raise ValueError(f"{what} {folder}: no .wav files found (searched sub-folders too)")
    return files


def score_trace(predictor: Predictor, samples_iter, config: DetectorConfig, batch: int = 32) -> tuple[np.ndarray, np.ndarray, float]:
    """(window starts in seconds, smoothed posteriors (W, C), seconds of audio) of one stream."""
    features = predictor.feature_config
    front = StreamingFrontEnd(features, int(round(config.hop_s * features.sample_rate)))
    starts, probs, n = [], [], 0
    for chunk in samples_iter:
        n += len(chunk)
        s, f = front.push(chunk)
        starts += s
        if len(f):
            probs.append(predictor.predict_proba(f, batch))
    s, f = front.flush()
    starts += s
    if len(f):
        probs.append(predictor.predict_proba(f, batch))
    if not starts:
        return np.zeros(0), np.zeros((0, len(predictor.labels))), n / features.sample_rate
    p = np.concatenate(probs)
    k = config.smooth_windows
    # trailing moving average over the last k windows (fewer at the start), as Detector.update
    csum = np.cumsum(np.vstack([np.zeros((1, p.shape[1])), p]), axis=0)
    idx = np.arange(1, len(p) + 1)
    lo = np.maximum(idx - k, 0)
    smooth = (csum[idx] - csum[lo]) / (idx - lo)[:, None]
    centre = np.array(starts, dtype=np.float64)
    cs = np.concatenate([[0.0], np.cumsum(centre)])
    centre = (cs[idx] - cs[lo]) / (idx - lo)
    return centre / features.sample_rate, smooth, n / features.sample_rate


def count_events(times: np.ndarray, best: np.ndarray, score: np.ndarray, c: int, threshold: float, refractory_s: float) -> int:
    """Events of class c at a threshold on one trace: runs of (best == c, score >= threshold), refractory-merged."""
    on = (best == c) & (score >= threshold)
    if not on.any():
        return 0
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    mids = (times[first] + times[last]) / 2
    count, previous = 0, -np.inf
    for mid in mids:
        if mid - previous >= refractory_s:
            count += 1
            previous = mid
    return count


def calibrate(predictor: Predictor, background: str | Path, positives: str | Path | None, fa_per_hour: float,
              base: DetectorConfig, pad_s: float = 0.5) -> dict[str, Any]:
    """Pick thresholds (see module doc); returns the detector settings and the measured figures."""
    if not fa_per_hour > 0:
        raise ValueError(f"--fa-per-hour must be > 0, got {fa_per_hour}")
    labels = predictor.labels
    rate = predictor.feature_config.sample_rate
    active = [i for i, name in enumerate(labels) if name not in base.ignore]
    traces, seconds = [], 0.0
    for path in wav_files(background, "--background"):
        times, smooth, secs = score_trace(predictor, wav_chunks(path, rate), base)
        seconds += secs
        masked = np.where(np.isin(np.arange(len(labels)), active), smooth, -1.0)
        traces.append((times, masked.argmax(axis=1), masked.max(axis=1) if len(masked) else np.zeros(0)))
    hours = seconds / 3600
    allowed = fa_per_hour / len(active) * hours  # events per class over the background
    thresholds = {}
    for c in active:
        counts = np.array([sum(count_events(t, b, s, c, thr, base.refractory_s) for t, b, s in traces) for thr in GRID])
        ok = counts <= allowed
        # lowest threshold from which every higher one also meets the target
        good = np.flatnonzero(np.logical_and.accumulate(ok[::-1])[::-1])
        if len(good):
            thresholds[labels[c]] = float(GRID[good[0]])
        else:
            peak = max((float(s[b == c].max()) for _, b, s in traces if (b == c).any()), default=0.0)
            thresholds[labels[c]] = float(min(0.9999, peak + 1e-4))
    tuned = replace(base, thresholds=thresholds)
    false_accepts = 0
    for path in wav_files(background, "--background"):
        false_accepts += listen(predictor, wav_chunks(path, rate), tuned)["detections"]
    result: dict[str, Any] = {"thresholds": thresholds, "target_fa_per_hour": fa_per_hour, "background_hours": round(hours, 4),
                              "background_false_accepts": false_accepts,
                              "fa_per_hour": round(false_accepts / hours, 3) if hours else None}
    if positives is not None:
        result.update(miss_rates(predictor, positives, tuned, pad_s))
    result["detector"] = tuned
    return result


def miss_rates(predictor: Predictor, positives: str | Path, config: DetectorConfig, pad_s: float = 0.5) -> dict[str, Any]:
    """Miss rate per class on positive clips (DIR/<class>/*.wav), each alone in silence."""
    folder = Path(positives)
    rate = predictor.feature_config.sample_rate
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.wav"))) if folder.is_dir() else []
    if not classes:
        raise ValueError(f"--positives {folder}: expected one sub-folder of WAV files per keyword class (e.g. {folder}/yes/*.wav)")
    unknown = sorted(set(classes) - set(predictor.labels))
    if unknown:
        raise ValueError(f"--positives {folder}: classes {unknown} are not among the model's classes {predictor.labels}")
    pad = np.zeros(int(pad_s * rate), np.float32)
    per_class = {}
    for name in classes:
        files = sorted((folder / name).glob("*.wav"))
        hits = 0
        for path in files:
            wave, _ = read_wav(path, expected_rate=rate)
            summary = listen(predictor, [np.concatenate([pad, wave, pad])], config)
            hits += any(e["label"] == name for e in summary["events"])
        per_class[name] = {"n": len(files), "miss_rate": round(1 - hits / len(files), 4)}
    total = sum(v["n"] for v in per_class.values())
    misses = sum(v["n"] * v["miss_rate"] for v in per_class.values())
    return {"miss_rate": round(misses / total, 4), "miss_rate_per_class": per_class}


def write_detector(model_dir: str | Path, settings: dict[str, Any]) -> Path:
    """Store detector settings under "detector" in the model directory's meta.json (atomic rewrite)."""
    meta_path = Path(model_dir) / META_FILE
    if not meta_path.is_file():
        raise ArtifactError(f"{model_dir}: calibrate needs the model's directory with its {META_FILE} (an export or device-model directory)")
    data = json.loads(meta_path.read_text())
    data["detector"] = settings
    write_json_atomic(meta_path, data)
    return meta_path
