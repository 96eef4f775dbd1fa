"""`edgedistill train FEAT` and `edgedistill crossval FEAT`: train a named classifier on a feature
cache (its train split, a balanced random subset, a coreset or a generator) and score it on the
test split; or cross-validate it over folds. Training options come from `TrainConfig`'s fields.
torch is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.launch import main_rank, relaunch
from edgedistill.cli.output import emit, log
from edgedistill.train_config import TrainConfig

PANEL = "Training settings"


@opt.config_options(panel=PANEL, config=TrainConfig)
def train(
    feat: opt.Feat,
    out: opt.Out,
    model: opt.Model = "cnn4",
    model_arg: opt.ModelArg = None,
    coreset: Annotated[Optional[Path], typer.Option(help="Train on this coreset artifact (its learned soft labels when present).")] = None,
    per_class: Annotated[Optional[int], typer.Option("--per-class", help="Train on N random real clips per class of the train split (with --generator: N generated samples per class).")] = None,
    generator: Annotated[Optional[Path], typer.Option(help="Train on samples of this GAN generator artifact (--per-class sets the budget, default 100).")] = None,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    resume: opt.Resume = False,
    as_json: opt.Json = False,
    config: Any = None,
) -> None:
    """Train a classifier and score it on the test split; the metrics go into the model artifact.

    Data: the whole train split by default, --per-class N random clips per class, --coreset ART,
    or --generator GEN (N generated samples per class, balanced). The valid split (when present)
    picks the best epoch; OUT.ckpt.safetensors is written every epoch and --resume continues it.
    """
    from edgedistill.artifacts import check_output
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.models import MODELS
    from edgedistill.runs import select_training_data, train_and_save

    MODELS.get_entry(model)
    if not resume:
        check_output(out)
    relaunch(config.nproc)
    feats = FeatureSet.load(feat)
    data = select_training_data(feats, coreset=coreset, per_class=per_class, generator=generator, seed=seed)
    main = main_rank()
    if main:
        log.print(f"training {model} on {data.description['n_samples']} clips ({data.description['source']}) from {feat}")
    result = train_and_save(feats, data, model, config, out, model_kwargs=opt.model_kwargs(model_arg), resume=resume,
                            progress=main)
    if main:
        emit(result, as_json, title=f"{model} trained -> {result['out']}")


@opt.config_options(panel=PANEL, skip={"config": ("nproc",)}, config=TrainConfig)
def crossval(
    feat: opt.Feat,
    model: opt.Model = "cnn4",
    model_arg: opt.ModelArg = None,
    protocol: Annotated[str, typer.Option(help="fold (the data's folds), speaker (leave-speaker-group-out) or stratified (k-fold per class).")] = "fold",
    k: Annotated[int, typer.Option("--k", help="Folds for the speaker and stratified protocols.")] = 5,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    as_json: opt.Json = False,
    config: Any = None,
) -> None:
    """Cross-validate a classifier over all clips of a feature cache: mean and std over folds."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.runs import cross_validate

    feats = FeatureSet.load(feat)
    result = cross_validate(feats, model, config.replace(patience=0), protocol, k=k, model_kwargs=opt.model_kwargs(model_arg),
                            on_fold=lambda r: log.print(f"fold {r['fold']}: accuracy {r['accuracy']:.4f}  uar {r['uar']:.4f}"))
    rows = [(r["fold"], r["n_train"], r["n_test"], r["accuracy"], r["uar"], r["macro_f1"]) for r in result["folds"]]
    rows.append(("mean ± std", "", "", f"{result['accuracy_mean']:.4f} ± {result['accuracy_std']:.4f}",
                 f"{result['uar_mean']:.4f} ± {result['uar_std']:.4f}", f"{result['macro_f1_mean']:.4f}"))
    emit(result, as_json, title=f"{model}: {protocol} cross-validation", rows=rows,
         columns=("fold", "n_train", "n_test", "accuracy", "uar", "macro_f1"))
