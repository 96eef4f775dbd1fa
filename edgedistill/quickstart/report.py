"""The quickstart's report: summary rows, report.md and its plots (accuracy, latency, confusion,
coreset next to real clips). Reads only the stages' figures and artifacts. Imports matplotlib
inside the plotting functions; must not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.quickstart.config import Run


def summary_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, figure, note) rows: the table printed at the end of the quickstart."""
    train, distill, device = results["train"], results["distill"], results["device"]
    ipc = distill["ipc"]
    rows = [
        (f"cnn4 on the RFAD coreset ({ipc}/class)", _pct(train["coreset"]), f"{train['coreset']['n_train']} synthetic samples"),
        (f"cnn4 on random real clips ({ipc}/class)", _pct(train["random"]), f"{train['random']['runs']} random draws"),
        ("cnn4 on the full train split", _pct(train["full"]), f"{train['full']['n_train']} clips"),
        ("KRR on the coreset / on random clips", f"{distill['krr_accuracy'] * 100:.1f} % / {distill['krr_random_accuracy'] * 100:.1f} %",
         f"test MSE {distill['krr_mse']:.3f} vs {distill['krr_random_mse']:.3f} ± {distill['krr_random_mse_std']:.3f}"),
        ("device krr from the coreset (onnxruntime)", f"{device['krr']['accuracy'] * 100:.1f} %",
         f"fit in {device['krr']['train_seconds'] * 1000:.0f} ms"),
        ("device full training from the coreset (onnxruntime)", f"{device['full']['accuracy'] * 100:.1f} %",
         f"{device['full']['train_seconds']:.1f} s"),
    ]
    for name, info in results["export"]["files"].items():
        latency = results["bench"]["files"].get(name, {})
        accuracy = f"{info['accuracy'] * 100:.1f} %" if info.get("accuracy") is not None else "-"
        rows.append((f"export {name}", accuracy, f"{info['size_bytes'] / 1024:.0f} KB, p50 {latency.get('p50_ms', float('nan')):.3f} ms"))
    rows.append(("storage: audio / features / coreset",
                 f"{results['synthesise']['audio_mb']:.1f} MB / {results['features']['features_mb']:.1f} MB / {distill['coreset_kb']:.0f} KB", ""))
    return rows


def write(run: Run) -> dict[str, Any]:
    """OUT/report.md with plots under OUT/plots; returns the paths."""
    plots = run.path("plots")
    plots.mkdir(exist_ok=True)
    paths = {"accuracy": plots / "accuracy.png", "latency": plots / "latency.png", "coreset": plots / "coreset.png",
             "confusion": plots / "confusion.png"}
    plot_accuracy(run.results, paths["accuracy"])
    plot_latency(run.results, paths["latency"])
    plot_coreset(run, paths["coreset"])
    plot_test_confusion(run, paths["confusion"])
    markdown = render(run, {k: p.relative_to(run.out) for k, p in paths.items()})
    report = run.path("report.md")
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text(markdown)
    tmp.replace(report)
    return {"report": str(report), **{k: str(p) for k, p in paths.items()}}


