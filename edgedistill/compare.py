"""The comparison the audio dataset-distillation paper makes, for any feature set, in one call.

Rows: full data; active learning (each strategy x budget); class-balanced random real samples
at the coreset budgets; coresets (each artifact); GAN generators (each artifact x samples per
class, balanced: the generator ablation the speech-emotion paper reports). Each job is one
training run or one active-learning trajectory, and its result is a small JSON file under
REPORT/jobs/, so a re-run reuses finished jobs and an interrupted run resumes. Active learning
runs ONE trajectory per (strategy, seed) through every budget (nested budgets: a round ends
exactly at each, see
`edgedistill.methods.active_learning`), and each budget's row reads the accuracy of the round
that ended there. Jobs run in parallel processes (`workers`), and several comparison processes
may share one report folder (`JobStore`): a job is claimed before it runs (a claim file written
under a lock), so no two processes run the same job, a claim whose process died is taken over,
and a training job resumes from its last epoch's checkpoint. The report is Markdown, CSV, JSON
and a PNG plot of accuracy against the percentage of training samples (log scale). torch is
imported in workers only; this module must not import it at top level.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import socket
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
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


def run_job(feat_dir: str, job: Job, settings: dict, threads: int, checkpoint: str | None = None) -> dict:
    """Train and score one job on the feature cache's train/test splits (runs in a worker process).

    checkpoint: a file the training job (not an AL trajectory, which restarts) writes after every
    epoch and continues from when it exists; the record's `resumed_from_epoch` says where it did.
    """
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
        if checkpoint is not None and Path(checkpoint).exists():
            record["resumed_from_epoch"] = _checkpoint_epoch(Path(checkpoint))
        trained = train_model(model, x, y, feats.labels, config, valid=valid, model_kwargs=model_kwargs, progress=False,
                              checkpoint=checkpoint, resume=checkpoint is not None)
        n, metrics = len(x), evaluate_model(trained, *test_xy)
    record.update(n_samples=int(n), pool_size=len(train), n_classes=feats.n_classes,
                  accuracy=float(metrics["accuracy"]), uar=float(metrics["uar"]),
                  seconds=round(time.perf_counter() - start, 1))
    return record


def _checkpoint_epoch(path: Path) -> int | None:
    """The epoch a training checkpoint holds (None when unreadable: training then refuses it clearly)."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            return int(json.loads((handle.metadata() or {})["run"])["epoch"])
    except Exception:
        return None


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
                   threads: int | None = None, on_done: Callable[[dict], None] | None = None,
                   poll: float = 1.0) -> list[dict]:
    """Run the jobs not finished yet (one JSON file each under out/jobs/) and return every job's record.

    out/settings.json pins the model, training and AL settings and the feature cache: resuming
    with other settings is refused (start a new --out). workers: parallel processes; threads:
    torch threads per worker (default: CPU cores / workers). on_done: called per job this process
    finished. Other comparison processes may work on the same `out` at the same time: each job
    is claimed before it runs (`JobStore`); jobs another live process holds are waited for
    (checked every `poll` seconds) and taken over if that process dies.
    """
    out = Path(out)
    check_run_folder(out, "settings.json", "comparison report")
    _pin_settings(out / "settings.json", settings.to_dict())
    store = JobStore(out / "jobs")
    threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    args = (str(feat_dir),)
    records: dict[str, dict] = {}
    remaining = {job.key: job for job in jobs}
    in_flight: dict[Future, Job] = {}
    failed: list[str] = []
    pool = (ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 1 and len(jobs) > 1 else None)
    try:
        while remaining or in_flight:
            for key, job in list(remaining.items()):
                if len(in_flight) >= max(1, workers):
                    break
                record = store.record(key)
                if record is not None:  # finished earlier, or by another process meanwhile
                    records[key] = record
                    remaining.pop(key)
                elif store.claim(key):
                    remaining.pop(key)
                    run_args = (*args, job, settings.to_dict(), threads, str(store.checkpoint(key)))
                    if pool is None:  # in this process; errors propagate (the claim is released below)
                        future: Future = Future()
                        try:
                            future.set_result(run_job(*run_args))
                        except BaseException:
                            store.release(key)
                            raise
                    else:
                        future = pool.submit(run_job, *run_args)
                    in_flight[future] = job
            if not in_flight:
                if remaining:  # every job left is held by another live process
                    time.sleep(poll)
                continue
            done, _ = wait(in_flight, timeout=poll, return_when=FIRST_COMPLETED)
            for future in done:
                job = in_flight.pop(future)
                try:
                    record = future.result()
                except Exception as err:  # keep the other jobs' results; report every failure at the end
                    failed.append(f"{job.key}: {err}")
                    store.release(job.key)
                    continue
                records[job.key] = store.finish(record)
                if on_done:
                    on_done(record)
    finally:
        for job in in_flight.values():  # interrupted: give the claims back (their checkpoints stay)
            store.release(job.key)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) failed (finished ones are kept; re-run to resume): " + "; ".join(failed))
    return [records[job.key] for job in jobs if job.key in records]


