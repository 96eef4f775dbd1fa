"""Honest evaluation of a trained classifier: accuracy, UAR, macro F1, per-class figures,
confusion matrix (and its plot), the exact McNemar test between two models on the same clips.

`classification_metrics` and `mcnemar` are numpy-only pure functions; `evaluate_model` runs a
TrainedModel (torch, through its `predict_proba`). matplotlib is imported inside `plot_confusion`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np


def evaluate_model(trained, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> dict[str, Any]:
    """Score `trained` (a TrainedModel) on features x (N, F, T) with int labels y (N,).

    Returns accuracy, uar (unweighted average recall = balanced accuracy over the classes present
    in y), macro_f1, n, confusion (C x C list, rows true, columns predicted), per_class (label,
    support, recall, precision, f1) and predictions (list of predicted indices).
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} feature maps but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("nothing to evaluate: the evaluation set is empty")
    predictions = trained.predict(x, batch_size=batch_size)
    metrics = classification_metrics(y, predictions, trained.labels)
    metrics["predictions"] = predictions.tolist()
    return metrics


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """accuracy, uar, macro_f1, n, confusion and per_class from true and predicted indices.

    UAR averages recall over the classes that occur in y_true (a class absent from the test set
    has no recall); macro F1 averages F1 over the same classes (F1 = 0 when a class is never
    predicted correctly).
    """
    n_classes = len(labels)
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.size and (y_true.min() < 0 or y_true.max() >= n_classes or y_pred.min() < 0 or y_pred.max() >= n_classes):
        raise ValueError(f"class indices must be in [0, {n_classes})")
    confusion = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    hits = np.diag(confusion)
    recall = np.divide(hits, support, out=np.zeros(n_classes), where=support > 0)
    precision = np.divide(hits, predicted, out=np.zeros(n_classes), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=(precision + recall) > 0)
    present = support > 0
    return {
        "accuracy": float(hits.sum() / max(1, len(y_true))),
        "uar": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "n": int(len(y_true)),
        "confusion": confusion.tolist(),
        "per_class": [{"label": labels[c], "support": int(support[c]), "recall": float(recall[c]),
                       "precision": float(precision[c]), "f1": float(f1[c])} for c in range(n_classes)],
    }


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, Any]:
    """Exact (binomial) McNemar test: do models A and B err on the same clips equally often?

    b = clips A gets right and B wrong, c = the reverse; p_value = two-sided exact binomial
    probability of a split at least as uneven as (b, c) under p = 1/2 (1.0 when b = c = 0).
    """
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not len(y_true) == len(pred_a) == len(pred_b):
        raise ValueError(f"McNemar needs predictions on the same clips: {len(y_true)} labels, {len(pred_a)} and {len(pred_b)} predictions")
    right_a, right_b = pred_a == y_true, pred_b == y_true
    b, c = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    n, k = b + c, min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n if n else 0.5
    return {"b": b, "c": c, "n_discordant": n, "p_value": float(min(1.0, 2 * tail)),
            "accuracy_a": float(right_a.mean()), "accuracy_b": float(right_b.mean())}


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, title: str = "",
                   normalize: bool = True) -> Path:
    """Save a confusion-matrix heat map (rows true, columns predicted) as a PNG at `path`.

    normalize: colour by row-normalised recall (the counts are written in the cells either way).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    shade = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalize else counts
    n = len(labels)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    image = ax.imshow(shade, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, label="recall" if normalize else "count")
    ax.set_xticks(range(n), labels, rotation=90 if n > 6 else 0, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if shade[i, j] > 0.5 * shade.max() else "black")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
