"""Quickstart stages on the host: synthesise, features, distill (RFAD), train and compare.

Each stage takes the Run, writes its artifact under run.out (or reuses a complete one left by an
interrupted run) and returns its figures. torch is imported inside the stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.quickstart.config import Run

RANDOM_DRAWS = 5  # random real subsets scored by KRR against the coreset

def synthesise(run: Run) -> dict[str, Any]:
    """Keyword clips spoken by espeak-ng voices with speaker-like variation and noise."""
    from edgedistill.data.synth import synthesize

    out, c = run.path("audio"), run.config
    if not (out / "manifest.csv").exists():
        synthesize(out, list(c.words), per_word=c.per_word, seed=c.seed, speakers=c.speakers, workers=c.workers,
                   progress=run.progress)
    wavs = sorted(out.rglob("*.wav"))
    return {"clips": len(wavs), "words": list(c.words), "audio_mb": sum(p.stat().st_size for p in wavs) / 1e6}


def features(run: Run) -> dict[str, Any]:
    """The kws front-end (40 MFCC x 101 frames) over every clip, cached as a FeatureSet."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.prepare import prepare

    out = prepare("synth", run.path("audio"), "kws", run.path("features"), seed=run.config.seed,
                  workers=run.config.workers, progress=run.progress)
    feats = FeatureSet.load(out)
    counts = {name: int((feats.split == name).sum()) for name in ("train", "valid", "test")}
    return {"feature_id": feats.feature_id, "shape": list(feats.config.shape), **counts,
            "features_mb": Path(out, "features.npy").stat().st_size / 1e6}


def distill(run: Run) -> dict[str, Any]:
    """RFAD coreset at `ipc` per class, KRR-scored on the test split against random real clips.

    Figures: KRR test accuracy and mean squared error (RFAD's loss, on held-out clips) of the
    coreset and, mean and std over RANDOM_DRAWS draws, of random real clips of the same budget.
    """
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import Coreset, load_coreset
    from edgedistill.methods.distiller import DISTILLERS
    from edgedistill.methods.krr import score_coreset
    from edgedistill.methods.rfad import RFADConfig
    from edgedistill.runs import balanced_indices

    c, feats = run.config, FeatureSet.load(run.path("features"))
    train, test = feats.by_split("train"), feats.by_split("test")
    out = run.path("coreset")
    if not (out / "meta.json").exists():
        config = RFADConfig(ipc=c.ipc, steps=c.rfad_steps, batch_size=c.rfad_batch, time_pool=c.rfad_time_pool, init=c.rfad_init,
                            seed=c.seed, eval_every=max(10, c.rfad_steps // 10))
        resume = out.with_name(f"{out.name}.ckpt.npz").exists()  # an interrupted run continues from its checkpoint
        DISTILLERS["rfad"].run(run.path("features"), out, config, None, resume=resume, progress=run.progress)
    coreset = load_coreset(out, features=feats.config, labels=feats.labels)
    scored = score_coreset(coreset, test, seed=c.seed)
    random_scores = []
    for seed in range(RANDOM_DRAWS):
        index = balanced_indices(train.y, feats.n_classes, c.ipc, c.seed + seed)
        subset = Coreset(x=np.asarray(train.x[index]), y=train.y[index], labels=feats.labels, config=feats.config,
                         meta=coreset.meta)  # scored with the coreset's own kernel and normalisation
        random_scores.append(score_coreset(subset, test, seed=c.seed))
    accuracy, mse = (np.array([r[k] for r in random_scores]) for k in ("accuracy", "mse"))
    return {"ipc": c.ipc, "n_samples": int(len(coreset.y)), "coreset_kb": _size_kb(out), "steps": c.rfad_steps,
            "krr_accuracy": scored["accuracy"], "krr_accuracy_std": scored["accuracy_std"], "krr_mse": scored["mse"],
            "krr_random_accuracy": float(accuracy.mean()), "krr_random_accuracy_std": float(accuracy.std()),
            "krr_random_mse": float(mse.mean()), "krr_random_mse_std": float(mse.std()), "random_draws": RANDOM_DRAWS}


def train(run: Run) -> dict[str, Any]:
    """The classifier trained on the coreset, on as many random real clips per class, and on the full train split."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.runs import select_training_data

    c, feats = run.config, FeatureSet.load(run.path("features"))
    runs: dict[str, list[dict[str, Any]]] = {"coreset": [], "random": [], "full": []}
    for seed in range(c.seeds):
        runs["coreset"].append(_train_once(run, feats, "coreset", seed, select_training_data(feats, coreset=run.path("coreset"))))
        runs["random"].append(_train_once(run, feats, "random", seed,
                                          select_training_data(feats, per_class=c.ipc, seed=c.seed + seed)))
    runs["full"].append(_train_once(run, feats, "full", 0, select_training_data(feats)))
    summary = {}
    for name, group in runs.items():
        accuracy = np.array([g["accuracy"] for g in group])
        summary[name] = {"accuracy": float(accuracy.mean()), "accuracy_std": float(accuracy.std()),
                         "uar": float(np.mean([g["uar"] for g in group])), "n_train": group[0]["n_train"],
                         "train_seconds": float(np.mean([g["train_seconds"] for g in group])), "runs": len(group),
                         "model_dir": group[0]["out"]}
    return summary


def _train_once(run: Run, feats, name: str, seed: int, data) -> dict[str, Any]:
    from edgedistill.artifacts import read_meta
    from edgedistill.runs import train_and_save
    from edgedistill.train_config import TrainConfig

    c = run.config
    out = run.path("models", f"{name}-{seed}")
    if (out / "meta.json").exists():  # a finished run of an interrupted quickstart: reuse its figures
        meta = read_meta(out)
        return {"out": str(out), "n_train": meta.extra["training_data"]["n_samples"],
                "train_seconds": meta.extra.get("train_seconds", 0.0), **meta.metrics}
    config = TrainConfig(epochs=c.epochs, min_steps=c.min_steps, seed=c.seed + seed)
    return train_and_save(feats, data, c.model, config, out, model_kwargs={"width": c.width}, progress=run.progress)


def _size_kb(folder: Path) -> float:
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file()) / 1024