class JobStore:
    """out/jobs/ shared by every comparison process on one report folder.

    <key>.json: a finished job's record, written atomically (readers never see half a file).
    <key>.claim: the job is running; holds the owner's host, pid and process start time. Claims are
    made under an exclusive lock on jobs/.lock (held for the check-and-write only), so two
    processes never claim one job; a claim whose owner no longer runs (same host) is stale and
    the next process takes the job over. Claims from another host are honoured: delete the
    .claim file to take such a job over. <key>.ckpt.safetensors: the training job's checkpoint
    (kept when a job is interrupted, so the next owner continues from its last epoch).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "started": _process_start(os.getpid())}

    def record(self, key: str) -> dict | None:
        path = self.folder / f"{key}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def checkpoint(self, key: str) -> Path:
        return self.folder / f"{key}.ckpt.safetensors"

    @contextmanager
    def _locked(self):
        import fcntl

        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def claim(self, key: str) -> bool:
        """True when this process now owns `key` (not finished, not held by a live process)."""
        claim = self.folder / f"{key}.claim"
        with self._locked():
            if (self.folder / f"{key}.json").exists():
                return False
            if claim.exists():
                try:
                    owner = json.loads(claim.read_text())
                except (OSError, ValueError):
                    owner = None  # unreadable: its writer died mid-write (claims are atomic, so not ours)
                if owner is not None and owner != self.me and _owner_alive(owner):
                    return False
            write_json_atomic(claim, self.me)
            return True

    def release(self, key: str) -> None:
        """Give a claim back (only this process's own)."""
        claim = self.folder / f"{key}.claim"
        with self._locked():
            try:
                if json.loads(claim.read_text()) == self.me:
                    claim.unlink()
            except (OSError, ValueError):
                pass

    def finish(self, record: dict) -> dict:
        """Store a finished job's record; its claim and checkpoint go."""
        key = record["key"]
        write_json_atomic(self.folder / f"{key}.json", record)
        self.checkpoint(key).unlink(missing_ok=True)
        self.release(key)
        return record


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux /proc), telling a reused pid apart."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _owner_alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        return True  # cannot tell from here
    try:
        pid = int(owner["pid"])
        os.kill(pid, 0)
    except (KeyError, TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass  # exists, another user's
    started = owner.get("started")
    return started is None or _process_start(pid) in (None, started)


def finished_records(out: str | Path) -> list[dict]:
    """Every finished job's record under out/jobs/ (whatever comparison grid produced them)."""
    return [json.loads(path.read_text()) for path in sorted((Path(out) / "jobs").glob("*.json"))]


def _pin_settings(path: Path, settings: dict) -> None:
    """Write settings.json once (exclusive create of the complete file: of two processes starting on
    one folder, one writes it and the other compares against it) or check it matches."""
    settings = json.loads(json.dumps(settings))  # as it reads back from disk (tuples become lists)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # the temporary file lives beside the folder, so the folder never holds a stray file
        tmp = path.parent.parent / f".{path.parent.name}.settings-{os.getpid()}.tmp"
        write_json_atomic(tmp, settings)
        try:
            os.link(tmp, path)  # fails if another process created it first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    previous = json.loads(path.read_text())
    changed = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
    if changed:
        raise ValueError(f"{path.parent} holds a comparison with other settings ({', '.join(changed)} differ); "
                         "choose a new --out to compare these settings")
