"""Classification figures computed on the device: accuracy, UAR (balanced accuracy), macro F1, confusion.

numpy only: must not import torch or the host package (the host's evaluate.py is torch-side).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Figures for int labels: accuracy, uar (mean recall over classes present), macro_f1, n, confusion (rows = true)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    support, predicted, hits = confusion.sum(1), confusion.sum(0), np.diag(confusion)
    present = support > 0
    recall = np.divide(hits, support, out=np.zeros(n_classes), where=present)
    precision = np.divide(hits, predicted, out=np.zeros(n_classes), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(n_classes), where=(precision + recall) > 0)
    n = int(len(y_true))
    return {"accuracy": float(hits.sum() / n) if n else float("nan"),
            "uar": float(recall[present].mean()) if present.any() else float("nan"),
            "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
            "n": n, "confusion": confusion.tolist()}
