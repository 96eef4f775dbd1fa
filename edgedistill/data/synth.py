"""Offline spoken-keyword dataset: espeak-ng voices with speaker-like variation and noise.

`synthesize(out, words, per_word, seed)` writes OUT/{word}/{speaker}_{n}.wav (16-bit PCM mono)
plus OUT/manifest.csv (path, label, split, speaker, voice, rate, pitch, snr_db) and
OUT/synth.json (the settings). A "speaker" is an espeak voice (accent + variant) with its own
base speaking rate, pitch and pitch range; each clip jitters them, shifts the word in time,
scales it and adds background noise at a random SNR (the user's noise recordings, e.g. Speech
Commands' `_background_noise_`, or generated coloured noise). Splits are speaker-disjoint.
Every clip draws from its own seeded generator: the same seed gives the same bytes, in any
worker layout. `render_fresh` speaks given (word, speaker) pairs the same way (or the bare
utterance) for callers that place words themselves; `read_cast` reads a folder's speakers back.
Must not import torch.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from edgedistill.artifacts import check_output
from edgedistill.data.datasets._common import as_list
from edgedistill.data.splits import group_split

CHUNK = 100  # clips per fresh synthesis process (fixed: the bytes must not depend on `workers`)
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: an espeak voice with a base rate (words/min), pitch and range (0-100)."""

    name: str
    voice: str
    rate: float
    pitch: float
    pitch_range: float


def synthesize(out: str | Path, words: str | Sequence[str] | None = None, per_word: int = 60, seed: int = 0, *,
               speakers: int | None = None, noise_dir: str | Path | None = None,
               snr_db: tuple[float, float] = (10.0, 30.0), sample_rate: int = 16000, clip_seconds: float = 1.0,
               workers: int = 1, progress: bool = True) -> Path:
    """Write `per_word` clips of each word to a new folder `out` and return it.

    words: list or "a,b,c" (default the 10 Speech Commands keywords). speakers: number of
    synthetic speakers (default min(voices, max(10, per_word // 3))); clip n of a word is
    spoken by speaker n mod speakers. noise_dir: WAV/FLAC/OGG noise recordings (default:
    generated white-to-brown coloured noise). snr_db: (low, high) uniform SNR range in dB.
    Splits: whole speakers to test (10 %) and valid (10 %), seeded.
    """
    from edgedistill.data.espeak import english_voices

    out = Path(out)
    check_output(out)
    words = as_list(words) or list(KEYWORDS)
    if per_word < 1 or not words or len(set(words)) != len(words) or any("/" in w or not w.strip() for w in words):
        raise ValueError(f"need per_word >= 1 and distinct, non-empty words without '/', got per_word={per_word}, words={words}")
    if not snr_db[0] <= snr_db[1]:
        raise ValueError(f"snr_db must be (low, high) with low <= high, got {snr_db}")
    voices = english_voices()
    n_speakers = min(len(voices), speakers or max(10, per_word // 3))
    cast = make_speakers(voices, n_speakers, seed)
    splits = dict(zip([s.name for s in cast], group_split([""] * n_speakers, [s.name for s in cast], 0.1, 0.1, seed)))
    noise = _load_noise(Path(noise_dir), sample_rate) if noise_dir else []
    jobs = [(w, word, n, cast[n % n_speakers]) for w, word in enumerate(words) for n in range(per_word)]
    settings = dict(seed=seed, sample_rate=sample_rate, clip_seconds=clip_seconds, snr_db=tuple(snr_db))
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=_parent(out)))
    try:
        rows = _render_all(tmp, jobs, noise, settings, workers, progress)
        _write_manifest(tmp, rows, splits)
        info = {"words": words, "per_word": per_word, "speakers": [asdict(s) for s in cast], "noise_dir": str(noise_dir or ""),
                "noise": "recordings" if noise else "coloured", **settings, "espeakng_loader": _package_version()}
        (tmp / "synth.json").write_text(json.dumps(info, indent=2) + "\n")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def make_speakers(voices: Sequence[str], n: int, seed: int) -> list[Speaker]:
    """`n` speakers on distinct voices, each with a seeded base rate, pitch and pitch range."""
    rng = np.random.default_rng([seed, 1])
    picks = rng.choice(len(voices), size=n, replace=False)
    return [Speaker(f"spk{k:03d}", voices[v], round(rng.uniform(130, 210), 1), round(rng.uniform(25, 75), 1),
                    round(rng.uniform(20, 80), 1)) for k, v in enumerate(picks)]


