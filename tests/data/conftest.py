"""Small fixture copies of each dataset's official layout, written as tiny WAVs per test.

Each builder returns the root folder to pass to the loader. Clips are 0.3 s tones (class-
dependent pitch) so every file decodes; the tests corrupt some of them where needed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from edgedistill.data.synth import write_wav


def tone(path: Path, freq: float = 440.0, rate: int = 16000, seconds: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    write_wav(path, 0.3 * np.sin(2 * np.pi * freq * t), rate)
    return path


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_fsdd(root: Path, speakers=("george", "jackson", "lucas", "nicolas"), per=12) -> Path:
    for d in range(10):
        for s in speakers:
            for i in range(per):
                tone(root / "recordings" / f"{d}_{s}_{i}.wav", 200 + 60 * d, rate=8000)
    return root


def make_gsc(root: Path) -> Path:
    words = ["yes", "no", "up", "cat", "dog"]
    testing, validation = [], []
    for w, word in enumerate(words):
        for s in range(6):
            for n in range(2):
                rel = f"{word}/spk{s:04x}_nohash_{n}.wav"
                tone(root / rel, 300 + 50 * w)
                (testing if s == 0 else validation if s == 1 else []).append(rel)
    (root / "testing_list.txt").write_text("\n".join(testing) + "\n")
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    tone(root / "_background_noise_" / "white_noise.wav", 3000, seconds=20.0)
    return root


def make_us8k(root: Path) -> Path:
    classes = ["air_conditioner", "car_horn", "dog_bark"]
    rows = []
    for fold in range(1, 11):
        for c, name in enumerate(classes):
            file = f"{100 + fold}-{c}-0-0.wav"
            tone(root / "audio" / f"fold{fold}" / file, 300 + 100 * c)
            rows.append([file, 100 + fold, 0.0, 0.3, 1, fold, c, name])
    write_csv(root / "metadata" / "UrbanSound8K.csv",
              ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"], rows)
    return root


def make_esc50(root: Path, folds=(1, 2, 3, 4, 5), per_fold=2) -> Path:
    classes = [("dog", True), ("rain", False), ("crow", True)]
    rows = []
    for fold in folds:
        for target, (name, esc10) in enumerate(classes):
            for k in range(per_fold):
                src = 1000 * fold + 10 * target + k
                file = f"{fold}-{src}-A-{target}.wav"
                tone(root / "audio" / file, 300 + 100 * target)
                rows.append([file, fold, target, name, esc10, src, "A"])
    write_csv(root / "meta" / "esc50.csv", ["filename", "fold", "target", "category", "esc10", "src_file", "take"], rows)
    return root


def make_iemocap(root: Path) -> Path:
    emotions = ["neu", "hap", "exc", "ang", "sad", "fru", "xxx"]
    for session in range(1, 6):
        dialog = f"Ses0{session}F_impro01"
        lines = []
        for k, emo in enumerate(emotions):
            for gender in "FM":
                utt = f"{dialog}_{gender}{k:03d}"
                tone(root / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt}.wav", 300 + 40 * k)
                lines.append(f"[{k}.0 - {k}.9]\t{utt}\t{emo}\t[2.5000, 2.5000, 2.5000]")
        path = root / f"Session{session}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("% header line\n\n" + "\n".join(lines) + "\n")
    return root


def make_emodb(root: Path) -> Path:
    for speaker in ["03", "08", "09", "10", "11", "12"]:
        for k, code in enumerate("WLEAFTN"):
            tone(root / "wav" / f"{speaker}a0{k}{code}a.wav", 200 + 50 * k, rate=22050)
    return root


def make_ravdess(root: Path, actors=range(1, 11)) -> Path:
    """Speech files of each actor: every emotion at normal intensity, statement 01, repetition 01
    (strong intensity too for emotion 05), plus one song file and one video-only name to skip."""
    for actor in actors:
        folder = root / f"Actor_{actor:02d}"
        for emotion in range(1, 9):
            tone(folder / f"03-01-{emotion:02d}-01-01-01-{actor:02d}.wav", 200 + 40 * emotion, rate=48000)
        tone(folder / f"03-01-05-02-01-01-{actor:02d}.wav", 400, rate=48000)
        tone(folder / f"03-02-03-01-01-01-{actor:02d}.wav", 500, rate=48000)  # song
    return root


def make_cremad(root: Path, actors=range(1001, 1011), nested=True) -> Path:
    folder = root / "AudioWAV" if nested else root
    for actor in actors:
        for k, emotion in enumerate(["ANG", "DIS", "FEA", "HAP", "NEU", "SAD"]):
            tone(folder / f"{actor}_DFA_{emotion}_XX.wav", 200 + 40 * k)
            tone(folder / f"{actor}_IEO_{emotion}_{'HI' if k % 2 else 'LO'}.wav", 210 + 40 * k)
    return root


def make_tess(root: Path) -> Path:
    """The release's folder names, inconsistent case and surprise spellings included."""
    folders = {"OAF": ["angry", "disgust", "Fear", "happy", "neutral", "Pleasant_surprise", "Sad"],
               "YAF": ["angry", "disgust", "fear", "happy", "neutral", "pleasant_surprised", "sad"]}
    for speaker, emotions in folders.items():
        for k, emotion in enumerate(emotions):
            for word in ["back", "bar", "base", "bath", "bean"]:
                suffix = "ps" if "surprise" in emotion.lower() else emotion.lower()
                tone(root / "TESS Toronto emotional speech set data" / f"{speaker}_{emotion}" / f"{speaker}_{word}_{suffix}.wav",
                     200 + 40 * k, rate=24414)
    return root


