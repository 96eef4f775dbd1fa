"""The comparison the audio dataset-distillation paper makes, for any feature set, in one call.

Rows: full data; active learning (each strategy x budget); class-balanced random real samples
at the coreset budgets; coresets (each artifact). Each (row, seed) is one job whose result is a
small JSON file under REPORT/jobs/, so a re-run reuses finished jobs and an interrupted run
resumes. Jobs run in parallel processes. The report is Markdown, CSV, JSON and a PNG plot of
accuracy against the percentage of training samples (log scale). torch is imported in workers.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.artifacts import write_json_atomic
from edgedistill.runs import balanced_indices


@dataclass(frozen=True)
class Job:
    """One training run of the comparison. kind: full | al | random | coreset."""

    kind: str
    seed: int
    strategy: str = ""
    budget: str = ""  # AL: "20%" or a count; random: samples per class
    coreset: str = ""  # coreset artifact path

    @property
    def key(self) -> str:
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        slug = "-".join(str(v).replace("%", "pct").replace("/", "_") for v in (self.kind, self.strategy, self.budget) if v)
        return f"{slug}-s{self.seed}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def plan_jobs(strategies: list[str], budgets: list[str], ipcs: list[int], coresets: list[str], seeds: int,
              n_classes: int) -> list[Job]:
    """Every job of a comparison: full data, AL at each budget and at ipc x classes, balanced random, coresets."""
    if seeds < 1:
        raise ValueError(f"seeds={seeds}: need at least 1")
    jobs = []
    al_budgets = list(dict.fromkeys([str(b).strip() for b in budgets] + [str(ipc * n_classes) for ipc in ipcs]))
    for seed in range(seeds):
        jobs.append(Job("full", seed))
        jobs += [Job("al", seed, strategy=s, budget=b) for s in strategies for b in al_budgets]
        jobs += [Job("random", seed, budget=str(ipc)) for ipc in ipcs]
        jobs += [Job("coreset", seed, coreset=str(c)) for c in coresets]
    return jobs


@dataclass(frozen=True)
class CompareSettings:
    """What every job of one comparison shares; written to REPORT/settings.json and checked on resume."""

    model: str
    train_config: dict[str, Any]
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    al: dict[str, Any] = dataclasses.field(default_factory=dict)  # ALConfig fields besides strategy/budget/seed
    min_steps: int = 0  # every model gets at least this many optimiser steps (small budgets: more epochs)
    feature_id: str = ""
    manifest_hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_jobs(feats, jobs: list[Job]) -> None:
    """Refuse, before any training, budgets the train split cannot hold and coresets of other features."""
    from edgedistill.methods.active_learning import parse_budget
    from edgedistill.methods.coreset import load_coreset

    train = feats.by_split("train")
    feats.by_split("test")
    counts = train.class_counts()
    for job in jobs:
        if job.kind == "al":
            parse_budget(job.budget, len(train), train.n_classes)
        elif job.kind == "random" and not 1 <= int(job.budget) <= counts.min():
            raise ValueError(f"--ipc {job.budget}: the smallest class of the train split has {counts.min()} clips")
        elif job.kind == "coreset":
            load_coreset(job.coreset, features=feats.config, labels=feats.labels)


def run_job(feat_dir: str, job: Job, settings: dict, threads: int) -> dict:
    """Train and score one job on the feature cache's train/test splits (runs in a worker process)."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.evaluate import evaluate_model
    from edgedistill.methods.active_learning import ALConfig, run_active_learning, split_arrays, with_min_steps
    from edgedistill.training import TrainConfig, train_model

    feats = FeatureSet.load(feat_dir)
    train, test_xy, valid = feats.by_split("train"), split_arrays(feats, "test"), split_arrays(feats, "valid")
    if test_xy is None:
        raise ValueError(f"{feat_dir}: the feature cache has no test split to score the comparison on")
    config = dataclasses.replace(TrainConfig.from_dict(settings["train_config"]), seed=job.seed, threads=threads)
    model, model_kwargs = settings["model"], settings["model_kwargs"]
    record: dict[str, Any] = {"key": job.key, **dataclasses.asdict(job)}
    if job.kind == "al":
        al = ALConfig.from_dict({**settings["al"], "strategy": job.strategy, "budget": job.budget, "seed": job.seed})
        result = run_active_learning(train, model, al, config, test=test_xy, valid=valid, model_kwargs=model_kwargs,
                                     min_steps=settings["min_steps"])
        n, metrics = len(result.indices), result.rounds[-1]
        record["rounds"] = [{k: r[k] for k in ("n_labelled", "accuracy", "uar")} for r in result.rounds]
    else:
        x, y = _training_data(job, train, feats)
        trained = train_model(model, x, y, feats.labels, with_min_steps(config, len(x), settings["min_steps"]), valid=valid,
                              model_kwargs=model_kwargs, progress=False)
        n, metrics = len(x), evaluate_model(trained, *test_xy)
    record.update(n_samples=int(n), pool_size=len(train), n_classes=feats.n_classes,
                  accuracy=float(metrics["accuracy"]), uar=float(metrics["uar"]))
    return record


