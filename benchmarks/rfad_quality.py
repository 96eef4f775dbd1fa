"""RFAD coreset vs the same number of random real clips: cnn4 (and KRR) accuracy per budget.

Datasets (read through the data layer, cached under --work):
  fsdd   ../shared/data/fsdd (8 kHz resampled to 16 kHz), `kws` features; --split official (the
         dataset's split: recordings 0-4 test, 5-9 valid, 10-49 train) or speaker (disjoint).
  synth  keywords synthesised offline with espeak-ng (10 words, --per-word clips each,
         speaker-disjoint splits), `kws` features; results are tagged synth-<per-word> unless
         --per-word is the default 120.
Runs with an --lr other than 0.05 add -lr<lr> to the tag.

For each budget (samples per class) and seed: a class-balanced random subset of the train split
("random"), the k-means medoids RFAD starts from with --init kmeans ("kmeans", no distillation:
shows what the initialisation alone gives), and the RFAD coreset ("rfad"), each scored by cnn4
trained on it (edgedistill.training, at least --min-steps optimiser steps) on the test split, and by
KRR on fresh random nets; plus full training data. Every job is cached as JSON under --work, so an
interrupted run resumes. Writes benchmarks/results/rfad_quality_<tag>.{md,json}.

    python benchmarks/rfad_quality.py --dataset fsdd --ipc 2,5,10,50 --seeds 3
    python benchmarks/rfad_quality.py --dataset synth --ipc 2,5,10,50 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
KINDS = ("random", "kmeans", "rfad")
PER_WORD, LR = 120, 0.05  # the defaults: results tags and command lines name only other values


def feature_cache(work: Path, args: dict) -> Path:
    """Prepare (once) the dataset's `kws` feature cache under `work` and return its folder."""
    from edgedistill.data.prepare import prepare

    if args["dataset"] == "fsdd":
        return prepare("fsdd", SHARED / "fsdd", "kws", work / f"features-fsdd-{args['split']}", split=args["split"], progress=False)
    from edgedistill.data.synth import synthesize

    audio = work / f"audio-synth-{args['per_word']}"
    if not (audio / "manifest.csv").exists():
        synthesize(audio, per_word=args["per_word"], speakers=args["speakers"], seed=0, workers=1, progress=False)
    return prepare("synth", audio, "kws", work / f"features-synth-{args['per_word']}", progress=False)


def rfad_config(job: dict, args: dict):
    from edgedistill.methods.rfad import RFADConfig

    return RFADConfig(ipc=max(job["ipc"], 1), steps=args["steps"], lr=args["lr"], batch_size=args["batch_size"],
                      time_pool=args["time_pool"], init=args["init"], seed=job["seed"], threads=args["threads"],
                      eval_every=args["eval_every"], device=args["device"], compile=args.get("compile", False))


def training_set(job: dict, train, valid, args: dict, mean: np.ndarray, std: np.ndarray):
    """(x, y, KRR targets or None, extra figures) of one job's training data; mean/std: train band stats."""
    from edgedistill.methods.rfad import distill, initial_coreset
    from edgedistill.runs import balanced_indices

    if job["kind"] == "full":
        return np.asarray(train.x), train.y, None, {}
    if job["kind"] == "random":
        index = balanced_indices(train.y, train.n_classes, job["ipc"], job["seed"])
        return np.asarray(train.x[index]), train.y[index], None, {}
    config = rfad_config(job, args)
    if job["kind"] == "kmeans":
        z, y = initial_coreset(train, config, mean, std)
        return (z * std[:, None] + mean[:, None]).astype(np.float32), y, None, {}
    coreset = distill(train, config, progress=False, valid=valid)
    metrics = coreset.meta.metrics
    return coreset.x, coreset.y, coreset.y_soft, {"valid_krr_accuracy": metrics.get("valid_krr_accuracy"),
                                                   "best_step": metrics.get("best_step")}


