"""Benchmark: active learning against random subsets (and coresets, when given) on the Free Spoken
Digit Dataset, with the `edgedistill.compare` runner (one AL trajectory per strategy and seed
through every budget). Writes the paper-form table (a section per model) and plot (a panel per
model) to benchmarks/results/<--name>.{md,csv,json,png}.

FSDD (../shared/data/fsdd, 8 kHz) is read with `device.audio.read_wav`, resampled to 16 kHz
(scipy `resample_poly`, 2/1) and turned into `kws` features with `device.features.extract_batch`;
the official split is kept (utterances 0-4 of every speaker and digit are the test set). To fit a
shared CPU, `--pool` keeps a class-balanced random subset of the train split (seeded).

    python benchmarks/compare_al.py --pool 1000 --epochs 12 --seeds 2            # compare_al_fsdd (older runner)
    python benchmarks/compare_al.py --pool 0 --budgets 60%,40%,30%,20% --seeds 3 --model cnn4,resnet18 \
        --width 16 --name compare_al_fsdd_full                                     # the paper's grid
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", ROOT.parent / "shared" / "data")) / "fsdd"


def fsdd_features(cache: Path, pool: int, seed: int) -> Path:
    """The FSDD feature cache at `cache` (built once): kws MFCCs, official split, train pool subset."""
    from scipy.signal import resample_poly

    from edgedistill.data.featureset import FeatureSet
    from edgedistill.device.audio import read_wav
    from edgedistill.features import extract_batch, get_preset

    if cache.exists():
        return cache
    config = get_preset("kws")
    rows = list(csv.DictReader((DATA / "labels.csv").open()))
    waves = []
    for row in rows:
        wave, rate = read_wav(DATA / row["file"])
        waves.append(resample_poly(wave, config.sample_rate, rate).astype(np.float32))
    y = np.array([int(r["digit"]) for r in rows])
    split = np.array([r["official_split"] for r in rows], dtype=object)
    keep = np.ones(len(rows), dtype=bool)
    if pool:
        from edgedistill.runs import balanced_indices

        train = np.flatnonzero(split == "train")
        chosen = train[balanced_indices(y[train], 10, pool // 10, seed)]
        keep = (split == "test") | np.isin(np.arange(len(rows)), chosen)
    index = np.flatnonzero(keep)
    feats = FeatureSet(x=extract_batch([waves[i] for i in index], config), y=y[index], labels=[str(d) for d in range(10)],
                       config=config, split=split[index], speaker=np.array([rows[i]["speaker"] for i in index], dtype=object),
                       path=np.array([rows[i]["file"] for i in index], dtype=object), dataset="fsdd")
    return feats.save(cache, seed=seed, extra={"note": f"FSDD official split, train pool {pool or 'all'} (seed {seed})"})


def model_title(model: str, width: int, feats) -> str:
    """A table header naming the model, its width and its size per clip (resnet18's standard width is 64)."""
    from edgedistill.models import build_model, describe_model

    shape = tuple(feats.x.shape[1:])
    macs = describe_model(build_model(model, feats.n_classes, shape, width=width), shape)["macs"]
    standard = "; standard width 64: ~600 M" if model == "resnet18" and width != 64 else ""
    return f"{model}, width {width} ({macs / 1e6:.1f} M MACs per clip{standard})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/edgedistill-bench/compare_al"),
                        help="feature cache and resumable job results (default: %(default)s)")
    parser.add_argument("--pool", type=int, default=1000, help="train clips kept, class-balanced (0: all 2700)")
    parser.add_argument("--strategies", default="entropy,variation-ratios,bald,random")
    parser.add_argument("--budgets", default="40%,20%")
    parser.add_argument("--ipc", default="2,5", help="samples per class of the tiny-budget rows")
    parser.add_argument("--coreset", action="append", default=[], help="coreset artifact(s) to add as rows")
    parser.add_argument("--model", default="cnn4", help="comma-separated models, run one after the other")
    parser.add_argument("--width", type=int, default=16, help="model width (channels of the first block; "
                        "resnet18's default 64 is ~600 M MACs per clip, width 16 is 37.6 M)")
    parser.add_argument("--mc-passes", type=int, default=10, help="BALD MC-dropout passes")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--min-steps", type=int, default=150, help="optimiser steps at least, for every model")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: report every finished job under --work (e.g. extra seeds run for some rows)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="compare_al_fsdd", help="result file stem under --results")
    parser.add_argument("--note", action="append", default=[], help="a line added to the report's notes (repeatable)")
    args = parser.parse_args()

    from edgedistill.compare import CompareSettings, check_jobs, finished_records, plan_jobs, run_comparison
    from edgedistill.compare_report import summarise, write_tables
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import load_coreset
    from edgedistill.training import TrainConfig

    feat_dir = fsdd_features(args.work / f"fsdd-kws-pool{args.pool}", args.pool, seed=0)
    feats = FeatureSet.load(feat_dir)
    jobs = plan_jobs(args.strategies.split(","), args.budgets.split(","), [int(v) for v in args.ipc.split(",") if v],
                     args.coreset, args.seeds, feats.n_classes)
    check_jobs(feats, jobs)
    train_config = TrainConfig(epochs=args.epochs, min_steps=args.min_steps, batch_size=64)
    tables, seconds = {}, {}
    for model in args.model.split(","):
        settings = CompareSettings(model=model, model_kwargs={"width": args.width}, train_config=train_config.to_dict(),
                                   al={"rounds": args.rounds, "mc_passes": args.mc_passes, "warm_start": False},
                                   feature_id=feats.feature_id, manifest_hash=feats.manifest_hash())
        out = args.work / (f"report-pool{args.pool}-{model}" + ("" if args.width == 16 and model == "cnn4" else f"-w{args.width}"))
        if args.report_only:
            records = finished_records(out)
        else:
            records = run_comparison(feat_dir, out, jobs, settings, workers=args.workers, threads=args.threads,
                                     on_done=lambda r: print(f"{model} {r['key']} ({r.get('seconds', 0):.0f} s): " + ", ".join(
                                         f"{p['accuracy']:.3f} at {p['n_samples']}" for p in r.get("points") or [r]), flush=True))
        if records:
            tables[model_title(model, args.width, feats)] = summarise(records)
            seconds[model] = sum(r.get("seconds", 0) for r in records)
    counts = {s: int((feats.split == s).sum()) for s in ("train", "test")}
    notes = [f"machine: {platform.machine()}, {os.cpu_count()} CPU cores shared, {platform.python_version()}, "
             f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d} (UTC); device {train_config.device}, {args.threads} torch thread(s), "
             f"{args.workers} worker(s)",
             f"data: FSDD (shared/data/fsdd) resampled to 16 kHz, kws MFCC 40x101; official split; train pool "
             f"{counts['train']} clips" + (" (class-balanced subset, seed 0)" if args.pool else " (the whole train split)")
             + f", test {counts['test']} clips",
             f"models {args.model} at width {args.width} (resnet18 width 16: 37.6 M MACs per clip instead of ~600 M at "
             f"the standard 64); {args.epochs} epochs (at least {args.min_steps} steps), batch 64, Adam lr {train_config.lr} "
             f"cosine, SpecAugment; no validation set",
             f"AL: one trajectory per strategy and seed through every budget (nested: {args.rounds} round(s) from a "
             "stratified random initial set of max(classes, smallest budget / 5) to the smallest budget and from each "
             "budget to the next), retrained from scratch each round, each budget's row is the test accuracy of the round "
             f"that ended there; BALD with {args.mc_passes} MC-dropout passes; random does not score the pool",
             "job wall time (sum over jobs, one worker, one torch thread, CPU shared with other jobs): "
             + ", ".join(f"{m} {s / 60:.0f} min" for m, s in seconds.items()),
             "command: python benchmarks/compare_al.py " + " ".join(
                 f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
                 if k not in ("work", "results", "coreset", "note") and v is not False), *args.note]
    if args.report_only:
        notes.append("report of every finished job: the seeds column says how many seeds each row has (std is over those)")
    for path in args.coreset:
        meta = load_coreset(path, features=feats.config).meta
        notes.append(f"coreset {Path(path).name}: method {meta.method.get('name')}, {meta.extra.get('n_samples')} samples "
                     f"({meta.extra.get('ipc')} per class), config {meta.method.get('config', {})}")
    args.results.mkdir(parents=True, exist_ok=True)
    paths = {kind: args.results / f"{args.name}.{kind}" for kind in ("md", "csv", "json", "png")}
    write_tables(tables, paths, "Active learning vs random on FSDD", notes)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
