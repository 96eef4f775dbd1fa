"""Quickstart stages on the host: synthesise, features, distill (one RFAD coreset per budget), and
train: cnn4 on each coreset vs as many random real clips vs the full train split, plus one
active-learning trajectory through the same budgets (the learning curve).

Each stage takes the Run, writes its artifacts under run.out (reusing complete ones left by an
interrupted run) and returns its figures. RFAD and training runs are jobs of
`edgedistill.quickstart.jobs` (parallel, one thread each, resumable). torch is imported in the jobs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.quickstart import jobs
from edgedistill.quickstart.config import Run


def synthesise(run: Run) -> dict[str, Any]:
    """Keyword clips spoken by espeak-ng voices with speaker-like variation and noise."""
    from edgedistill.data.synth import synthesize

    out, c = run.path("audio"), run.config
    if not (out / "manifest.csv").exists():
        synthesize(out, list(c.words), per_word=c.per_word, seed=run.seed("synthesise"), speakers=c.speakers,
                   workers=c.workers, progress=run.progress)
    wavs = sorted(out.rglob("*.wav"))
    return {"clips": len(wavs), "words": list(c.words), "audio_mb": sum(p.stat().st_size for p in wavs) / 1e6}


def features(run: Run) -> dict[str, Any]:
    """The kws front-end (40 MFCC x 101 frames) over every clip, cached as a FeatureSet."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.prepare import prepare

    out = run.path("features")
    if not (out / "meta.json").exists():
        # one process: 0.5 ms of numpy per clip, less than a worker pool costs to start
        prepare("synth", run.path("audio"), "kws", out, seed=run.seed("features"), workers=1, progress=run.progress)
    feats = FeatureSet.load(out)
    counts = {name: int((feats.split == name).sum()) for name in ("train", "valid", "test")}
    return {"feature_id": feats.feature_id, "shape": list(feats.config.shape), "n_classes": feats.n_classes, **counts,
            "features_mb": Path(out, "features.npy").stat().st_size / 1e6}


def distill(run: Run) -> dict[str, Any]:
    """One RFAD coreset per budget (samples per class), each KRR-scored against random real clips."""
    c = run.config
    todo = [{"key": f"ipc{ipc}", "ipc": ipc, "cost": ipc, "features": str(run.path("features")),
             "out": str(run.path("coresets", f"ipc{ipc}")), "score_seed": run.seed("krr-score", ipc),
             "rfad": {"ipc": ipc, "steps": c.rfad_steps, "batch_size": c.rfad_batch, "time_pool": c.rfad_time_pool,
                      "init": c.rfad_init, "seed": run.seed("distill", ipc), "eval_every": max(10, c.rfad_steps // 6)}}
            for ipc in c.budgets]
    done = jobs.run_jobs(run.out, "distill", todo, jobs.distil, c.workers, run.say)
    return {"budgets": {str(job["ipc"]): done[job["key"]] for job in todo}}


def train(run: Run) -> dict[str, Any]:
    """The learning curve: at each budget cnn4 on the coreset and on as many random real clips per
    class (`seeds` training seeds each, paired), cnn4 on the full train split, and one
    active-learning trajectory that ends a round at every budget's number of clips."""
    c = run.config
    n_classes = run.results["features"]["n_classes"]
    common = {"features": str(run.path("features")), "model": c.model, "model_kwargs": {"width": c.width}}

    def train_config(seed: int) -> dict[str, Any]:
        return {"epochs": c.epochs, "min_steps": c.min_steps, "batch_size": c.batch_size, "validations": c.validations, "seed": seed}

    todo: list[dict[str, Any]] = []
    for s in range(c.seeds):
        seed = run.seed("train", s)  # the same training seed for coreset and random: a paired comparison
        for ipc in c.budgets:
            todo.append({**common, "key": f"coreset-ipc{ipc}-s{s}", "kind": "coreset", "ipc": ipc, "cost": ipc,
                         "coreset": run.results["distill"]["budgets"][str(ipc)]["out"],
                         "out": str(run.path("models", f"coreset-ipc{ipc}-s{s}")), "train": train_config(seed)})
            todo.append({**common, "key": f"random-ipc{ipc}-s{s}", "kind": "random", "ipc": ipc, "cost": ipc,
                         "data_seed": run.seed("random", ipc, s),
                         "out": str(run.path("models", f"random-ipc{ipc}-s{s}")), "train": train_config(seed)})
    todo.append({**common, "key": "full-s0", "kind": "full", "cost": 50, "out": str(run.path("models", "full-s0")),
                 "train": train_config(run.seed("train", 0))})
    al_budgets = [ipc * n_classes for ipc in c.budgets if ipc > 1]  # the initial set is one clip per class
    if al_budgets:
        todo.append({**common, "key": f"al-{c.al_strategy}", "strategy": c.al_strategy, "budgets": al_budgets,
                     "initial": n_classes, "rounds": c.al_rounds, "seed": run.seed("al"), "cost": 100,
                     "train": train_config(run.seed("train", 0))})
    done = jobs.run_jobs(run.out, "train", todo, _work, c.workers, run.say)
    curve = {}
    for kind in ("coreset", "random"):
        curve[kind] = {}
        for ipc in c.budgets:
            group = [done[f"{kind}-ipc{ipc}-s{s}"] for s in range(c.seeds)]
            accuracy = np.array([g["accuracy"] for g in group])
            curve[kind][str(ipc)] = {"accuracy": float(accuracy.mean()), "accuracy_std": float(accuracy.std()),
                                     "accuracies": accuracy.tolist(), "n_train": group[0]["n_train"], "runs": len(group),
                                     "train_seconds": float(np.mean([g["train_seconds"] for g in group])),
                                     "model_dir": group[0]["out"]}
    full = done["full-s0"]
    al = done.get(f"al-{c.al_strategy}")
    return {"curve": curve, "full": {k: full[k] for k in ("accuracy", "uar", "n_train", "train_seconds", "out")},
            "active_learning": al, "chosen": {"ipc": c.chosen_ipc, "model_dir": curve["coreset"][str(c.chosen_ipc)]["model_dir"]}}


def _work(job: dict[str, Any]) -> dict[str, Any]:
    return jobs.active_learning(job) if "strategy" in job else jobs.train(job)