def run_job(job: dict, cache: str, work: str, args: dict) -> dict:
    """One (kind, ipc, seed) job: build its training set, score it by cnn4 and by KRR on the test split."""
    out = Path(work) / f"{job['kind']}-ipc{job['ipc']}-s{job['seed']}.json"
    if out.exists():
        return json.loads(out.read_text())
    import time

    import torch

    torch.set_num_threads(args["threads"])
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.evaluate import evaluate_model
    from edgedistill.methods.krr import krr_score, regression_targets
    from edgedistill.methods.random_features import band_stats
    from edgedistill.training import TrainConfig, train_model

    feats = FeatureSet.load(cache, mmap=False)
    train, valid, test = feats.by_split("train"), feats.by_split("valid"), feats.by_split("test")
    mean, std = band_stats(train.x)
    start = time.perf_counter()
    x, y, targets, result = training_set(job, train, valid, args, mean, std)
    result = {**job, **result, "n": int(len(y)), "seconds_data": time.perf_counter() - start}
    krr_targets = targets if targets is not None else regression_targets(y, train.n_classes).numpy()
    result["krr_accuracy"] = krr_score(x, krr_targets, test.x, test.y, rfad_config(job, args).random_features(), mean, std,
                                       draws=args["draws"], seed=job["seed"])["accuracy"]
    epochs = args["full_epochs"] if job["kind"] == "full" else args["epochs"]
    min_steps = 0 if job["kind"] == "full" else args["min_steps"]
    train_config = TrainConfig(epochs=epochs, min_steps=min_steps, seed=job["seed"], threads=args["threads"], device=args["device"])
    trained = train_model("cnn4", x, y, train.labels, train_config, model_kwargs={"width": args["width"]}, progress=False)
    result["cnn4_accuracy"] = evaluate_model(trained, test.x, test.y)["accuracy"]
    result["seconds"] = time.perf_counter() - start
    out.write_text(json.dumps(result))
    return result


