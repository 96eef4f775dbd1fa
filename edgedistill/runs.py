"""Training runs on a feature cache, as the CLI does them: pick the training data (the train split,
a balanced random subset, or a coreset artifact), train, score on the test split, save the model
artifact; and cross-validation (k-fold over the data's folds, leave-speaker-group-out, or a
stratified k-fold) with mean and standard deviation over folds.

torch is imported inside the functions (through `edgedistill.training`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.data.featureset import FeatureSet

PROTOCOLS = ("fold", "speaker", "stratified")


@dataclass
class TrainingData:
    """What a model is trained on: x (N, F, T), y int (N,) or float (N, C), and a description."""

    x: np.ndarray
    y: np.ndarray
    description: dict[str, Any]


def select_training_data(feats: FeatureSet, *, coreset: str | Path | None = None, per_class: int | None = None,
                         generator: str | Path | None = None, seed: int = 0) -> TrainingData:
    """The train split, `per_class` random real clips of each class, a coreset artifact, or
    `per_class` (default 100) samples of each class from a generator artifact.

    A coreset or generator must have the feature set's features and classes (the error names
    both); a coreset's learned soft labels are used when present.
    """
    if coreset is not None and (per_class is not None or generator is not None):
        raise ValueError("give either --coreset or --per-class (with --generator: the samples per class), not both")
    if generator is not None:
        return generated_training_data(feats, generator, per_class or 100, seed)
    train = feats.by_split("train")
    if coreset is not None:
        from edgedistill.methods.coreset import load_coreset

        core = load_coreset(coreset, features=feats.config, labels=feats.labels)
        soft = core.y_soft is not None
        return TrainingData(core.x, core.y_soft if soft else core.y,
                            {"source": "coreset", "coreset": str(coreset), "n_samples": int(len(core.y)),
                             "per_class": core.ipc, "soft_labels": soft,
                             "method": core.meta.method if core.meta else {}})
    if per_class is not None:
        index = balanced_indices(train.y, feats.n_classes, per_class, seed)
        return TrainingData(np.asarray(train.x[index]), train.y[index],
                            {"source": "random", "n_samples": int(len(index)), "per_class": per_class, "seed": seed})
    return TrainingData(np.asarray(train.x), train.y, {"source": "train split", "n_samples": len(train)})


def load_matching_generator(feats: FeatureSet, generator: str | Path):
    """A GAN generator artifact with the feature set's features and classes, or a clear error naming both."""
    from edgedistill.methods.gan.artifact import load_generator

    gen = load_generator(generator, features=feats.config)
    if list(gen.labels) != list(feats.labels):
        raise ValueError(f"{generator}: generator classes {list(gen.labels)} differ from the feature set's {list(feats.labels)}")
    return gen


def generated_training_data(feats: FeatureSet, generator: str | Path, per_class: int, seed: int) -> TrainingData:
    """`per_class` samples of every class drawn from a GAN generator artifact (balanced)."""
    from edgedistill.methods.gan.artifact import sample

    x, y = sample(load_matching_generator(feats, generator), per_class, seed=seed, balanced=True)
    return TrainingData(x, y, {"source": "generator", "generator": str(generator), "n_samples": int(len(y)),
                               "per_class": per_class, "seed": seed})


