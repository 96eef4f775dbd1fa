"""`edgedistill train` and `edgedistill crossval`: train a named classifier on a feature cache
(its train split, a balanced random subset, or a coreset artifact) and score it on the test
split; or cross-validate it over folds. torch is imported inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli.output import emit, log
from edgedistill.models import MODELS

_MODEL_NAMES = ", ".join(MODELS.names())

# Options shared by the training commands (one definition each; they map onto TrainConfig).
Features = Annotated[Path, typer.Option("--features", "-f", help="Feature cache directory (from `edgedistill features`/data prepare).")]
Model = Annotated[str, typer.Option("--model", "-m", help=f"Classifier: {_MODEL_NAMES}.")]
ModelKwargs = Annotated[str, typer.Option("--model-kwargs", help='Builder options as JSON, e.g. \'{"width": 16}\' (see `edgedistill models`).')]
Epochs = Annotated[int, typer.Option(help="Training epochs.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Clips per optimiser step.")]
Lr = Annotated[float, typer.Option("--lr", help="Adam learning rate (cosine-decayed to 0; the papers use 2e-4 for long runs).")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", help="Adam weight decay.")]
LabelSmoothing = Annotated[float, typer.Option("--label-smoothing", help="Cross-entropy label smoothing (hard labels only).")]
Augment = Annotated[bool, typer.Option("--augment/--no-augment", help="SpecAugment-style masks and time shift.")]
Balanced = Annotated[bool, typer.Option("--balanced/--shuffled", help="Class-balanced batch sampling instead of plain shuffling.")]
Patience = Annotated[int, typer.Option(help="Stop after this many epochs without a better validation accuracy (0: never).")]
Seed = Annotated[int, typer.Option(help="Seed for initialisation, sampling, augmentation and dropout.")]
Device = Annotated[str, typer.Option(help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N.")]
Threads = Annotated[Optional[int], typer.Option(help="torch CPU threads (default: torch's choice).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def _config(epochs, batch_size, lr, weight_decay, label_smoothing, augment, balanced, patience, device, threads, seed):
    from edgedistill.training import TrainConfig

    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, label_smoothing=label_smoothing,
                       augment=augment, balanced=balanced, patience=patience, device=device, threads=threads, seed=seed)


def _kwargs(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        raise ValueError(f"--model-kwargs is not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise ValueError(f"--model-kwargs must be a JSON object, got {text!r}")
    return value


def train(
    features: Features,
    out: Annotated[Path, typer.Option("--out", "-o", help="New model artifact directory (never overwritten).")],
    model: Model = "cnn4",
    coreset: Annotated[Optional[Path], typer.Option(help="Train on this coreset artifact (its learned soft labels when present).")] = None,
    per_class: Annotated[Optional[int], typer.Option("--per-class", help="Train on N random real clips per class of the train split (with --generator: N generated samples per class).")] = None,
    generator: Annotated[Optional[Path], typer.Option(help="Train on samples of this GAN generator artifact (--per-class sets the budget, default 100).")] = None,
    model_kwargs: ModelKwargs = "{}",
    epochs: Epochs = 30,
    batch_size: BatchSize = 64,
    lr: Lr = 3e-3,
    weight_decay: WeightDecay = 1e-4,
    label_smoothing: LabelSmoothing = 0.0,
    augment: Augment = True,
    balanced: Balanced = False,
    patience: Patience = 0,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from OUT.ckpt.safetensors.")] = False,
    as_json: AsJson = False,
) -> None:
    """Train a classifier and score it on the test split; the metrics go into the model artifact.

    Data: the whole train split by default, --per-class N random clips per class, --coreset ART,
    or --generator GEN (N generated samples per class, balanced).

    The valid split (when present) picks the best epoch; OUT.ckpt.safetensors is written every epoch.
    """
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.runs import select_training_data, train_and_save

    config = _config(epochs, batch_size, lr, weight_decay, label_smoothing, augment, balanced, patience, device, threads, seed)
    MODELS.get_entry(model)
    feats = FeatureSet.load(features)
    data = select_training_data(feats, coreset=coreset, per_class=per_class, generator=generator, seed=seed)
    log.print(f"training {model} on {data.description['n_samples']} clips ({data.description['source']}) from {features}")
    result = train_and_save(feats, data, model, config, out, model_kwargs=_kwargs(model_kwargs), resume=resume)
    emit(result, as_json, title=f"{model} trained -> {result['out']}")


def crossval(
    features: Features,
    model: Model = "cnn4",
    protocol: Annotated[str, typer.Option(help="fold (the data's folds), speaker (leave-speaker-group-out) or stratified (k-fold per class).")] = "fold",
    k: Annotated[int, typer.Option("--k", help="Folds for the speaker and stratified protocols.")] = 5,
    model_kwargs: ModelKwargs = "{}",
    epochs: Epochs = 30,
    batch_size: BatchSize = 64,
    lr: Lr = 3e-3,
    weight_decay: WeightDecay = 1e-4,
    label_smoothing: LabelSmoothing = 0.0,
    augment: Augment = True,
    balanced: Balanced = False,
    seed: Seed = 0,
    device: Device = "auto",
    threads: Threads = None,
    as_json: AsJson = False,
) -> None:
    """Cross-validate a classifier over all clips of a feature cache: mean and std over folds."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.runs import cross_validate

    config = _config(epochs, batch_size, lr, weight_decay, label_smoothing, augment, balanced, 0, device, threads, seed)
    feats = FeatureSet.load(features)
    result = cross_validate(feats, model, config, protocol, k=k, model_kwargs=_kwargs(model_kwargs),
                            on_fold=lambda r: log.print(f"fold {r['fold']}: accuracy {r['accuracy']:.4f}  uar {r['uar']:.4f}"))
    rows = [(r["fold"], r["n_train"], r["n_test"], r["accuracy"], r["uar"], r["macro_f1"]) for r in result["folds"]]
    rows.append(("mean ± std", "", "", f"{result['accuracy_mean']:.4f} ± {result['accuracy_std']:.4f}",
                 f"{result['uar_mean']:.4f} ± {result['uar_std']:.4f}", f"{result['macro_f1_mean']:.4f}"))
    emit(result, as_json, title=f"{model}: {protocol} cross-validation", rows=rows,
         columns=("fold", "n_train", "n_test", "accuracy", "uar", "macro_f1"))
