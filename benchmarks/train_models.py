"""Training benchmark: CPU training throughput of every model on a 1 s keyword clip's features,
and full-data test accuracy of cnn4 and resnet18 on the real samples in ../shared/data
(FSDD with a speaker-disjoint split, the Speech Commands sample, the ESC-50 single-fold sample).

    python benchmarks/train_models.py [--threads 1] [--epochs 30] [--resnet-width 16]

Writes benchmarks/results/train_models.{md,json} with the machine and date. Audio is read with
the device reader (`read_wav`), resampled to the preset's rate with scipy's polyphase filter and
turned into features with the shared front-end (`extract_batch`). The loaders here are small
stand-ins for the data layer's `prepare()`; they also feed tests/test_fsdd.py.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", ROOT / ".." / "shared" / "data")).resolve()


# Real-data loaders -------------------------------------------------------------------------------
def load_waves(paths: list[Path], rate: int) -> list[np.ndarray]:
    """Read WAV files and resample each to `rate` Hz (polyphase, scipy)."""
    from scipy.signal import resample_poly

    from edgedistill.device.audio import read_wav

    waves = []
    for path in paths:
        wave, sr = read_wav(path)
        if sr != rate:
            g = math.gcd(sr, rate)
            wave = resample_poly(wave, rate // g, sr // g).astype(np.float32)
        waves.append(wave)
    return waves


def featureset(root: Path, files: list[str], labels: list[str], split: list[str], speaker: list[str], preset: str, dataset: str):
    """A FeatureSet from relative WAV paths, class names per clip, split and speaker per clip."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import extract_batch, get_preset

    config = get_preset(preset)
    classes = sorted(set(labels), key=lambda c: (len(c), c) if c.isdigit() else (0, c))
    x = extract_batch(load_waves([root / f for f in files], config.sample_rate), config)
    return FeatureSet(x=x, y=np.array([classes.index(c) for c in labels]), labels=classes, config=config,
                      split=np.array(split, dtype=object), speaker=np.array(speaker, dtype=object),
                      path=np.array(files, dtype=object), dataset=dataset)


def load_fsdd(root: Path = SHARED / "fsdd", split: str = "speaker"):
    """FSDD, 10 digits, kws features. split "speaker": george test, jackson valid, the other four
    speakers train; "official": recordings 0-4 of every speaker and digit test, the rest train."""
    rows = list(csv.DictReader(open(root / "labels.csv")))
    if split == "official":
        roles = [r["official_split"] for r in rows]
    else:
        roles = [{"george": "test", "jackson": "valid"}.get(r["speaker"], "train") for r in rows]
    return featureset(root, [r["file"] for r in rows], [r["digit"] for r in rows], roles, [r["speaker"] for r in rows],
                      "kws", f"fsdd-{split}")


def load_speech_commands(root: Path = SHARED / "speech_commands"):
    """The Speech Commands sample, 30 words, kws features; official v0.01 lists (unlisted clips train)."""
    rows = list(csv.DictReader(open(root / "labels.csv")))
    role = {"test": "test", "validation": "valid"}
    return featureset(root, [r["file"] for r in rows], [r["word"] for r in rows],
                      [role.get(r["v0.01_split"], "train") for r in rows], [r["speaker_hash"] for r in rows], "kws", "speech_commands")


def load_esc50(root: Path = SHARED / "esc50_subset"):
    """The ESC-50 sample (fold 4, 5 clips x 50 classes), esc50 features; per class clip 0 test, 1-4 train."""
    rows = list(csv.DictReader(open(root / "meta" / "esc50_subset.csv")))
    seen: dict[str, int] = {}
    split = []
    for r in rows:
        seen[r["category"]] = seen.get(r["category"], -1) + 1
        split.append("test" if seen[r["category"]] == 0 else "train")
    return featureset(root / "audio", [r["filename"] for r in rows], [r["category"] for r in rows], split,
                      [r["src_file"] for r in rows], "esc50", "esc50_subset")


LOADERS = {"fsdd": load_fsdd, "fsdd-official": lambda: load_fsdd(split="official"), "speech_commands": load_speech_commands, "esc50": load_esc50}