def balanced_indices(y: np.ndarray, n_classes: int, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of `per_class` clips of every class drawn at random with `seed`."""
    counts = np.bincount(y, minlength=n_classes)
    if per_class < 1 or per_class > counts.min():
        raise ValueError(f"{per_class} samples per class requested but the train split's smallest class has "
                         f"{counts.min()}; choose --per-class between 1 and {counts.min()}")
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(n_classes)]))


def split_or_none(feats: FeatureSet, name: str) -> FeatureSet | None:
    """The named split, or None when the feature set has none."""
    return feats.by_split(name) if (feats.split == name).any() else None


def train_and_save(feats: FeatureSet, data: TrainingData, model: str, config, out: str | Path, *,
                   model_kwargs: dict | None = None, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train on `data` (validating on the valid split), score the test split, write the artifact.

    A checkpoint `OUT.ckpt.safetensors` is written at every validated epoch (`TrainConfig.validations`)
    and removed once the artifact is complete; `resume=True` continues from it. Returns the run's figures.
    """
    from edgedistill.distributed import is_main, world_size
    from edgedistill.evaluate import evaluate_model
    from edgedistill.models import describe_model
    from edgedistill.model_artifact import save_model
    from edgedistill.training import train_model

    out = Path(out)
    from edgedistill.artifacts import check_output

    check_output(out)
    checkpoint = out.with_name(out.name + ".ckpt.safetensors")
    if resume and not checkpoint.exists():
        raise ValueError(f"--resume: no checkpoint at {checkpoint}; start without --resume")
    if checkpoint.exists() and not resume:
        raise ValueError(f"a checkpoint of an unfinished run exists at {checkpoint}: pass --resume to continue it, or delete it")
    valid, test = split_or_none(feats, "valid"), split_or_none(feats, "test")
    started = time.perf_counter()
    trained = train_model(model, data.x, data.y, feats.labels, config, model_kwargs=model_kwargs,
                          valid=(np.asarray(valid.x), valid.y) if valid is not None else None,
                          progress=progress, checkpoint=checkpoint, resume=resume)
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {}
    if test is not None:
        scores = evaluate_model(trained, test.x, test.y)
        metrics = {"split": "test", **{k: scores[k] for k in ("accuracy", "uar", "macro_f1", "n", "confusion", "per_class")}}
    valid_scores = [h["valid_accuracy"] for h in trained.history if "valid_accuracy" in h]
    if valid_scores:
        metrics["valid_accuracy"] = max(valid_scores)
    size = describe_model(trained.module, trained.input_shape)
    path = out
    if is_main():  # under torchrun every rank holds the same model; rank 0 writes it
        world = world_size()
        trained.train_config = config.replace(nproc=world)
        path = save_model(out, trained, feats.config, seed=config.seed, source_manifest_hash=feats.manifest_hash(),
                          metrics=metrics, extra={"training_data": data.description, **size, "world_size": world,
                                                  "train_seconds": round(seconds, 2)})
        checkpoint.unlink(missing_ok=True)
    return {"out": str(path), "model": model, **size, "n_train": int(len(data.y)), "epochs_run": len(trained.history),
            "train_seconds": seconds, **{k: v for k, v in metrics.items() if k not in ("confusion", "per_class", "split")}}


def fold_assignment(feats: FeatureSet, protocol: str, k: int = 5, seed: int = 0) -> np.ndarray:
    """A fold number per clip: the data's own folds, speaker groups, or a stratified k-fold.

    fold: the feature set's `fold` column (every clip needs one). speaker: speakers sorted and
    dealt round-robin into `k` groups (k >= number of speakers gives leave-one-speaker-out).
    stratified: each class's clips shuffled with `seed` and dealt into `k` folds.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if protocol == "fold":
        if (feats.fold < 0).any():
            raise ValueError("protocol 'fold' needs a fold for every clip and this feature set has clips without one; "
                             "use --protocol speaker or stratified")
        return feats.fold.astype(int)
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k}")
    if protocol == "speaker":
        speakers = sorted(set(feats.speaker.tolist()))
        if "" in speakers or len(speakers) < 2:
            raise ValueError("protocol 'speaker' needs a speaker for every clip and at least 2 speakers; use --protocol stratified")
        group = {s: i % k for i, s in enumerate(speakers)}
        return np.array([group[s] for s in feats.speaker])
    rng = np.random.default_rng(seed)
    folds = np.empty(len(feats), dtype=int)
    for c in range(feats.n_classes):
        index = rng.permutation(np.flatnonzero(feats.y == c))
        folds[index] = np.arange(len(index)) % k
    return folds


def cross_validate(feats: FeatureSet, model: str, config, protocol: str = "fold", *, k: int = 5,
                   model_kwargs: dict | None = None, progress: bool = True,
                   on_fold: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Train on all folds but one and test on it, for every fold; mean and std over folds.

    Every fold's training set must contain every class (an empty class is an error).
    """
    from edgedistill.evaluate import evaluate_model
    from edgedistill.training import train_model

    folds = fold_assignment(feats, protocol, k, config.seed)
    results = []
    for fold in sorted(set(folds.tolist())):
        test, train = feats.subset(folds == fold), feats.subset(folds != fold)
        trained = train_model(model, train.x, train.y, feats.labels, replace(config, seed=config.seed + fold),
                              model_kwargs=model_kwargs, progress=progress)
        scores = evaluate_model(trained, test.x, test.y)
        record = {"fold": int(fold), "n_train": len(train), "n_test": len(test),
                  **{k_: scores[k_] for k_ in ("accuracy", "uar", "macro_f1")}}
        results.append(record)
        if on_fold:
            on_fold(record)
    summary: dict[str, Any] = {"protocol": protocol, "model": model, "n_folds": len(results)}
    for name in ("accuracy", "uar", "macro_f1"):
        values = np.array([r[name] for r in results])
        summary[f"{name}_mean"], summary[f"{name}_std"] = float(values.mean()), float(values.std(ddof=0))
    summary["folds"] = results
    return summary
