"""Streaming keyword detection: an incremental front-end, a posterior detector and audio sources.

`StreamingFrontEnd` turns an audio stream into the features of clip-long windows every `hop`
samples, computing each STFT frame's dB mel energies once: a window's interior frames come from
a cache in stream coordinates, only the frames that touch the window's edges (centred framing
reflect-pads the clip) and the per-clip steps (top_db floor, DCT, CMVN, see
features.finish_features) are redone per window. The result equals `features.extract` on the
same window (tests/device/test_stream.py checks it); the hop must be a multiple of the frame hop.

`Detector` smooths the posteriors with a moving average over `smooth_s`, opens an event when the
top non-filler class (never `_unknown_` / `_silence_`) reaches its threshold and closes it when
it drops below; the event is reported at the middle of its above-threshold span (the window that
best centres the word) with its peak smoothed score, unless it falls within `refractory_s` of the
previous detection.

`listen(predictor, chunks, config)` runs both over an iterator of float32 sample chunks (a WAV
file read in blocks, raw PCM on stdin, or a microphone through the optional `sounddevice`).

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import sys
import time
import wave
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from edgedistill.device.audio import AudioError, read_wav
from edgedistill.device.features import FeatureConfig, _window, finish_features, mel_db
from edgedistill.device.predictor import Predictor

FILLER_LABELS = ("_unknown_", "_silence_")
PCM_FORMATS = {"s16le": ("<i2", 32768.0), "f32le": ("<f4", 1.0)}


class StreamingFrontEnd:
    """Features (F, T) of the windows [s, s + clip) for s = 0, hop, 2·hop, ... of a pushed stream."""

    def __init__(self, config: FeatureConfig, hop_samples: int) -> None:
        if hop_samples < 1 or hop_samples % config.hop_length:
            raise ValueError(f"--hop must be a positive multiple of the feature hop ({config.hop_ms:g} ms = {config.hop_length} samples), "
                             f"got {hop_samples} samples")
        self.config, self.hop = config, hop_samples
        self.clip, self.n_fft, self.frame_hop = config.clip_samples, config.n_fft, config.hop_length
        half = self.n_fft // 2
        frames = np.arange(config.n_frames)
        # window frames whose n_fft span stays inside the clip: shared between windows, computed once
        self.interior = frames[(frames * self.frame_hop >= half) & (frames * self.frame_hop + half <= self.clip)]
        self.edge = np.setdiff1d(frames, self.interior)
        self.window_fn = _window(config.win_length, self.n_fft)
        self.buffer = np.zeros(0, dtype=np.float64)
        self.offset = 0  # stream sample index of buffer[0]
        self.next_start = 0  # stream sample index of the next window
        self.cache: dict[int, np.ndarray] = {}  # stream frame index -> dB mel (n_mels,)
        self.frames_computed = 0

    def push(self, samples: np.ndarray) -> tuple[list[int], np.ndarray]:
        """Add samples; returns (start samples, features (W, F, T) float32) of the windows now complete."""
        samples = np.asarray(samples, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(samples)):
            raise AudioError("the audio stream contains NaN or inf samples")
        self.buffer = np.concatenate([self.buffer, samples])
        starts = []
        while self.next_start + self.clip <= self.offset + len(self.buffer):
            starts.append(self.next_start)
            self.next_start += self.hop
        feats = np.stack([self._window_features(s) for s in starts]) if starts else np.zeros((0, *self.config.shape), np.float32)
        self._forget(self.next_start)
        return starts, feats

    def flush(self) -> tuple[list[int], np.ndarray]:
        """Zero-pad the stream's tail so that the last samples end up in one more window (if any are unseen)."""
        end = self.offset + len(self.buffer)
        if end == 0 or (self.next_start > 0 and self.next_start - self.hop + self.clip >= end):
            return [], np.zeros((0, *self.config.shape), np.float32)
        return self.push(np.zeros(self.next_start + self.clip - end))

    def _window_features(self, start: int) -> np.ndarray:
        audio = self.buffer[start - self.offset : start - self.offset + self.clip]
        first = start // self.frame_hop
        todo = [first + t for t in self.interior if first + t not in self.cache]
        if todo:
            base = self.offset
            frames = np.stack([self.buffer[k * self.frame_hop - self.n_fft // 2 - base : k * self.frame_hop + self.n_fft // 2 - base]
                               for k in todo])
            for k, column in zip(todo, self._mel_db(frames)):
                self.cache[k] = column
        padded = np.pad(audio, (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        edge = self._mel_db(np.stack([padded[t * self.frame_hop : t * self.frame_hop + self.n_fft] for t in self.edge]))
        db = np.empty((self.config.n_mels, self.config.n_frames))
        db[:, self.interior] = np.stack([self.cache[first + t] for t in self.interior], axis=1)
        db[:, self.edge] = edge.T
        return finish_features(db[None], self.config)[0]

    def _mel_db(self, frames: np.ndarray) -> np.ndarray:
        """dB mel (n, n_mels) of raw frames (n, n_fft)."""
        self.frames_computed += len(frames)
        spectrum = np.fft.rfft(frames * self.window_fn, axis=-1)
        return mel_db((spectrum.real**2 + spectrum.imag**2).T, self.config).T

    def _forget(self, next_start: int) -> None:
        """Drop audio and cached frames that no later window can use."""
        keep_from = max(0, next_start - self.n_fft)
        if keep_from > self.offset:
            self.buffer = self.buffer[keep_from - self.offset :]
            self.offset = keep_from
        oldest = next_start // self.frame_hop
        for k in [k for k in self.cache if k < oldest]:
            del self.cache[k]


@dataclass(frozen=True)
class DetectorConfig:
    """hop_s: seconds between windows; smooth_s: posterior moving-average length; threshold: the
    default per-class score threshold, thresholds: per-class overrides {label: threshold};
    refractory_s: minimum seconds between two detections; ignore: labels never reported."""

    hop_s: float = 0.1
    smooth_s: float = 0.3
    threshold: float = 0.6
    thresholds: dict[str, float] = field(default_factory=dict)
    refractory_s: float = 1.0
    ignore: tuple[str, ...] = FILLER_LABELS

    def __post_init__(self) -> None:
        if not self.hop_s > 0 or self.smooth_s < 0 or self.refractory_s < 0:
            raise ValueError(f"detector: need hop > 0, smooth >= 0 and refractory >= 0 seconds, got {self.hop_s}, {self.smooth_s}, {self.refractory_s}")
        bad = {k: v for k, v in {"default": self.threshold, **self.thresholds}.items() if not 0 < v <= 1}
        if bad:
            raise ValueError(f"detector: thresholds must be in (0, 1], got {bad}")

    @property
    def smooth_windows(self) -> int:
        return max(1, int(round(self.smooth_s / self.hop_s)))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ignore"] = list(self.ignore)
        return data


class Detector:
    """Posterior smoothing + per-class thresholds + refractory period (see the module doc)."""

    def __init__(self, labels: list[str], config: DetectorConfig, sample_rate: int, clip_samples: int) -> None:
        unknown = sorted(set(config.thresholds) - set(labels))
        if unknown:
            raise ValueError(f"detector: thresholds given for {unknown}, which are not among the model's classes {labels}")
        self.labels, self.config, self.rate, self.clip = labels, config, sample_rate, clip_samples
        self.thr = np.array([config.thresholds.get(name, config.threshold) for name in labels])
        self.active = np.array([name not in config.ignore for name in labels])
        if not self.active.any():
            raise ValueError(f"detector: every class of the model is ignored ({labels})")
        self.recent: deque[tuple[int, np.ndarray]] = deque(maxlen=config.smooth_windows)
        self.event: dict[str, Any] | None = None
        self.last_peak_s = -np.inf
        self.suppressed = 0

    def update(self, start: int, probs: np.ndarray) -> list[dict[str, Any]]:
        """Feed one window's posteriors; returns the detections this closes (0 or 1)."""
        self.recent.append((start, np.asarray(probs, dtype=np.float64)))
        smooth = np.mean([p for _, p in self.recent], axis=0)
        centre = int(np.mean([s for s, _ in self.recent]))  # the smoothed score describes these windows
        scores = np.where(self.active, smooth, -1.0)
        best = int(np.argmax(scores))
        hit = scores[best] >= self.thr[best]
        out = []
        if self.event is not None and (not hit or best != self.event["index"]):
            out = self._close()
        if hit:
            if self.event is None:
                self.event = {"index": best, "first": centre, "last": centre, "peak": scores[best]}
            else:
                self.event["last"], self.event["peak"] = centre, max(self.event["peak"], scores[best])
        return out

    def finish(self) -> list[dict[str, Any]]:
        return self._close() if self.event is not None else []

    def _close(self) -> list[dict[str, Any]]:
        event, self.event = self.event, None
        start = (event["first"] + event["last"]) / 2 / self.rate
        if start - self.last_peak_s < self.config.refractory_s:
            self.suppressed += 1
            return []
        self.last_peak_s = start
        return [{"label": self.labels[event["index"]], "start_s": round(start, 3), "end_s": round(start + self.clip / self.rate, 3),
                 "score": round(float(event["peak"]), 4), "span_s": [round(event["first"] / self.rate, 3), round(event["last"] / self.rate, 3)]}]


def detector_config_from(predictor: Predictor, overrides: dict[str, Any]) -> DetectorConfig:
    """The detector settings stored in the model's metadata by `device calibrate`, updated by explicit options."""
    stored = dict(predictor.meta.extra.get("detector", {}) or {})
    known = set(DetectorConfig.__dataclass_fields__)
    settings = {k: v for k, v in stored.items() if k in known}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if "ignore" in settings:
        settings["ignore"] = tuple(settings["ignore"])
    return DetectorConfig(**settings)


def listen(predictor: Predictor, chunks: Iterable[np.ndarray], config: DetectorConfig,
           on_detection: Callable[[dict[str, Any]], None] | None = None, batch_windows: int = 16) -> dict[str, Any]:
    """Run front-end, model and detector over a stream of sample chunks; returns a summary with all detections.

    Windows completed by one chunk are classified in one call (at most `batch_windows` at a time).
    """
    features = predictor.feature_config
    hop = int(round(config.hop_s * features.sample_rate))
    front = StreamingFrontEnd(features, hop)
    detector = Detector(predictor.labels, config, features.sample_rate, features.clip_samples)
    detections: list[dict[str, Any]] = []
    timings = {"features_s": 0.0, "model_s": 0.0}
    n_samples = n_windows = 0

    def handle(starts: list[int], feats: np.ndarray) -> None:
        nonlocal n_windows
        for i in range(0, len(starts), batch_windows):
            tic = time.perf_counter()
            probs = predictor.predict_proba(feats[i : i + batch_windows])
            timings["model_s"] += time.perf_counter() - tic
            for start, p in zip(starts[i : i + batch_windows], probs):
                n_windows += 1
                for det in detector.update(start, p):
                    detections.append(det)
                    if on_detection:
                        on_detection(det)

    for chunk in chunks:
        n_samples += len(chunk)
        tic = time.perf_counter()
        starts, feats = front.push(chunk)
        timings["features_s"] += time.perf_counter() - tic
        handle(starts, feats)
    tic = time.perf_counter()
    starts, feats = front.flush()
    timings["features_s"] += time.perf_counter() - tic
    handle(starts, feats)
    for det in detector.finish():
        detections.append(det)
        if on_detection:
            on_detection(det)
    duration = n_samples / features.sample_rate
    compute = timings["features_s"] + timings["model_s"]
    counts = {name: sum(d["label"] == name for d in detections) for name in predictor.labels if name not in config.ignore}
    return {"duration_s": round(duration, 3), "windows": n_windows, "detections": len(detections), "per_class": counts,
            "suppressed_by_refractory": detector.suppressed, "features_s": round(timings["features_s"], 4),
            "model_s": round(timings["model_s"], 4), "real_time_factor": round(compute / duration, 5) if duration else None,
            "frames_computed": front.frames_computed, "detector": config.to_dict(), "events": detections}


# Audio sources ----------------------------------------------------------------------------------
def wav_chunks(path: str | Path, sample_rate: int, chunk_s: float = 0.5) -> Iterator[np.ndarray]:
    """Mono float32 blocks of a WAV file at `sample_rate`, read incrementally (PCM 16-bit; other formats read whole)."""
    path = Path(path)
    step = max(1, int(chunk_s * sample_rate))
    try:
        handle = wave.open(str(path), "rb")
    except (wave.Error, EOFError, OSError):
        handle = None
    if handle is None or handle.getsampwidth() != 2:
        if handle is not None:
            handle.close()
        samples, _ = read_wav(path, expected_rate=sample_rate)
        for i in range(0, len(samples), step):
            yield samples[i : i + step]
        return
    with handle:
        if handle.getframerate() != sample_rate:
            read_wav(path, expected_rate=sample_rate)  # raises the standard message
        channels = handle.getnchannels()
        declared = handle.getnframes() * channels * 2
        if path.stat().st_size < 44 + declared < 0x7FFFFFFF:  # a PCM header is at least 44 bytes
            read_wav(path, expected_rate=sample_rate)  # raises the standard "truncated" message
        while True:
            raw = handle.readframes(step)
            if not raw:
                break
            data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
            yield data.reshape(-1, channels).mean(axis=1)


def pcm_chunks(stream: BinaryIO, fmt: str = "s16le", chunk_samples: int = 1600) -> Iterator[np.ndarray]:
    """Mono float32 blocks of raw PCM (s16le or f32le) from a binary stream such as stdin."""
    if fmt not in PCM_FORMATS:
        raise ValueError(f"--format {fmt!r}: choose one of {', '.join(PCM_FORMATS)}")
    dtype, scale = PCM_FORMATS[fmt]
    width = np.dtype(dtype).itemsize
    rest = b""
    while True:
        raw = stream.read(chunk_samples * width)
        if not raw:
            break
        raw = rest + raw
        usable = len(raw) // width * width
        raw, rest = raw[:usable], raw[usable:]
        if raw:
            yield np.frombuffer(raw, dtype=dtype).astype(np.float32) / scale


def microphone_chunks(sample_rate: int, chunk_s: float = 0.1, seconds: float | None = None) -> Iterator[np.ndarray]:
    """Blocks from the default microphone (needs the optional `sounddevice` package); `seconds` None = until Ctrl-C."""
    try:
        import sounddevice  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError("listening to a microphone needs the optional package `sounddevice` (pip install sounddevice); "
                         "or pass a WAV file, or raw PCM on stdin with `-`") from None
    block = int(chunk_s * sample_rate)
    total = None if seconds is None else int(seconds * sample_rate)
    done = 0
    with sounddevice.InputStream(samplerate=sample_rate, channels=1, dtype="float32", blocksize=block) as mic:
        try:
            while total is None or done < total:
                data, _ = mic.read(block)
                done += len(data)
                yield data[:, 0].copy()
        except KeyboardInterrupt:
            return


def stdin_binary() -> BinaryIO:
    return sys.stdin.buffer