def render(run: Run, plots: dict[str, Path]) -> str:
    r, c = run.results, run.config
    seconds = sum(v.get("seconds", 0.0) for v in r.values() if isinstance(v, dict))
    lines = [
        "# edgedistill quickstart", "",
        f"{len(c.words)} keywords ({', '.join(c.words)}), {c.per_word} clips each, synthesised offline with espeak-ng "
        f"voices (speaker-disjoint train/valid/test: {r['features']['train']}/{r['features']['valid']}/{r['features']['test']} clips). "
        f"Features: `kws` preset, {r['features']['shape'][0]} MFCC x {r['features']['shape'][1]} frames (feature_id "
        f"`{r['features']['feature_id']}`). Stages took {seconds:.0f} s in all.", "",
        "## Summary", "", "| what | figure | note |", "|---|---:|---|",
        *[f"| {a} | {b} | {n} |" for a, b, n in summary_rows(r)], "",
        f"![accuracy]({plots['accuracy']})", "",
        "## Export and latency", "",
        "| file | size (KB) | test accuracy | top-1 agreement with torch | max abs diff | p50 (ms) | p99 (ms) | backend |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, info in r["export"]["files"].items():
        b = r["bench"]["files"].get(name, {})
        lines.append(f"| {info['file']} | {info['size_bytes'] / 1024:.1f} | {_fmt(info.get('accuracy'), 100)} | "
                     f"{_fmt(info.get('top1_agreement'), 100)} | {_fmt(info.get('max_abs_diff'))} | {_fmt(b.get('p50_ms'))} | "
                     f"{_fmt(b.get('p99_ms'))} | {b.get('backend', '')} |")
    lines += ["", "Latency: batch 1, one thread, on the machine that ran the quickstart.", "",
              f"![latency]({plots['latency']})", "",
              "## The coreset", "",
              f"{r['distill']['n_samples']} synthetic MFCC maps ({r['distill']['ipc']} per class, {r['distill']['coreset_kb']:.0f} KB) "
              f"learned by RFAD in {r['distill']['seconds']:.0f} s, next to real training clips of the same classes.", "",
              f"![coreset]({plots['coreset']})", "",
              "## Confusion of the coreset-trained cnn4 on the test split", "", f"![confusion]({plots['confusion']})", "",
              "## Artifacts", "",
              "`audio/` clips, `features/` feature cache, `coreset/` RFAD coreset, `models/` cnn4 runs, `export/` ONNX/TFLite "
              "files, `device/` device-trained models, `stages/` each stage's figures (JSON). Any step can be re-run from its "
              "input with the matching `edgedistill` command.", ""]
    return "\n".join(lines)


def plot_accuracy(results: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    train, device, distill = results["train"], results["device"], results["distill"]
    names = [f"coreset\n({distill['ipc']}/class)", f"random\n({distill['ipc']}/class)", "full data",
             "device krr\n(coreset)", "device full\n(coreset)"]
    values = [train["coreset"]["accuracy"], train["random"]["accuracy"], train["full"]["accuracy"],
              device["krr"]["accuracy"], device["full"]["accuracy"]]
    errors = [train["coreset"]["accuracy_std"], train["random"]["accuracy_std"], 0, 0, 0]
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(names, np.array(values) * 100, yerr=np.array(errors) * 100, capsize=4,
                  color=["#2a9d8f", "#e9c46a", "#264653", "#8ab17d", "#8ab17d"])
    ax.bar_label(bars, labels=[f"{v * 100:.1f}" for v in values], padding=3)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("cnn4 (host) and device-trained models, test split")
    _save(fig, path)


def plot_latency(results: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    bench = results["bench"]["files"]
    names = list(bench)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    p50 = [bench[n]["p50_ms"] for n in names]
    p99 = [bench[n]["p99_ms"] for n in names]
    y = np.arange(len(names))
    ax.barh(y, p99, color="#e9c46a", label="p99")
    ax.barh(y, p50, color="#2a9d8f", label="p50")
    ax.set_yticks(y, names)
    ax.set_xlabel("latency per clip (ms, batch 1, one thread)")
    ax.legend()
    _save(fig, path)


def plot_coreset(run: Run, path: Path, per_class: int = 2) -> None:
    """The first `per_class` coreset maps of each class above a real clip of the class."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import load_coreset

    plt = _pyplot()
    coreset, feats = load_coreset(run.path("coreset")), FeatureSet.load(run.path("features"))
    train = feats.by_split("train")
    n_classes = len(coreset.labels)
    shown = min(per_class, coreset.ipc)
    fig, axes = plt.subplots(shown + 1, n_classes, figsize=(1.6 * n_classes, 1.4 * (shown + 1)), squeeze=False)
    for c, label in enumerate(coreset.labels):
        maps = [coreset.x[i] for i in np.flatnonzero(coreset.y == c)[:shown]]
        maps.append(np.asarray(train.x[np.flatnonzero(train.y == c)[0]]))
        for row, image in enumerate(maps):
            ax = axes[row, c]
            ax.imshow(image, aspect="auto", origin="lower", cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=9)
        axes[shown, c].set_xlabel("real", fontsize=8)
    axes[0, 0].set_ylabel("coreset", fontsize=8)
    _save(fig, path)


def plot_test_confusion(run: Run, path: Path) -> None:
    from edgedistill.artifacts import read_meta
    from edgedistill.evaluate import plot_confusion

    meta = read_meta(run.results["train"]["coreset"]["model_dir"])
    plot_confusion(meta.metrics["confusion"], meta.labels, path, title="cnn4 trained on the coreset (test split)")


def _pct(group: dict[str, Any]) -> str:
    spread = f" ± {group['accuracy_std'] * 100:.1f}" if group.get("runs", 1) > 1 else ""
    return f"{group['accuracy'] * 100:.1f}{spread} %"


def _fmt(value: Any, scale: float = 1.0) -> str:
    if value is None:
        return "-"
    value = float(value) * scale
    return f"{value:.3g}" if scale == 1.0 else f"{value:.1f} %"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
