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
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.artifacts import write_json_atomic


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
    """Every job of a comparison: full data, AL at each budget (and at ipc x classes), random, coresets."""
    jobs = []
    for seed in range(seeds):
        jobs.append(Job("full", seed))
        al_budgets = list(budgets) + [str(ipc * n_classes) for ipc in ipcs]
        jobs += [Job("al", seed, strategy=s, budget=b) for s in strategies for b in al_budgets]
        jobs += [Job("random", seed, budget=str(ipc)) for ipc in ipcs]
        jobs += [Job("coreset", seed, coreset=str(c)) for c in coresets]
    return jobs


def run_job(feat_dir: str, job: Job, model: str, train_config: dict, model_kwargs: dict, threads: int) -> dict:
    """Train and score one job on the feature cache's train/test splits (runs in a worker)."""
    import torch

    from edgedistill.data.featureset import FeatureSet
    from edgedistill.evaluate import evaluate_model
    from edgedistill.methods.active_learning import ALConfig, run_active_learning
    from edgedistill.training import TrainConfig, train_model

    torch.set_num_threads(threads)
    feats = FeatureSet.load(feat_dir)
    train, test = feats.by_split("train"), feats.by_split("test")
    valid = feats.by_split("valid") if (feats.split == "valid").any() else None
    config = dataclasses.replace(TrainConfig.from_dict(train_config), seed=job.seed)
    record: dict[str, Any] = {"key": job.key, **dataclasses.asdict(job)}
    if job.kind == "al":
        result = run_active_learning(train, test, model, ALConfig(strategy=job.strategy, budget=job.budget, seed=job.seed),
                                     config, valid=valid, model_kwargs=model_kwargs)
        n, metrics = len(result.indices), result.rounds[-1]
        record["rounds"] = [{k: r[k] for k in ("n_labelled", "accuracy")} for r in result.rounds]
    else:
        x, y = _training_data(job, train, feats)
        trained = train_model(model, x, y, feats.labels, feats.config, config, valid=valid, model_kwargs=model_kwargs)
        n, metrics = len(x), evaluate_model(trained.model, test)
    record.update(n_samples=int(n), pool_size=len(train), n_classes=feats.n_classes,
                  accuracy=float(metrics["accuracy"]), uar=float(metrics["uar"]))
    return record


def _training_data(job: Job, train, feats) -> tuple[np.ndarray, np.ndarray]:
    if job.kind == "full":
        return np.asarray(train.x), train.y
    if job.kind == "random":
        return balanced_random_subset(train, int(job.budget), job.seed)
    from edgedistill.methods.coreset import load_coreset

    coreset = load_coreset(job.coreset, features=feats.config, labels=feats.labels)
    return coreset.x, coreset.y_soft if coreset.y_soft is not None else coreset.y


def balanced_random_subset(train, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` real samples of every class, drawn at random with `seed`."""
    rng = np.random.default_rng(seed)
    counts = train.class_counts()
    if per_class > counts.min():
        raise ValueError(f"{per_class} samples per class requested but the smallest class has {counts.min()}")
    index = np.concatenate([rng.choice(np.flatnonzero(train.y == c), per_class, replace=False) for c in range(train.n_classes)])
    return np.asarray(train.x[np.sort(index)]), train.y[np.sort(index)]


def run_comparison(feat_dir: str | Path, out: str | Path, jobs: list[Job], model: str, train_config: dict,
                   model_kwargs: dict | None = None, workers: int = 1,
                   on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the jobs not finished yet (results in out/jobs/*.json) and return every job's record."""
    jobs_dir = Path(out) / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    records, todo = [], []
    for job in jobs:
        path = jobs_dir / f"{job.key}.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
        else:
            todo.append(job)
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    args = (str(feat_dir),)
    if workers <= 1:
        for job in todo:
            records.append(_store(jobs_dir, run_job(*args, job, model, train_config, model_kwargs or {}, threads), on_done))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run_job, *args, job, model, train_config, model_kwargs or {}, threads) for job in todo]
            for future in as_completed(futures):
                records.append(_store(jobs_dir, future.result(), on_done))
    return records


def _store(jobs_dir: Path, record: dict, on_done) -> dict:
    write_json_atomic(jobs_dir / f"{record['key']}.json", record)
    if on_done:
        on_done(record)
    return record


# Report ---------------------------------------------------------------------------------------
def summarise(records: list[dict]) -> list[dict]:
    """Rows in the paper's form: method, % of samples, samples per class, accuracy mean/std."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        method = {"full": "Full data", "random": "Random (balanced)", "coreset": "Coreset"}.get(r["kind"], r.get("strategy", ""))
        if r["kind"] == "coreset":
            method = f"Coreset ({Path(r['coreset']).name})"
        groups.setdefault((r["kind"] != "full", method, r["n_samples"]), []).append(r)
    rows = []
    for (_, method, n), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        acc = np.array([g["accuracy"] for g in group]) * 100
        uar = np.array([g["uar"] for g in group]) * 100
        pool, classes = group[0]["pool_size"], group[0]["n_classes"]
        rows.append({"method": method, "percent": 100.0 * n / pool, "per_class": n / classes, "n_samples": n,
                     "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std(ddof=0)),
                     "uar_mean": float(uar.mean()), "seeds": len(group)})
    return rows


def write_report(rows: list[dict], out: str | Path, title: str) -> dict[str, Path]:
    """REPORT/report.md, report.csv, report.json and accuracy_vs_budget.png."""
    out = Path(out)
    lines = [f"# {title}", "", "| method | % of samples | samples per class | accuracy (%) | UAR (%) | seeds |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['method']} | {r['percent']:.2f} | {r['per_class']:.1f} | {r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f} "
              f"| {r['uar_mean']:.2f} | {r['seeds']} |" for r in rows]
    paths = {"md": out / "report.md", "csv": out / "report.csv", "json": out / "report.json", "png": out / "accuracy_vs_budget.png"}
    paths["md"].write_text("\n".join(lines) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    paths["csv"].write_text(buffer.getvalue())
    write_json_atomic(paths["json"], {"title": title, "rows": rows})
    plot_accuracy(rows, paths["png"], title)
    return paths


def plot_accuracy(rows: list[dict], path: Path, title: str) -> None:
    """Accuracy against % of training samples (log x): a line per strategy, markers for coresets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    ax.set_xlabel("% of training samples labelled (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
