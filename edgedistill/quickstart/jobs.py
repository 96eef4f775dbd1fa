"""Parallel, resumable jobs of the quickstart: RFAD runs, training runs, the active-learning run.

A stage lists its jobs (plain dicts with a `key`); `run_jobs` runs the unfinished ones in
`workers` spawned processes, each with ONE torch thread and torch's deterministic algorithms,
so a job's figures do not depend on how many workers ran it or which finished first. Each
finished job's figures go to OUT/jobs/STAGE/KEY.json (atomic); a rerun reuses them, and a job
interrupted mid-way continues from its own checkpoint (RFAD's and training's). The job
functions below run in the workers and import torch there; this module must not import it at
top level.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from edgedistill.artifacts import write_json_atomic

RANDOM_DRAWS = 5  # random real subsets scored by KRR against each coreset
HEARTBEAT_S = 20.0  # seconds between "still running" lines while no job finishes


def run_jobs(out: Path, stage: str, jobs: list[dict[str, Any]], work: Callable[[dict[str, Any]], dict[str, Any]],
             workers: int, say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """{key: figures} of every job, running the unfinished ones `workers` at a time (longest first)."""
    folder = out / "jobs" / stage
    folder.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    todo = []
    for job in jobs:
        path = folder / f"{job['key']}.json"
        if path.exists():
            done[job["key"]] = json.loads(path.read_text())
        else:
            todo.append(job)
    if len(done):
        say(f"{len(done)} of {len(jobs)} {stage} jobs finished earlier, reused")
    todo.sort(key=lambda job: -job.get("cost", 0))

    def store(job: dict[str, Any], figures: dict[str, Any]) -> None:
        write_json_atomic(folder / f"{job['key']}.json", figures)
        done[job["key"]] = figures
        note = f"accuracy {figures['accuracy'] * 100:.1f} %" if "accuracy" in figures else ""
        say(f"{stage} {len(done)}/{len(jobs)}: {job['key']} {note} ({figures.get('seconds', 0):.0f} s)")

    if workers <= 1 or len(todo) <= 1:
        with _one_thread():  # the same settings as a worker, then the caller's back
            for job in todo:
                store(job, _timed(work, job))
    elif todo:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context, initializer=_init_worker) as pool:
            futures = {pool.submit(_timed, work, job): job for job in todo}
            failed, pending, started = [], set(futures), time.perf_counter()
            while pending:
                finished, pending = wait(pending, timeout=HEARTBEAT_S, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        store(futures[future], future.result())
                    except Exception as err:  # keep the others' results; a rerun resumes
                        failed.append(f"{futures[future]['key']}: {err}")
                if not finished:  # a line now and then while long jobs run (plain lines when stderr is a file)
                    running = [futures[f]["key"] for f in pending if f.running()]
                    say(f"{stage}: {len(done)}/{len(jobs)} done, in progress: {', '.join(running)} "
                        f"({time.perf_counter() - started:.0f} s)")
        if failed:
            raise RuntimeError(f"{len(failed)} {stage} job(s) failed (finished ones are kept; rerun to resume): " + "; ".join(failed))
    return {job["key"]: done[job["key"]] for job in jobs}


def _init_worker() -> None:
    """One thread and deterministic kernels: a job's reductions run in one fixed order."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)


@contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    _init_worker()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _timed(work: Callable[[dict[str, Any]], dict[str, Any]], job: dict[str, Any]) -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    figures = work(job)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    figures["cpu_seconds"] = round(time.process_time() - cpu, 2)  # hardly depends on the machine's other work
    return figures


