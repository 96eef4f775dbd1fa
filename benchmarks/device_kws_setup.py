"""Host-side artifacts for the streaming and on-device learning benchmarks (device_stream.py, device_learn.py).

Builds, in a work folder (default /tmp/edgedistill-device-bench; every stage is skipped when its
output exists), from synthesised keywords:
  synth/        10 words x 100 clips, 10 speakers (espeak-ng): yes no up down left right (the old
                keywords), stop (the word the user adds on the device), on off go (-> `_unknown_`);
  silence/      150 one-second `_silence_` clips: generated coloured noise and Speech Commands
                background-noise snippets (when ../shared/data is there), random gains;
  feat_all/     features of all 9 classes (old 6 + _unknown_ + _silence_ + stop), speaker-disjoint splits;
  feat_old/     the same without `stop` (what the host distils and trains on);
  coreset/      RFAD coreset of feat_old (10 per class), rf/ its random-feature nets exported;
  krr_old/      the device model: `device train krr` on the coreset;
  cnn_run/, cnn_export/  cnn4 trained on feat_old, exported to ONNX and TFLite, fp32 and int8;
  gan/, gan_export/      a small GAN generator of feat_old (few CPU steps), exported for `device sample`.
Usage: python benchmarks/device_kws_setup.py [WORK] [--gan-steps N]
"""

from __future__ import annotations

import argparse
import csv
import wave
import subprocess
import sys
from pathlib import Path

import numpy as np

OLD = ["yes", "no", "up", "down", "left", "right"]
NEW = "stop"
UNKNOWN = ["on", "off", "go"]
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
EXE = str(Path(sys.executable).parent / "edgedistill")


def run(*args: str) -> None:
    print("+ edgedistill", " ".join(args), flush=True)
    subprocess.run([EXE, *args], check=True)


def coloured_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White-to-brown noise: white noise shaped by a random spectral slope, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    shaped = np.fft.irfft(spectrum * freqs ** (-rng.uniform(0, 1)), n)
    return shaped / (np.sqrt(np.mean(shaped**2)) + 1e-12)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """16-bit PCM mono WAV."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.round(np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def make_silence(out: Path, n: int = 150, seed: int = 0) -> None:
    from edgedistill.device.audio import read_wav

    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    noise_files = sorted((SHARED / "speech_commands" / "_background_noise_").glob("*.wav"))
    recordings = [read_wav(p)[0] for p in noise_files]
    for i in range(n):
        if recordings and i % 2:
            rec = recordings[i // 2 % len(recordings)]
            start = rng.integers(0, len(rec) - 16000)
            clip = rec[start : start + 16000] / (np.sqrt(np.mean(rec[start : start + 16000] ** 2)) + 1e-9)
        else:
            clip = coloured_noise(rng, 16000)
        gain = 10 ** rng.uniform(-3.5, -1)  # RMS 3e-4 .. 0.1
        write_wav(out / f"silence_{i:03d}.wav", (gain * clip).astype(np.float32), 16000)


def make_features(work: Path) -> None:
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.device.audio import read_wav
    from edgedistill.device.features import extract_batch, get_preset

    config = get_preset("kws")
    labels = OLD + ["_unknown_", "_silence_", NEW]
    waves, y, split, speaker, paths = [], [], [], [], []
    with open(work / "synth" / "manifest.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            label = "_unknown_" if row["label"] in UNKNOWN else row["label"]
            waves.append(read_wav(work / "synth" / row["path"])[0])
            y.append(labels.index(label))
            split.append(row["split"])
            speaker.append(row["speaker"])
            paths.append(row["path"])
    rng = np.random.default_rng(0)
    for p in sorted((work / "silence").glob("*.wav")):
        waves.append(read_wav(p)[0])
        y.append(labels.index("_silence_"))
        split.append(str(rng.choice(["train", "valid", "test"], p=[0.8, 0.1, 0.1])))
        speaker.append("noise")
        paths.append(str(p.relative_to(work)))
    x = extract_batch(waves, config)
    y, split, speaker, paths = np.array(y), np.array(split, dtype=object), np.array(speaker, dtype=object), np.array(paths, dtype=object)
    full = FeatureSet(x=x, y=y, labels=labels, config=config, split=split, speaker=speaker, path=paths,
                      duration=np.full(len(y), 1.0), dataset="synth-kws")
    full.save(work / "feat_all")
    keep = y != labels.index(NEW)
    FeatureSet(x=x[keep], y=y[keep], labels=labels[:-1], config=config, split=split[keep], speaker=speaker[keep], path=paths[keep],
               duration=np.full(int(keep.sum()), 1.0), dataset="synth-kws-old").save(work / "feat_old")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default="/tmp/edgedistill-device-bench")
    parser.add_argument("--gan-steps", type=int, default=300)
    parser.add_argument("--only", default="", help="comma-separated stages")
    opts = parser.parse_args()
    work, gan_steps = Path(opts.work), opts.gan_steps
    work.mkdir(parents=True, exist_ok=True)
    stages = [
        ("synth", lambda: run("data", "synth", str(work / "synth"), "--words", ",".join(OLD + [NEW] + UNKNOWN), "--per-word", "100",
                              "--speakers", "10", "--seed", "0")),
        ("silence", lambda: make_silence(work / "silence")),
        ("feat_old", lambda: make_features(work)),
        ("coreset", lambda: run("distill", "rfad", str(work / "feat_old"), "--ipc", "10", "--steps", "150", "--init", "real", "--no-time-pool",
                                "--out", str(work / "coreset"), "--quiet")),
        ("rf", lambda: run("export", str(work / "coreset"), "--target", "onnx", "--out", str(work / "rf"))),
        ("krr_old", lambda: run("device", "train", "krr", str(work / "rf"), "--data", str(work / "coreset"), "--eval", str(work / "feat_old"),
                                "--eval-split", "test", "--out", str(work / "krr_old"))),
        ("cnn_run", lambda: run("train", str(work / "feat_old"), "--model", "cnn4", "--epochs", "12", "--min-steps", "0",
                                "--out", str(work / "cnn_run"))),
        ("cnn_export", lambda: run("export", str(work / "cnn_run"), "--target", "onnx,tflite", "--int8", "--calibration", str(work / "feat_old"),
                                   "--out", str(work / "cnn_export"))),
        ("gan", lambda: run("distill", "gan", str(work / "feat_old"), "--steps", str(gan_steps), "--width", "64", "--out", str(work / "gan"))),
        ("gan_export", lambda: run("export", str(work / "gan"), "--target", "onnx", "--out", str(work / "gan_export"))),
    ]
    only = [name for name in opts.only.split(",") if name]
    for name, stage in stages:
        if only and name not in only:
            continue
        if (work / name).exists():
            print(f"= {name} exists", flush=True)
            continue
        stage()


if __name__ == "__main__":
    main()
