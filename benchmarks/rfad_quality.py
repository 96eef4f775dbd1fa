"""RFAD coreset vs the same number of random real samples on FSDD (spoken digits), two scorers.

Data: /work/shared/data/fsdd (8 kHz WAVs), read with edgedistill.device.audio.read_wav, resampled
to 16 kHz (scipy resample_poly) and turned into `kws` features (40 MFCC x 101 frames) with
edgedistill.device.features.extract_batch. Speaker-disjoint split: george = test, jackson = valid,
the other 4 speakers = train (2000 clips; 500 per speaker).

For each budget (samples per class) and seed: a class-balanced random subset of the train split
and an RFAD coreset of the same size, each scored (1) by KRR with the random-feature kernel
(fresh nets, mean over draws) and (2) by cnn4 trained on it (edgedistill.training) and
evaluated on the test speaker; plus full training data. Jobs are cached as JSON under --work,
so an interrupted run resumes. Writes benchmarks/results/rfad_quality.{md,json}.

    python benchmarks/rfad_quality.py [--ipc 2,5,10] [--seeds 3] [--steps 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")) / "fsdd"
SPLIT_OF = {"george": "test", "jackson": "valid"}


def fsdd_features(cache: Path):
    """The FSDD feature cache (built once under `cache`)."""
    from scipy.signal import resample_poly

    from edgedistill.data.featureset import FeatureSet
    from edgedistill.device.audio import read_wav
    from edgedistill.device.features import extract_batch, get_preset

    if cache.exists():
        return FeatureSet.load(cache, mmap=False)
    config = get_preset("kws")
    rows = list(csv.DictReader((DATA / "labels.csv").open()))
    waves = []
    for row in rows:
        wave, rate = read_wav(DATA / row["file"])
        waves.append(resample_poly(wave, config.sample_rate // rate, 1).astype(np.float32) if rate != config.sample_rate else wave)
    features = FeatureSet(
        x=extract_batch(waves, config), y=np.array([int(r["digit"]) for r in rows]), labels=[str(d) for d in range(10)],
        config=config, split=np.array([SPLIT_OF.get(r["speaker"], "train") for r in rows], dtype=object),
        speaker=np.array([r["speaker"] for r in rows], dtype=object), path=np.array([r["file"] for r in rows], dtype=object),
        dataset="fsdd")
    features.save(cache)
    return FeatureSet.load(cache, mmap=False)


def run_job(job: dict, cache: str, work: str, args: dict) -> dict:
    """One (kind, ipc, seed) job: build the training set, score it by KRR and by cnn4."""
    out = Path(work) / f"{job['kind']}-ipc{job['ipc']}-s{job['seed']}.json"
    if out.exists():
        return json.loads(out.read_text())
    import torch

    torch.set_num_threads(args["threads"])
    from edgedistill.evaluate import evaluate_model
    from edgedistill.methods.krr import krr_score, regression_targets
    from edgedistill.methods.random_features import band_stats
    from edgedistill.methods.rfad import RFADConfig, distill
    from edgedistill.runs import balanced_indices
    from edgedistill.training import TrainConfig, train_model

    feats = fsdd_features(Path(cache))
    train, valid, test = feats.by_split("train"), feats.by_split("valid"), feats.by_split("test")
    rfad_config = RFADConfig(ipc=max(job["ipc"], 1), steps=args["steps"], lr=args["lr"], seed=job["seed"], batch_size=args["batch_size"],
                             threads=args["threads"], eval_every=25, device=args["device"])
    result = dict(job)
    if job["kind"] == "rfad":
        coreset = distill(train, rfad_config, progress=False, valid=valid)
        x, y, targets = coreset.x, coreset.y, coreset.y_soft
        result["valid_krr_accuracy"] = coreset.meta.metrics["valid_krr_accuracy"]
    elif job["kind"] == "random":
        index = balanced_indices(train.y, train.n_classes, job["ipc"], job["seed"])
        x, y, targets = np.asarray(train.x[index]), train.y[index], None
    else:
        x, y, targets = np.asarray(train.x), train.y, None
    mean, std = band_stats(train.x)
    if targets is None:
        targets = regression_targets(y, train.n_classes).numpy()
    result["krr_accuracy"] = krr_score(x, targets, test.x, test.y, rfad_config.random_features(), mean, std,
                                       draws=args["draws"], seed=job["seed"], reg=rfad_config.reg)["accuracy"]
    if args["cnn_epochs"]:
        epochs = args["cnn_epochs"] if job["kind"] != "full" else max(args["cnn_epochs"] // 10, 5)
        trained = train_model("cnn4", x, y, train.labels, TrainConfig(epochs=epochs, seed=job["seed"], threads=args["threads"],
                                                                      device=args["device"]), progress=False)
        result["cnn4_accuracy"] = evaluate_model(trained, test.x, test.y)["accuracy"]
    out.write_text(json.dumps(result))
    return result


def summarise(results: list[dict], ipcs: list[int]) -> tuple[list[dict], list[str]]:
    rows = []
    for kind, budgets in (("full", [0]), ("random", ipcs), ("rfad", ipcs)):
        for ipc in budgets:
            runs = [r for r in results if r["kind"] == kind and r["ipc"] == ipc]
            row = {"kind": kind, "ipc": ipc or "all", "seeds": len(runs)}
            for key in ("krr_accuracy", "cnn4_accuracy"):
                values = [r[key] for r in runs if key in r]
                if values:
                    row[key] = float(np.mean(values))
                    row[key + "_std"] = float(np.std(values))
            rows.append(row)
    fmt = lambda r, k: f"{r[k]:.3f} ± {r[k + '_std']:.3f}" if k in r else "n/a"  # noqa: E731
    lines = ["| training data | per class | seeds | KRR accuracy | cnn4 accuracy |", "|---|---|---|---|---|"]
    lines += [f"| {r['kind']} | {r['ipc']} | {r['seeds']} | {fmt(r, 'krr_accuracy')} | {fmt(r, 'cnn4_accuracy')} |" for r in rows]
    return rows, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", default="2,5,10", help="samples per class, comma-separated (default 2,5,10)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    parser.add_argument("--steps", type=int, default=100, help="RFAD steps (default 100)")
    parser.add_argument("--lr", type=float, default=0.05, help="RFAD Adam lr (default 0.05)")
    parser.add_argument("--batch-size", type=int, default=64, help="RFAD real batch per step (default 64)")
    parser.add_argument("--draws", type=int, default=3, help="KRR scoring net draws (default 3)")
    parser.add_argument("--cnn-epochs", type=int, default=60, help="cnn4 epochs on subsets, 0 = skip cnn4 (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--work", default="/tmp/edgedistill-rfad-quality", help="cache of features and job results")
    parser.add_argument("--summarise-only", action="store_true", help="write the tables from the finished jobs in --work")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "fsdd-kws"
    fsdd_features(cache)
    ipcs = [int(v) for v in args.ipc.split(",")]
    jobs = [{"kind": k, "ipc": i, "seed": s} for s in range(args.seeds) for i in ipcs for k in ("random", "rfad")]
    jobs += [{"kind": "full", "ipc": 0, "seed": s} for s in range(args.seeds)]
    settings = {"steps": args.steps, "lr": args.lr, "batch_size": args.batch_size, "draws": args.draws, "cnn_epochs": args.cnn_epochs,
                "threads": args.threads, "device": args.device}
    if args.summarise_only:
        results = [json.loads(p.read_text()) for p in sorted(work.glob("*-ipc*-s*.json"))]
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            results = []
            for result in pool.map(run_job, jobs, [str(cache)] * len(jobs), [str(work)] * len(jobs), [settings] * len(jobs)):
                print(json.dumps(result), flush=True)
                results.append(result)
    rows, lines = summarise(results, ipcs)
    machine = f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, {args.workers} worker(s) x {args.threads} thread(s), device {args.device}"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rfad_quality.json").write_text(json.dumps({"machine": machine, "date": date, "settings": settings,
                                                          "rows": rows, "runs": results}, indent=1) + "\n")
    header = [f"# RFAD coreset vs random real samples: FSDD (speaker-disjoint: test george, valid jackson, train 4 speakers)\n",
              f"Machine: {machine}; {date}. kws features 40x101 (8 kHz resampled to 16 kHz). RFAD: {args.steps} steps, lr {args.lr}, real batch {args.batch_size}, "
              f"default nets (7 x width 16, M=128); KRR scored with fresh nets ({args.draws} draws); cnn4: {args.cnn_epochs} epochs "
              "on subsets (full data: a tenth, min 5), default TrainConfig. Mean ± std over seeds.\n"]
    (RESULTS / "rfad_quality.md").write_text("\n".join(header + lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
