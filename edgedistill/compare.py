"""The comparison the audio dataset-distillation paper makes, for any feature set, in one call.

Rows: full data; active learning (each strategy x budget); class-balanced random real samples
at the coreset budgets; coresets (each artifact); GAN generators (each artifact x samples per
class, balanced: the generator ablation the speech-emotion paper reports). Each job is one
training run or one active-learning trajectory, and its result is a small JSON file under
REPORT/jobs/, so a re-run reuses finished jobs and an interrupted run resumes. Active learning
runs ONE trajectory per (strategy, seed) through every budget (nested budgets: a round ends
exactly at each, see
`edgedistill.methods.active_learning`), and each budget's row reads the accuracy of the round
that ended there. Jobs run in parallel processes. The report is Markdown, CSV, JSON and a PNG
plot of accuracy against the percentage of training samples (log scale). torch is imported in
workers only; this module must not import it at top level.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.artifacts import artifact_digest, check_run_folder, write_json_atomic
from edgedistill.runs import load_matching_generator, select_training_data


@dataclass(frozen=True)
class Job:
    """One job of the comparison. kind: full | al | random | coreset | generator.

    budget: AL, every budget of the trajectory comma-separated ("60%,40%,20"); random and
    generator, samples per class. coreset / generator: the artifact's path; content: its
    `artifact_digest`, so an artifact rewritten at the same path is a new job, not a resumed one.
    """

    kind: str
    seed: int
    strategy: str = ""
    budget: str = ""
    coreset: str = ""
    content: str = ""
    generator: str = ""

    @property
    def key(self) -> str:
        fields = dataclasses.asdict(self)
        if not fields["generator"]:
            del fields["generator"]  # jobs planned before generator rows existed keep their keys (resume)
        text = json.dumps(fields, sort_keys=True)
        slug = "-".join(str(v).replace("%", "pct").replace("/", "_").replace(",", "_")
                        for v in (self.kind, self.strategy, self.budget) if v)
        return f"{slug}-s{self.seed}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def plan_jobs(strategies: list[str], budgets: list[str], ipcs: list[int], coresets: list[str], seeds: int,
              n_classes: int, generators: list[str] = (), ppcs: list[int] = ()) -> list[Job]:
    """Every job of a comparison, per seed: full data; one AL trajectory per strategy through every
    budget and ipc x classes; balanced random at each ipc; each coreset (fingerprinted by content);
    each generator at each of `ppcs` samples per class."""
    if seeds < 1:
        raise ValueError(f"seeds={seeds}: need at least 1")
    al_budgets = ",".join(dict.fromkeys([str(b).strip() for b in budgets] + [str(ipc * n_classes) for ipc in ipcs]))
    digests = {str(c): artifact_digest(c) for c in coresets}
    generator_digests = {str(g): artifact_digest(g) for g in generators}
    if generators and not ppcs:
        raise ValueError("generator rows need samples per class: give --ppc, like 50,100")
    jobs = []
    for seed in range(seeds):
        jobs.append(Job("full", seed))
        jobs += [Job("al", seed, strategy=s, budget=al_budgets) for s in strategies if al_budgets]
        jobs += [Job("random", seed, budget=str(ipc)) for ipc in ipcs]
        jobs += [Job("coreset", seed, coreset=c, content=digest) for c, digest in digests.items()]
        jobs += [Job("generator", seed, budget=str(ppc), generator=g, content=digest)
                 for g, digest in generator_digests.items() for ppc in ppcs]
    return jobs


@dataclass(frozen=True)
class CompareSettings:
    """What every job of one comparison shares; written to REPORT/settings.json and checked on resume."""

    model: str
    train_config: dict[str, Any]
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    al: dict[str, Any] = dataclasses.field(default_factory=dict)  # ALConfig fields besides strategy/budget/seed
    feature_id: str = ""
    manifest_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_jobs(feats, jobs: list[Job]) -> None:
    """Refuse, before any training, budgets the train split cannot hold and artifacts of other features or classes."""
    from edgedistill.methods.active_learning import parse_budgets
    from edgedistill.methods.coreset import load_coreset

    train = feats.by_split("train")
    feats.by_split("test")
    counts = train.class_counts()
    for job in jobs:
        if job.kind == "al":
            parse_budgets(job.budget, len(train), train.n_classes)
        elif job.kind == "random" and not 1 <= int(job.budget) <= counts.min():
            raise ValueError(f"--ipc {job.budget}: the smallest class of the train split has {counts.min()} clips")
        elif job.kind == "generator" and int(job.budget) < 1:
            raise ValueError(f"--ppc {job.budget}: generated samples per class must be at least 1")
    # each artifact once (jobs repeat them per seed and budget): same features and classes, or a clear error
    for path in dict.fromkeys(job.coreset for job in jobs if job.kind == "coreset"):
        load_coreset(path, features=feats.config, labels=feats.labels)
    for path in dict.fromkeys(job.generator for job in jobs if job.kind == "generator"):
        load_matching_generator(feats, path)


def run_job(feat_dir: str, job: Job, settings: dict, threads: int) -> dict:
    """Train and score one job on the feature cache's train/test splits (runs in a worker process)."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.evaluate import evaluate_model
    from edgedistill.methods.active_learning import ALConfig, run_active_learning, split_arrays
    from edgedistill.train_config import TrainConfig
    from edgedistill.training import train_model

    feats = FeatureSet.load(feat_dir)
    train, test_xy, valid = feats.by_split("train"), split_arrays(feats, "test"), split_arrays(feats, "valid")
    if test_xy is None:
        raise ValueError(f"{feat_dir}: the feature cache has no test split to score the comparison on")
    config = dataclasses.replace(TrainConfig.from_dict(settings["train_config"]), seed=job.seed, threads=threads)
    model, model_kwargs = settings["model"], settings["model_kwargs"]
    record: dict[str, Any] = {"key": job.key, **dataclasses.asdict(job)}
    start = time.perf_counter()
    if job.kind == "al":
        al = ALConfig.from_dict({**settings["al"], "strategy": job.strategy, "budget": job.budget, "seed": job.seed})
        result = run_active_learning(train, model, al, config, test=test_xy, valid=valid, model_kwargs=model_kwargs)
        n, metrics = len(result.indices), result.rounds[-1]
        record["rounds"] = [{k: r[k] for k in ("n_labelled", "accuracy", "uar")} for r in result.rounds]
        record["points"] = [{"n_samples": b, **{k: result.at_budget(b)[k] for k in ("accuracy", "uar")},
                             "class_counts": np.bincount(train.y[result.indices[:b]], minlength=train.n_classes).tolist()}
                            for b in result.budgets]
    else:
        x, y = _training_data(job, train, feats)
        trained = train_model(model, x, y, feats.labels, config, valid=valid,
                              model_kwargs=model_kwargs, progress=False)
        n, metrics = len(x), evaluate_model(trained, *test_xy)
    record.update(n_samples=int(n), pool_size=len(train), n_classes=feats.n_classes,
                  accuracy=float(metrics["accuracy"]), uar=float(metrics["uar"]),
                  seconds=round(time.perf_counter() - start, 1))
    return record