# Measurements ------------------------------------------------------------------------------------
def throughput(name: str, kwargs: dict, shape=(40, 101), n_classes: int = 10, batch: int = 32, steps: int = 5) -> dict:
    """Training samples per second (forward, backward, Adam step) at `batch` on the CPU."""
    import torch

    from edgedistill.models import build_model, describe_model

    torch.manual_seed(0)
    model = build_model(name, n_classes, shape, **kwargs)
    size = describe_model(model, shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, *shape), torch.randint(0, n_classes, (batch,))
    model.train()

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - started
    return {"model": name, "kwargs": kwargs, **size, "samples_per_s": batch * steps / seconds}


def accuracy_run(feats, model: str, kwargs: dict, epochs: int, threads: int, seed: int = 0) -> dict:
    from edgedistill.evaluate import evaluate_model
    from edgedistill.runs import split_or_none
    from edgedistill.training import TrainConfig, train_model

    train, test, valid = feats.by_split("train"), feats.by_split("test"), split_or_none(feats, "valid")
    config = TrainConfig(min_steps=0, epochs=epochs, batch_size=32, threads=threads, seed=seed)
    started = time.perf_counter()
    trained = train_model(model, train.x, train.y, feats.labels, config, model_kwargs=kwargs,
                          valid=(valid.x, valid.y) if valid is not None else None)
    seconds = time.perf_counter() - started
    scores = evaluate_model(trained, test.x, test.y)
    return {"dataset": feats.dataset, "model": model, "kwargs": kwargs, "n_classes": feats.n_classes, "n_train": len(train),
            "n_test": len(test), "epochs": epochs, "accuracy": scores["accuracy"], "uar": scores["uar"], "train_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs for the accuracy runs (default 30)")
    parser.add_argument("--resnet-width", type=int, default=16, help="resnet18 width for the accuracy runs (64 = standard; default 16)")
    parser.add_argument("--datasets", default="fsdd,fsdd-official,speech_commands,esc50", help="comma-separated: " + ", ".join(LOADERS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="output folder")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    record = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                         f"{args.threads} thread(s)",
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"), "throughput": [], "accuracy": []}
    for name in ("cnn4", "resnet18", "dscnn-s", "dscnn-m", "dscnn-l", "ser-head"):
        for kwargs in ([{}, {"width": args.resnet_width}] if name == "resnet18" else [{}]):
            record["throughput"].append(throughput(name, kwargs, steps=2 if name in ("resnet18", "dscnn-l") and not kwargs else 5))
            print(record["throughput"][-1], flush=True)
    for dataset in args.datasets.split(","):
        feats = LOADERS[dataset]()
        for model, kwargs in (("cnn4", {}), ("resnet18", {"width": args.resnet_width})):
            record["accuracy"].append(accuracy_run(feats, model, kwargs, args.epochs, args.threads))
            print(record["accuracy"][-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_models.json").write_text(json.dumps(record, indent=2) + "\n")
    (args.out / "train_models.md").write_text(markdown(record))


def markdown(record: dict) -> str:
    lines = ["# Training benchmark", "", f"Machine: {record['machine']}. Date: {record['date']}.", "",
             "## Training throughput (CPU, batch 32, kws features 40x101, 10 classes)", "",
             "| model | options | parameters | MACs / clip | samples / s |", "|---|---|---:|---:|---:|"]
    lines += [f"| {t['model']} | {json.dumps(t['kwargs']) if t['kwargs'] else 'default'} | {t['params']:,} | "
              f"{t['macs'] / 1e6:.1f} M | {t['samples_per_s']:.1f} |" for t in record["throughput"]]
    lines += ["", "## Full-data test accuracy (train split only; Adam lr 3e-3 cosine, batch 32, SpecAugment)", "",
              "| dataset | model | options | classes | train / test clips | epochs | accuracy | UAR | train time (s) |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {a['dataset']} | {a['model']} | {json.dumps(a['kwargs']) if a['kwargs'] else 'default'} | {a['n_classes']} | "
              f"{a['n_train']} / {a['n_test']} | {a['epochs']} | {100 * a['accuracy']:.1f} % | {100 * a['uar']:.1f} % | "
              f"{a['train_seconds']:.0f} |" for a in record["accuracy"]]
    lines += ["", "Splits: FSDD speaker-disjoint (test george, valid jackson, train the other four speakers); Speech Commands "
              "sample: official v0.01 test/validation lists, unlisted clips train; ESC-50 sample: first clip of each class "
              "test, the other four train (a single fold, so no official split).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
