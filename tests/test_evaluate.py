"""Metrics against hand-worked numbers, the exact McNemar test, the confusion plot."""

import math

import numpy as np
import pytest

from edgedistill.evaluate import classification_metrics, mcnemar, plot_confusion

LABELS = ["a", "b", "c"]


def test_metrics_hand_worked():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    m = classification_metrics(y_true, y_pred, LABELS)
    assert m["accuracy"] == pytest.approx(5 / 8)
    # recalls: a 3/4, b 1/2, c 1/2 -> UAR 7/12
    assert m["uar"] == pytest.approx(7 / 12)
    # precisions: a 3/4, b 1/3, c 1/1; F1: a 3/4, b 0.4, c 2/3
    assert m["macro_f1"] == pytest.approx((0.75 + 0.4 + 2 / 3) / 3)
    assert m["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    assert m["per_class"][1] == {"label": "b", "support": 2, "recall": 0.5, "precision": pytest.approx(1 / 3), "f1": pytest.approx(0.4)}
    assert m["n"] == 8


def test_uar_ignores_classes_absent_from_the_test_set():
    m = classification_metrics(np.array([0, 0, 1]), np.array([0, 2, 1]), LABELS)
    assert m["uar"] == pytest.approx((0.5 + 1.0) / 2)


def test_mcnemar_exact_binomial():
    y = np.zeros(20, dtype=int)
    a = np.zeros(20, dtype=int)  # A right everywhere
    b = np.zeros(20, dtype=int)
    b[:6] = 1  # B wrong on 6 clips, right where A is right otherwise
    result = mcnemar(y, a, b)
    assert (result["b"], result["c"]) == (6, 0)
    assert result["p_value"] == pytest.approx(2 * 1 / 2 ** 6)
    b[6] = 0
    a[6:8] = 1  # A wrong on 2 clips where B is right: b=6, c=2
    result = mcnemar(y, a, b)
    expected = 2 * sum(math.comb(8, i) for i in range(3)) / 2 ** 8
    assert (result["b"], result["c"], result["p_value"]) == (6, 2, pytest.approx(expected))
    assert mcnemar(y, a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match="same clips"):
        mcnemar(y, a[:3], b)


def test_plot_confusion_writes_a_png(tmp_path):
    path = plot_confusion([[3, 1, 0], [1, 1, 0], [0, 1, 1]], LABELS, tmp_path / "cm.png", title="toy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