def _training_data(job: Job, train, feats) -> tuple[np.ndarray, np.ndarray]:
    """The job's training set through the one dispatch `train` and the quickstart use."""
    if job.kind == "full":
        data = select_training_data(feats)
    elif job.kind == "random":
        data = select_training_data(feats, per_class=int(job.budget), seed=job.seed)
    elif job.kind == "generator":
        data = select_training_data(feats, generator=job.generator, per_class=int(job.budget), seed=job.seed)
    else:
        data = select_training_data(feats, coreset=job.coreset)
    return data.x, data.y


def run_comparison(feat_dir: str | Path, out: str | Path, jobs: list[Job], settings: CompareSettings, workers: int = 1,
                   threads: int | None = None, on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the jobs not finished yet (one JSON file each under out/jobs/) and return every job's record.

    out/settings.json pins the model, training and AL settings and the feature cache: resuming
    with other settings is refused (start a new --out). workers: parallel processes; threads:
    torch threads per worker (default: CPU cores / workers). on_done: called per finished job.
    """
    out, jobs_dir = Path(out), Path(out) / "jobs"
    check_run_folder(out, "settings.json", "comparison report")
    jobs_dir.mkdir(parents=True, exist_ok=True)
    _pin_settings(out / "settings.json", settings.to_dict())
    records, todo = [], []
    for job in jobs:
        path = jobs_dir / f"{job.key}.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
        else:
            todo.append(job)
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    args = (str(feat_dir),)
    if workers <= 1 or len(todo) <= 1:
        for job in todo:
            records.append(_store(jobs_dir, run_job(*args, job, settings.to_dict(), threads), on_done))
        return records
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_job, *args, job, settings.to_dict(), threads): job for job in todo}
        failed = []
        for future in as_completed(futures):
            try:
                records.append(_store(jobs_dir, future.result(), on_done))
            except Exception as err:  # keep the other jobs' results; report every failure at the end
                failed.append(f"{futures[future].key}: {err}")
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) failed (finished ones are kept; re-run to resume): " + "; ".join(failed))
    return records


def finished_records(out: str | Path) -> list[dict]:
    """Every finished job's record under out/jobs/ (whatever comparison grid produced them)."""
    return [json.loads(path.read_text()) for path in sorted((Path(out) / "jobs").glob("*.json"))]


def _pin_settings(path: Path, settings: dict) -> None:
    settings = json.loads(json.dumps(settings))  # as it reads back from disk (tuples become lists)
    if not path.exists():
        write_json_atomic(path, settings)
        return
    previous = json.loads(path.read_text())
    changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
    if changed:
        raise ValueError(f"{path.parent} holds a comparison with other settings ({', '.join(changed)} differ); "
                         "choose a new --out to compare these settings")


def _store(jobs_dir: Path, record: dict, on_done) -> dict:
    write_json_atomic(jobs_dir / f"{record['key']}.json", record)
    if on_done:
        on_done(record)
    return record