def make_folder(root: Path) -> Path:
    for c, name in enumerate(["bark", "meow"]):
        for k in range(10):
            sub = "deep/er" if k % 2 else ""
            suffix = ".flac" if k == 3 else ".wav"
            path = root / name / sub / f"clip{k}{suffix}"
            if suffix == ".wav":
                tone(path, 300 + 300 * c)
            else:
                import soundfile

                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(str(path), 0.3 * np.sin(np.arange(4800) * 0.2), 16000)
    return root


@pytest.fixture
def layout(tmp_path):
    """layout(name, **builder_options) -> root of a fresh fixture copy of that dataset's layout."""
    builders = {"fsdd": make_fsdd, "gsc": make_gsc, "us8k": make_us8k, "esc50": make_esc50,
                "iemocap": make_iemocap, "emodb": make_emodb, "folder": make_folder, "ravdess": make_ravdess,
                "cremad": make_cremad, "tess": make_tess}
    return lambda name, **kw: builders[name](tmp_path / name, **kw)


@pytest.fixture
def write_tone():
    """write_tone(path, freq=440, rate=16000, seconds=0.3) writes a 16-bit tone WAV."""
    return tone


@pytest.fixture
def write_table():
    """write_table(path, header, rows) writes a CSV."""
    return write_csv


@pytest.fixture
def probe_accuracy():
    """probe_accuracy(featureset) -> test accuracy of a ridge probe trained on its train split."""
    return _probe_accuracy


def _probe_accuracy(fs) -> float:
    """Test accuracy of ridge regression on per-coefficient mean/std and low temporal FFT bins."""
    def pool(x):
        x = np.asarray(x)
        return np.concatenate([x.mean(-1), x.std(-1), np.abs(np.fft.rfft(x, axis=-1))[:, :, :8].reshape(len(x), -1)], 1)

    train, test = fs.by_split("train"), fs.by_split("test")
    a, b = pool(train.x), pool(test.x)
    mu, sd = a.mean(0), a.std(0) + 1e-6
    a, b = (a - mu) / sd, (b - mu) / sd
    w = np.linalg.solve(a.T @ a + 10 * np.eye(a.shape[1]), a.T @ np.eye(fs.n_classes)[train.y])
    return float((np.argmax(b @ w, 1) == test.y).mean())