def read_cast(folder: str | Path) -> dict[str, tuple[Speaker, str]]:
    """The speakers of a folder `synthesize` wrote, with each one's split: {name: (Speaker, split)}."""
    folder = Path(folder)
    try:
        cast = [Speaker(**entry) for entry in json.loads((folder / "synth.json").read_text())["speakers"]]
        with open(folder / "manifest.csv", newline="") as handle:
            split = {row["speaker"]: row["split"] for row in csv.DictReader(handle)}
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{folder}: not a folder written by `edgedistill data synth` (synth.json, manifest.csv): {err}") from None
    return {s.name: (s, split[s.name]) for s in cast if s.name in split}


def render_clip(word: str, speaker: Speaker, rng: np.random.Generator, noise: list[np.ndarray], sample_rate: int,
                clip_seconds: float, snr_db: tuple[float, float]) -> tuple[np.ndarray, dict]:
    """One clip: float32 in [-1, 1] of clip_seconds at sample_rate, and its drawn parameters."""
    from edgedistill.features import fit_length

    speech, rate, pitch = speak(word, speaker, rng, sample_rate)
    n = int(round(sample_rate * clip_seconds))
    speech = fit_length(speech, n) if len(speech) >= n else speech
    speech = speech * (rng.uniform(0.25, 0.9) / max(float(np.abs(speech).max()), 1e-6))
    clip = np.zeros(n, dtype=np.float32)
    start = int(rng.integers(0, n - len(speech) + 1))
    clip[start : start + len(speech)] = speech
    snr = float(rng.uniform(*snr_db))
    background = _noise_segment(noise, n, rng)
    scale = np.sqrt(float(np.mean(speech**2)) / max(float(np.mean(background**2)), 1e-12) / 10 ** (snr / 10))
    clip += background * scale
    return np.clip(clip, -1.0, 1.0), {"rate": rate, "pitch": pitch, "snr_db": round(snr, 2)}


def speak(word: str, speaker: Speaker, rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, int, int]:
    """The bare utterance (float32 at sample_rate, silence trimmed) with this clip's jittered rate and pitch."""
    import soxr

    from edgedistill.data.espeak import ESPEAK_RATE, synthesize_word

    rate = int(np.clip(speaker.rate * (1 + rng.normal(0, 0.08)), 90, 300))
    pitch = int(np.clip(speaker.pitch + rng.normal(0, 6), 0, 99))
    speech = synthesize_word(word, speaker.voice, rate, pitch, int(speaker.pitch_range)).astype(np.float32) / 32768.0
    speech = soxr.resample(_trim_silence(speech), ESPEAK_RATE, sample_rate, quality="HQ").astype(np.float32)
    return speech, rate, pitch


def render_fresh(items: Sequence[tuple[str, Speaker]], seed: int, *, bare: bool = False, sample_rate: int = 16000,
                 clip_seconds: float = 1.0, snr_db: tuple[float, float] = (10.0, 30.0)) -> list[np.ndarray]:
    """Each (word, speaker) as a clip like `synthesize` writes (`render_clip`: clip_seconds, coloured
    noise) or, with `bare`, the utterance alone (`speak`). Rendered in one fresh process, item i
    drawing from its own generator [seed, i], so the samples depend only on the items and the seed."""
    import multiprocessing
    import sys

    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    with multiprocessing.get_context(method).Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(_render_items, (list(items), seed, bare, sample_rate, clip_seconds, tuple(snr_db)))