# Job functions (run in the workers) -----------------------------------------------------------
def distil(job: dict[str, Any]) -> dict[str, Any]:
    """One RFAD coreset (resumes from its checkpoint), KRR-scored on the test split against random real clips.

    Figures: KRR test accuracy and mean squared error (RFAD's loss, on held-out clips) of the
    coreset and, mean and std over RANDOM_DRAWS draws, of random real clips of the same budget,
    scored with the coreset's own kernel.
    """
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import Coreset, load_coreset
    from edgedistill.methods.distiller import DISTILLERS
    from edgedistill.methods.krr import score_coreset
    from edgedistill.methods.rfad import RFADConfig
    from edgedistill.runs import balanced_indices

    feats, out, ipc = FeatureSet.load(job["features"]), Path(job["out"]), job["ipc"]
    if not (out / "meta.json").exists():
        config = RFADConfig(**job["rfad"], threads=1)
        resume = out.with_name(f"{out.name}.ckpt.npz").exists()
        DISTILLERS["rfad"].run(Path(job["features"]), out, config, None, resume=resume, progress=False)
    coreset = load_coreset(out, features=feats.config, labels=feats.labels)
    train, test = feats.by_split("train"), feats.by_split("test")
    scored = score_coreset(coreset, test, seed=job["score_seed"], device="cpu")
    scores = []
    for draw in range(RANDOM_DRAWS):
        index = balanced_indices(train.y, feats.n_classes, ipc, job["score_seed"] + draw)
        subset = Coreset(x=np.asarray(train.x[index]), y=train.y[index], labels=feats.labels, config=feats.config,
                         meta=coreset.meta)  # the coreset's kernel and normalisation
        scores.append(score_coreset(subset, test, seed=job["score_seed"], device="cpu"))
    accuracy, mse = (np.array([s[k] for s in scores]) for k in ("accuracy", "mse"))
    return {"ipc": ipc, "out": str(out), "n_samples": int(len(coreset.y)), "steps": job["rfad"]["steps"],
            "coreset_kb": sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1024,
            "krr_accuracy": float(scored["accuracy"]), "krr_mse": float(scored["mse"]),
            "krr_random_accuracy": float(accuracy.mean()), "krr_random_accuracy_std": float(accuracy.std()),
            "krr_random_mse": float(mse.mean()), "krr_random_mse_std": float(mse.std()), "random_draws": RANDOM_DRAWS}


def train(job: dict[str, Any]) -> dict[str, Any]:
    """cnn4 on a coreset, on `ipc` random real clips per class, or on the whole train split; test figures."""
    from edgedistill.artifacts import read_meta
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.runs import select_training_data, train_and_save
    from edgedistill.train_config import TrainConfig

    out = Path(job["out"])
    if not (out / "meta.json").exists():
        feats = FeatureSet.load(job["features"])
        if job["kind"] == "coreset":
            data = select_training_data(feats, coreset=job["coreset"])
        elif job["kind"] == "random":
            data = select_training_data(feats, per_class=job["ipc"], seed=job["data_seed"])
        else:
            data = select_training_data(feats)
        config = TrainConfig(**job["train"], threads=1)
        resume = out.with_name(out.name + ".ckpt.safetensors").exists()
        train_and_save(feats, data, job["model"], config, out, model_kwargs=job["model_kwargs"], resume=resume, progress=False)
    meta = read_meta(out)
    return {"kind": job["kind"], "ipc": job.get("ipc"), "seed": job["train"]["seed"], "out": str(out),
            "n_train": meta.extra["training_data"]["n_samples"], "train_seconds": meta.extra.get("train_seconds"),
            "accuracy": meta.metrics["accuracy"], "uar": meta.metrics["uar"]}


def active_learning(job: dict[str, Any]) -> dict[str, Any]:
    """One active-learning trajectory through every budget (a round ends at each); test accuracy at each."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.active_learning import ALConfig, run_active_learning, split_arrays
    from edgedistill.train_config import TrainConfig

    feats = FeatureSet.load(job["features"])
    train = feats.by_split("train")
    al = ALConfig(strategy=job["strategy"], budget=",".join(str(b) for b in job["budgets"]), initial=job["initial"],
                  rounds=job["rounds"], seed=job["seed"])
    result = run_active_learning(train, job["model"], al, TrainConfig(**job["train"], threads=1),
                                 test=split_arrays(feats, "test"), valid=split_arrays(feats, "valid"),
                                 model_kwargs=job["model_kwargs"])
    points = [{"n_samples": b, "ipc": b / feats.n_classes, "accuracy": float(result.at_budget(b)["accuracy"]),
               "class_counts": np.bincount(train.y[result.indices[:b]], minlength=feats.n_classes).tolist()}
              for b in result.budgets]
    return {"strategy": job["strategy"], "points": points,
            "rounds": [{k: float(r[k]) if k == "accuracy" else r[k] for k in ("n_labelled", "accuracy")} for r in result.rounds]}
