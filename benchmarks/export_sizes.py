"""Export benchmark: file sizes, conversion time, max |diff| vs torch and fp32 vs int8 accuracy
of ONNX and TFLite exports of a cnn4 trained on FSDD (Free Spoken Digit Dataset).

Data: /work/shared/data/fsdd (or EDGEDISTILL_SHARED_DATA/fsdd), official split (indices 0-4
test, 5-49 train); audio read with edgedistill.device.audio.read_wav, resampled 8 -> 16 kHz
(scipy resample_poly) and turned into kws MFCCs with edgedistill.device.features.extract_batch.
int8 calibration uses `--calib-per-class` random train clips per class: a stand-in of the size
of a distilled coreset. Writes benchmarks/results/export_sizes.{md,json}.

Usage: python benchmarks/export_sizes.py [--epochs 8] [--width 8] [--calib-per-class 10]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def load_fsdd(root: Path, config):
    from scipy.signal import resample_poly

    from edgedistill.device.audio import read_wav
    from edgedistill.device.features import extract_batch

    rows = list(csv.DictReader((root / "labels.csv").open()))
    waves, y, split = [], [], []
    for row in rows:
        wave, rate = read_wav(root / row["file"])
        if rate != config.sample_rate:
            wave = resample_poly(wave, config.sample_rate, rate).astype(np.float32)
        waves.append(wave)
        y.append(int(row["digit"]))
        split.append(row["official_split"])
    x = extract_batch(waves, config)
    return x, np.array(y), np.array(split)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8, help="cnn4 training epochs (default 8)")
    parser.add_argument("--width", type=int, default=8, help="cnn4 base width (default 8)")
    parser.add_argument("--calib-per-class", type=int, default=10, help="int8 calibration clips per class (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from edgedistill.export.api import export_module, read_export
    from edgedistill.features import get_preset
    from edgedistill.training import TrainConfig, train_model

    torch.set_num_threads(1)
    data_root = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "fsdd"
    if not data_root.is_dir():
        raise SystemExit(f"FSDD not found at {data_root}; set EDGEDISTILL_SHARED_DATA")
    config = get_preset("kws")
    start = time.perf_counter()
    x, y, split = load_fsdd(data_root, config)
    labels = [str(d) for d in range(10)]
    print(f"features {x.shape} in {time.perf_counter() - start:.1f} s")
    train, test = split == "train", split == "test"
    tc = TrainConfig(min_steps=0, epochs=args.epochs, batch_size=64, threads=1, seed=args.seed, device="auto")
    start = time.perf_counter()
    trained = train_model("cnn4", x[train], y[train], labels, tc, model_kwargs={"width": args.width}, progress=True)
    train_s = time.perf_counter() - start
    rng = np.random.default_rng(args.seed)
    xtr, ytr = x[train], y[train]
    calib = np.concatenate([xtr[rng.choice(np.flatnonzero(ytr == c), args.calib_per_class, replace=False)] for c in range(10)])
    meta = {"feature_config": config, "labels": labels, "seed": args.seed, "source": {"dataset": "fsdd", "model": "cnn4"}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("onnx", "tflite"):
            start = time.perf_counter()
            out = export_module(trained.module, config.shape, Path(tmp) / fmt, formats=fmt, int8=True, calibration=calib,
                                meta=meta, validate_on=(x[test], y[test]), min_int8_agreement=0.0)
            seconds = time.perf_counter() - start
            for name, entry in read_export(out).extra["files"].items():
                v = entry["validation"]
                rows.append({"file": name, "format": fmt, "precision": entry["precision"], "int8_method": entry.get("int8", ""),
                             "batch": entry["batch"], "size_bytes": entry["size_bytes"], "export_seconds_both_precisions": round(seconds, 1),
                             "max_abs_diff": v["max_abs_diff"], "top1_agreement": v["top1_agreement"], "accuracy": v["accuracy"],
                             "torch_accuracy": v["torch_accuracy"], "n_test": v["n"]})
    result = {"machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores (shared), 1 torch thread",
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "data": "FSDD official split, kws MFCC (40x101), 8->16 kHz",
              "model": f"cnn4 width {args.width}, {args.epochs} epochs, train {train_s:.0f} s", "n_train": int(train.sum()),
              "calibration": f"{args.calib_per_class} random train clips per class ({len(calib)} total)", "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export_sizes.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Export sizes and accuracy (cnn4 on FSDD)", "", f"- machine: {result['machine']}", f"- date: {result['date']}",
             f"- data: {result['data']}; {result['n_train']} train / {rows[0]['n_test']} test clips", f"- model: {result['model']}",
             f"- int8 calibration: {result['calibration']}", "",
             "| file | batch | size (bytes) | export s (fp32+int8) | max abs diff vs torch | top-1 agreement | accuracy | torch accuracy |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['file']} | {r['batch']} | {r['size_bytes']} | {r['export_seconds_both_precisions']} | {r['max_abs_diff']:.2e} | "
                     f"{r['top1_agreement']:.3f} | {r['accuracy']:.3f} | {r['torch_accuracy']:.3f} |")
    (RESULTS / "export_sizes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