def _training_data(job: Job, train, feats) -> tuple[np.ndarray, np.ndarray]:
    if job.kind == "full":
        return np.asarray(train.x), train.y
    if job.kind == "random":
        index = balanced_indices(train.y, train.n_classes, int(job.budget), job.seed)
        return np.asarray(train.x[index]), train.y[index]
    from edgedistill.methods.coreset import load_coreset

    coreset = load_coreset(job.coreset, features=feats.config, labels=feats.labels)
    return coreset.x, coreset.y_soft if coreset.y_soft is not None else coreset.y


def run_comparison(feat_dir: str | Path, out: str | Path, jobs: list[Job], settings: CompareSettings, workers: int = 1,
                   threads: int | None = None, on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the jobs not finished yet (one JSON file each under out/jobs/) and return every job's record.

    out/settings.json pins the model, training and AL settings and the feature cache: resuming
    with other settings is refused (start a new --out). workers: parallel processes; threads:
    torch threads per worker (default: CPU cores / workers). on_done: called per finished job.
    """
    out, jobs_dir = Path(out), Path(out) / "jobs"
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


# Report ---------------------------------------------------------------------------------------
AL_NAMES = {"entropy": "Max Entropy", "variation-ratios": "Variation Ratios", "bald": "BALD", "margin": "Margin",
            "random": "Random"}


def method_name(record: dict) -> str:
    """The table's method column for a job record."""
    if record["kind"] == "full":
        return "Full data"
    if record["kind"] == "random":
        return "Random balanced (real)"
    if record["kind"] == "coreset":
        return f"Coreset {Path(record['coreset']).name}"
    return f"AL {AL_NAMES.get(record['strategy'], record['strategy'])}"


def summarise(records: list[dict]) -> list[dict]:
    """Rows in the paper's form: method, % of samples, samples per class, accuracy mean/std (in %).

    The full-data row comes first, then methods by name and budgets from largest to smallest;
    std is the population standard deviation over seeds.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["kind"] != "full", method_name(r), r["n_samples"]), []).append(r)
    rows = []
    for (_, method, n), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        acc = np.array([g["accuracy"] for g in group]) * 100
        uar = np.array([g["uar"] for g in group]) * 100
        pool, classes = group[0]["pool_size"], group[0]["n_classes"]
        rows.append({"method": method, "percent": 100.0 * n / pool, "per_class": n / classes, "n_samples": n,
                     "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=0)),
                     "uar_mean": float(uar.mean()), "seeds": len(group)})
    return rows


def write_report(rows: list[dict], out: str | Path, title: str, notes: list[str] = ()) -> dict[str, Path]:
    """REPORT/report.md, report.csv, report.json and accuracy_vs_budget.png; `notes` go under the title."""
    if not rows:
        raise ValueError("no finished jobs to report")
    out = Path(out)
    lines = [f"# {title}", "", *[f"- {note}" for note in notes], "",
             "| method | % of samples | samples per class | accuracy (%) | UAR (%) | seeds |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['percent']:.2f} | {r['per_class']:.1f} | {r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f} "
              f"| {r['uar_mean']:.2f} | {r['seeds']} |" for r in rows]
    paths = {"md": out / "report.md", "csv": out / "report.csv", "json": out / "report.json",
             "png": out / "accuracy_vs_budget.png"}
    write_text_atomic(paths["md"], "\n".join(lines) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(paths["csv"], buffer.getvalue())
    write_json_atomic(paths["json"], {"title": title, "notes": list(notes), "rows": rows})
    plot_accuracy(rows, paths["png"], title)
    return paths


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def plot_accuracy(rows: list[dict], path: Path, title: str) -> None:
    """Accuracy against % of training samples (log x): a line per strategy, markers for coresets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_method: dict[str, list[dict]] = {}
    for r in rows:
        by_method.setdefault(r["method"], []).append(r)
    for method, group in by_method.items():
        group = sorted(group, key=lambda r: r["percent"])
        xs, ys, es = ([r[k] for r in group] for k in ("percent", "accuracy_mean", "accuracy_std"))
        if method == "Full data":
            ax.axhline(ys[0], color="black", linestyle="--", label=f"Full data ({ys[0]:.1f} %)")
            continue
        style = dict(marker="*", markersize=12, linestyle="none") if method.startswith("Coreset") else dict(marker="o")
        ax.errorbar(xs, ys, yerr=es, capsize=3, label=method, **style)
    ax.set_xscale("log")
    ticks = sorted({round(r["percent"], 2) for r in rows if r["method"] != "Full data"})
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("% of training samples labelled (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)
    plt.close(fig)
