"""A picture of an RFAD run, written into the coreset artifact as ``history.png``.

Top: the KRR loss on the real batches per step (with a running mean) and the validation KRR
accuracy at each evaluation (the kept step marked); bottom: the first synthetic feature map of
each class (up to 10), so a user sees what the distilled "clips" look like. numpy and
matplotlib (imported inside the function, Agg backend); must not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PLOT_FILE = "history.png"
MAX_CLASSES_SHOWN = 10


def plot_distillation(x: np.ndarray, y: np.ndarray, labels: list[str], history: list[dict[str, Any]],
                      path: str | Path, title: str = "RFAD", best_step: int | None = None) -> None:
    """Write the run's curves and one feature map per class to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = [c for c in range(len(labels)) if (y == c).any()][:MAX_CLASSES_SHOWN]
    fig = plt.figure(figsize=(max(8.0, 1.6 * len(classes)), 6.0))
    grid = fig.add_gridspec(2, max(len(classes), 1), height_ratios=[1.4, 1.0])
    ax = fig.add_subplot(grid[0, :])
    steps = np.array([h["step"] for h in history if "loss" in h])
    loss = np.array([h["loss"] for h in history if "loss" in h])
    if len(loss):
        ax.plot(steps, loss, color="tab:blue", alpha=0.3, linewidth=0.8)
        window = max(1, len(loss) // 25)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="tab:blue", label=f"loss (running mean of {window})")
    ax.set_xlabel("step")
    ax.set_ylabel("KRR loss on real batches", color="tab:blue")
    scored = [(h["step"], h["valid_accuracy"]) for h in history if "valid_accuracy" in h]
    if scored:
        acc_ax = ax.twinx()
        acc_ax.plot(*zip(*scored), "o-", color="tab:orange", label="validation KRR accuracy")
        if best_step is not None and best_step >= 0:
            acc_ax.axvline(best_step, color="tab:green", linestyle="--", label=f"kept: step {best_step}")
        acc_ax.set_ylabel("validation KRR accuracy", color="tab:orange")
        acc_ax.legend(loc="lower right", fontsize=8)
    if len(loss):
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title)
    for column, c in enumerate(classes):
        image_ax = fig.add_subplot(grid[1, column])
        image_ax.imshow(x[int(np.flatnonzero(y == c)[0])], origin="lower", aspect="auto", cmap="magma")
        image_ax.set_title(str(labels[c])[:12], fontsize=9)
        image_ax.set_xticks([])
        image_ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
