"""`edgedistill evaluate RUN FEAT`: score a model artifact on a split of a feature cache (accuracy, UAR,
macro F1, per-class recall), optionally plot the confusion matrix, save the predictions, and
compare with a second model by the exact McNemar test; or, with --coreset, score an RFAD coreset
directly by kernel ridge regression on fresh random features (as `edgedistill krr-score`): the
kind of RUN is read from its meta.json.
torch is imported inside the command.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log


def evaluate(
    run: Annotated[Path, typer.Argument(help="A model artifact (from `edgedistill train`) or an RFAD coreset (scored by KRR "
                                            "fitted on it with fresh random-feature nets); the kind is read from its meta.json.",
                                       show_default=False)],
    feat: opt.Feat,
    draws: Annotated[int, typer.Option(help="Coreset: fresh random-net draws (mean ± std over them).")] = 5,
    split: Annotated[str, typer.Option(help="Split to score: train, valid or test.")] = "test",
    confusion: Annotated[Optional[Path], typer.Option(help="Write the confusion-matrix plot to this PNG.")] = None,
    predictions: Annotated[Optional[Path], typer.Option(help="Write y_true, y_pred, probs and paths to this .npz (no pickle).")] = None,
    versus: Annotated[Optional[Path], typer.Option(help="A second model artifact: add its scores and an exact McNemar test.")] = None,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    as_json: opt.Json = False,
) -> None:
    """Score a trained model, or a coreset by kernel ridge regression, on one split of FEAT."""
    import numpy as np

    from edgedistill.artifacts import read_meta

    model, features = run, feat
    if read_meta(run).schema == "edgedistill.coreset":
        from edgedistill.cli.distill import krr_score

        return krr_score(run, feat, split=split, draws=draws, seed=seed, device=device, as_json=as_json)

    from edgedistill.data.featureset import FeatureSet
    from edgedistill.evaluate import mcnemar, plot_confusion, classification_metrics
    from edgedistill.model_artifact import load_model

    feats = FeatureSet.load(features)
    data = feats.by_split(split)
    trained = load_model(model, features=feats.config)
    if trained.labels != feats.labels:
        raise ValueError(f"{model} was trained on classes {trained.labels} but {features} has {feats.labels}")
    probs = trained.predict_proba(data.x)
    result = {"model": str(model), "split": split, **classification_metrics(data.y, probs.argmax(1), feats.labels)}
    if versus is not None:
        other = load_model(versus, features=feats.config)
        if other.labels != feats.labels:
            raise ValueError(f"{versus} was trained on classes {other.labels} but {features} has {feats.labels}")
        other_pred = other.predict(data.x)
        result["versus"] = {"model": str(versus), **classification_metrics(data.y, other_pred, feats.labels)}
        result["mcnemar"] = mcnemar(data.y, probs.argmax(1), other_pred)
    if confusion is not None:
        plot_confusion(result["confusion"], feats.labels, confusion, title=f"{Path(model).name} on {split}")
        result["confusion_png"] = str(confusion)
    if predictions is not None:
        if predictions.suffix != ".npz":
            raise ValueError(f"--predictions {predictions}: must end in .npz")
        tmp = predictions.with_name(f".{predictions.name}.tmp.npz")
        np.savez(tmp, y_true=data.y, y_pred=probs.argmax(1), probs=probs.astype(np.float32),
                 paths=np.asarray(data.path, dtype=str), labels=np.asarray(feats.labels, dtype=str))
        os.replace(tmp, predictions)
        result["predictions"] = str(predictions)
    log.print(f"{model}: {result['n']} {split} clips")
    rows = [("accuracy", result["accuracy"]), ("uar", result["uar"]), ("macro_f1", result["macro_f1"]), ("n", result["n"])]
    rows += [(f"recall {c['label']}", c["recall"]) for c in result["per_class"]]
    if versus is not None:
        rows += [("versus accuracy", result["versus"]["accuracy"]), ("mcnemar p_value", result["mcnemar"]["p_value"])]
    emit(result, as_json, title=f"{Path(model).name} on {split}", rows=rows)