def summarise(results: list[dict], ipcs: list[int]) -> tuple[list[dict], list[str]]:
    """Rows (mean ± std over seeds per kind and budget) and the Markdown table, with the coreset's margin."""
    def stats(kind: str, ipc: int) -> dict:
        runs = [r for r in results if r["kind"] == kind and r["ipc"] == ipc]
        row = {"kind": kind, "ipc": ipc or "all", "seeds": len(runs)}
        for key in ("cnn4_accuracy", "krr_accuracy"):
            values = [r[key] for r in runs if key in r]
            if values:
                row[key], row[key + "_std"] = float(np.mean(values)), float(np.std(values))
        return row

    rows = [row for row in [stats("full", 0)] + [stats(kind, ipc) for ipc in ipcs for kind in KINDS] if row["seeds"]]
    pct = lambda r, k: f"{100 * r[k]:.1f} ± {100 * r[k + '_std']:.1f}" if k in r else "n/a"  # noqa: E731
    lines = ["| training data | per class | seeds | cnn4 accuracy (%) | KRR accuracy (%) | cnn4: coreset − random (points) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        margin = ""
        if r["kind"] == "rfad":
            rand = next((x for x in rows if x["kind"] == "random" and x["ipc"] == r["ipc"]), {})
            if "cnn4_accuracy" in r and "cnn4_accuracy" in rand:
                margin = f"{100 * (r['cnn4_accuracy'] - rand['cnn4_accuracy']):+.1f}"
        name = {"full": "full data", "random": "random real clips", "kmeans": "k-means medoids (RFAD init)",
                "rfad": "RFAD coreset"}[r["kind"]]
        lines.append(f"| {name} | {r['ipc']} | {r['seeds']} | {pct(r, 'cnn4_accuracy')} | {pct(r, 'krr_accuracy')} | {margin} |")
    return rows, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("fsdd", "synth"), default="fsdd")
    parser.add_argument("--split", choices=("official", "speaker"), default="official", help="fsdd split (default official)")
    parser.add_argument("--per-word", type=int, default=PER_WORD, help=f"synth: clips per word (default {PER_WORD})")
    parser.add_argument("--speakers", type=int, default=40, help="synth: voices (default 40)")
    parser.add_argument("--ipc", default="2,5,10,50", help="samples per class, comma-separated (default 2,5,10,50)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"subset jobs to run (default {','.join(KINDS)}; full data always)")
    parser.add_argument("--steps", type=int, default=100, help="RFAD steps (default 100)")
    parser.add_argument("--lr", type=float, default=LR, help=f"RFAD Adam lr (default {LR}; RFADConfig's default is 0.01)")
    parser.add_argument("--batch-size", type=int, default=64, help="RFAD real batch per step (default 64)")
    parser.add_argument("--init", default="kmeans", help="RFAD init: real | kmeans | noise (default kmeans)")
    parser.add_argument("--time-pool", action=argparse.BooleanOptionalAction, default=True,
                        help="time-pooled random-feature kernel (default on)")
    parser.add_argument("--eval-every", type=int, default=25, help="RFAD validation interval (default 25)")
    parser.add_argument("--draws", type=int, default=3, help="KRR scoring net draws (default 3)")
    parser.add_argument("--epochs", type=int, default=30, help="cnn4 epochs (default 30)")
    parser.add_argument("--full-epochs", type=int, default=10, help="cnn4 epochs on full data (default 10)")
    parser.add_argument("--full-seeds", type=int, default=1, help="seeds of the full-data row (default 1)")
    parser.add_argument("--width", type=int, default=16, help="cnn4 width (default 16, as the quickstart)")
    parser.add_argument("--min-steps", type=int, default=200, help="cnn4 optimiser steps at least (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument("--compile", action="store_true",
                        help="RFAD through torch.compile (same results to float tolerance; for CUDA: on the CPU the default fused kernel is faster)")
    parser.add_argument("--work", default="/tmp/edgedistill-rfad-quality", help="cache of features and job results")
    parser.add_argument("--summarise-only", action="store_true", help="write the tables from the finished jobs in --work")
    args = parser.parse_args()
    settings = {k: v for k, v in vars(args).items()
                if k not in ("work", "summarise_only", "workers", "ipc", "seeds", "kinds", "full_seeds", "compile")}
    tag = {"synth": "synth" if args.per_word == PER_WORD else f"synth-{args.per_word}", "fsdd": f"fsdd-{args.split}"}[args.dataset]
    tag += "" if args.lr == LR else f"-lr{args.lr:g}"
    work = Path(args.work) / tag
    work.mkdir(parents=True, exist_ok=True)
    settings_file = work / "settings.json"
    if settings_file.exists() and json.loads(settings_file.read_text()) != settings:
        raise SystemExit(f"{work} holds jobs run with other settings ({settings_file}); use another --work")
    settings_file.write_text(json.dumps(settings, indent=1))
    cache = feature_cache(Path(args.work), settings)
    ipcs = [int(v) for v in args.ipc.split(",")]
    kinds = [k for k in args.kinds.split(",") if k]
    jobs = [{"kind": "full", "ipc": 0, "seed": s} for s in range(args.full_seeds)]
    jobs += [{"kind": k, "ipc": i, "seed": s} for i in ipcs for s in range(args.seeds) for k in kinds]  # small budgets first
    if args.summarise_only:
        results = [json.loads(p.read_text()) for p in sorted(work.glob("*-ipc*-s*.json"))]
    else:
        with ProcessPoolExecutor(args.workers) as pool:
            results = []
            for result in pool.map(run_job, jobs, [str(cache)] * len(jobs), [str(work)] * len(jobs),
                                   [{**settings, "compile": args.compile}] * len(jobs)):
                print(json.dumps(result), flush=True)
                results.append(result)
    write_report(results, ipcs, settings, args, tag)


def write_report(results: list[dict], ipcs: list[int], settings: dict, args, tag: str) -> None:
    rows, lines = summarise(results, ipcs)
    machine = f"{platform.machine()}, {os.cpu_count()} cores shared with other jobs, {args.workers} worker(s) x {args.threads} thread(s)"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data = {"fsdd": f"FSDD, {args.split} split", "synth": f"synthesised keywords (10 words x {args.per_word} clips, "
            f"{args.speakers} voices, speaker-disjoint splits)"}[args.dataset]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"rfad_quality_{tag}.json").write_text(json.dumps({"machine": machine, "date": date, "settings": settings,
                                                                  "rows": rows, "runs": results}, indent=1) + "\n")
    header = [f"# RFAD coreset vs random real clips: {data}\n",
              f"Machine: {machine}; {date}. kws features 40x101. RFAD: {args.steps} steps, lr {args.lr}, real batch "
              f"{args.batch_size}, init {args.init}, {'time-pooled' if args.time_pool else 'flattened'} kernel (7 nets x width 16, "
              f"depth 3, M=128), best step on the valid split. cnn4 width {args.width}: {args.epochs} epochs and at least "
              f"{args.min_steps} optimiser steps ({args.full_epochs} epochs on full data, {args.full_seeds} seed(s)), default TrainConfig (SpecAugment, time shift). KRR: fresh nets, {args.draws} draws. "
              "Mean ± std over seeds (their number per row in the seeds column); each seed draws its own random subset and distils its own coreset.\n",
              f"Command: `python benchmarks/rfad_quality.py --dataset {args.dataset}"
              + (f" --split {args.split}" if args.dataset == "fsdd" else "")
              + (f" --per-word {args.per_word}" if args.dataset == "synth" and args.per_word != PER_WORD else "") + f" --ipc {args.ipc} --seeds {args.seeds} "
              f"--steps {args.steps}" + (f" --lr {args.lr}" if args.lr != LR else "") + f" --init {args.init}" + (f" --full-epochs {args.full_epochs}" if args.full_epochs != 10 else "") + "`\n"]
    (RESULTS / f"rfad_quality_{tag}.md").write_text("\n".join(header + lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