def _render_items(items: list, seed: int, bare: bool, sample_rate: int, clip_seconds: float, snr_db: tuple) -> list[np.ndarray]:
    from edgedistill.data import espeak

    if not espeak.fresh():
        raise RuntimeError("render_fresh must run in a fresh process (espeak-ng state would leak between calls)")
    espeak.seed(int(np.random.default_rng([seed, 2]).integers(2**31)))
    out = []
    for i, (word, speaker) in enumerate(items):
        rng = np.random.default_rng([seed, 3, i])
        out.append(speak(word, speaker, rng, sample_rate)[0] if bare else
                   render_clip(word, speaker, rng, [], sample_rate, clip_seconds, snr_db)[0])
    return out


def coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of 1/f^a noise, a drawn in [0, 2] (white to brown), float32 (unnormalised)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    return np.fft.irfft(spectrum / freqs ** (rng.uniform(0.0, 2.0) / 2), n).astype(np.float32)


def _trim_silence(samples: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > threshold * max(float(np.abs(samples).max()), 1e-9))
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


def _noise_segment(noise: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n-sample cut of a noise recording, or coloured noise (1/f^a, a in [0, 2])."""
    if noise:
        source = noise[int(rng.integers(len(noise)))]
        if len(source) > n:
            start = int(rng.integers(0, len(source) - n + 1))
            return source[start : start + n].astype(np.float32)
        return np.resize(source, n).astype(np.float32)
    return coloured_noise(n, rng)


def _load_noise(folder: Path, sample_rate: int) -> list[np.ndarray]:
    from edgedistill.data.audio import audio_files, load_audio

    files = audio_files(folder) if folder.is_dir() else []
    if not files:
        raise ValueError(f"{folder}: no noise recordings (.wav/.flac/.ogg) found; pass a folder of noise files or omit it")
    return [load_audio(path, sample_rate) for path in files]


def _render_all(tmp: Path, jobs: list, noise: list, settings: dict, workers: int, progress: bool) -> list[dict]:
    """Render fixed chunks of CHUNK clips, each in a fresh process (espeak-ng keeps state between
    utterances, see `edgedistill.data.espeak`), so the bytes depend only on the seed."""
    import multiprocessing
    import sys

    from edgedistill.progress import progress as progress_bar

    tasks = [(tmp, k, jobs[i : i + CHUNK], noise, settings) for k, i in enumerate(range(0, len(jobs), CHUNK))]
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    rows: list[dict] = []
    with progress_bar(len(jobs), "synthesising", enabled=progress) as bar, \
            multiprocessing.get_context(method).Pool(max(1, min(workers, len(tasks))), maxtasksperchild=1) as pool:
        for chunk_rows in pool.imap(_render_chunk, tasks):
            rows += chunk_rows
            bar.advance(len(chunk_rows))
    return rows


def _render_chunk(task: tuple) -> list[dict]:
    from edgedistill.data import espeak

    tmp, k, jobs, noise, settings = task
    if not espeak.fresh():
        raise RuntimeError("synthesis chunks must run in a fresh process (espeak-ng state would leak between chunks)")
    espeak.seed(int(np.random.default_rng([settings["seed"], k]).integers(2**31)))
    rows = []
    for w, word, n, speaker in jobs:
        rng = np.random.default_rng([settings["seed"], w, n])
        clip, drawn = render_clip(word, speaker, rng, noise, settings["sample_rate"], settings["clip_seconds"],
                                  settings["snr_db"])
        rel = f"{word}/{speaker.name}_{n:04d}.wav"
        (tmp / word).mkdir(exist_ok=True)
        write_wav(tmp / rel, clip, settings["sample_rate"])
        rows.append({"path": rel, "label": word, "speaker": speaker.name, "voice": speaker.voice, **drawn})
    return rows


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono WAV with the standard library (byte-identical for identical samples)."""
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())


def _write_manifest(folder: Path, rows: list[dict], splits: dict[str, str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["path", "label", "split", "speaker", "voice", "rate", "pitch", "snr_db"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "split": splits[row["speaker"]]})
    (folder / "manifest.csv").write_text(buffer.getvalue())


def _parent(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.parent


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("espeakng-loader")
    except PackageNotFoundError:
        return "unknown"
