"""The quickstart's report: the summary tables, report.md (a product page) and its plots (the
learning curve first, latency, coreset next to real clips, confusion). Reads only the stages'
figures and artifacts. The tables hold only figures a seed fixes (accuracies, sizes), never
timings: the same seed gives the same tables on the same machine. Imports matplotlib inside the
plotting functions; must not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.quickstart.config import Run

COLORS = {"coreset": "#2a9d8f", "random": "#e76f51", "al": "#6d597a", "full": "#264653", "p50": "#2a9d8f", "p99": "#e9c46a"}


def curve_table(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """(columns, rows): test accuracy of cnn4 per training set (rows) and samples per class (columns)."""
    train, distill = results["train"], results["distill"]["budgets"]
    budgets = list(train["curve"]["coreset"])
    columns = ["cnn4 trained on", *[f"{b}/class" for b in budgets]]
    rows = [["RFAD coreset (synthetic)", *[_pct(train["curve"]["coreset"][b]) for b in budgets]],
            ["random real clips", *[_pct(train["curve"]["random"][b]) for b in budgets]]]
    al = train.get("active_learning")
    if al:
        points = {str(round(p["ipc"])): p for p in al["points"]}
        rows.append([f"active learning ({al['strategy']})",
                     *[f"{points[b]['accuracy'] * 100:.1f} %" if b in points else "-" for b in budgets]])
    rows.append([f"full train split ({train['full']['n_train']} clips)", *[f"{train['full']['accuracy'] * 100:.1f} %"] * len(budgets)])
    rows.append(["KRR on coreset / on random clips",
                 *[f"{distill[b]['krr_accuracy'] * 100:.1f} / {distill[b]['krr_random_accuracy'] * 100:.1f} %" for b in budgets]])
    return columns, rows


def deploy_rows(results: dict[str, Any]) -> list[list[str]]:
    """(what, figure, note) rows: the exported files, device training and storage."""
    export, device, c = results["export"], results["device"], results["train"]["chosen"]["ipc"]
    distill = results["distill"]["budgets"][str(c)]
    rows = [[f"export {name}", _acc(info.get("accuracy")), f"{info['size_bytes'] / 1024:.0f} KB"]
            for name, info in export["files"].items()]
    rows.append(["device bundle", f"{len(export['bundle_files'])} files", f"{export['bundle_kb']:.0f} KB"])
    rows.append(["device krr from the coreset (onnxruntime)", _acc(device["krr"]["accuracy"]), f"{distill['n_samples']} samples"])
    rows.append(["device full training from the coreset (onnxruntime)", _acc(device["full"]["accuracy"]),
                 f"{results['config']['device_epochs']} epochs"])
    heard, learned = results.get("listen"), results.get("learn")
    if heard:
        rows.append(["device listen: keywords found in a stream (unseen voices)", f"{heard['hits']}/{heard['words']}",
                     f"{heard['false_accepts']} false accepts"])
    if learned:
        rows.append([f"device learn: new word '{learned['new_word']}' from {learned['n_new']} clips of an unseen voice",
                     _acc(learned["new_class_accuracy"]), f"old words {_acc(learned['old_class_accuracy_before'])} → "
                     f"{_acc(learned['old_class_accuracy_after'])}"])
    rows.append(["storage: audio / features / coreset", f"{results['synthesise']['audio_mb']:.1f} MB / "
                 f"{results['features']['features_mb']:.1f} MB / {distill['coreset_kb']:.0f} KB", f"coreset {c}/class"])
    return rows


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    aligns = ["---"] + ["---:"] * (len(columns) - 1)
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "|".join(aligns) + "|",
                      *["| " + " | ".join(row) + " |" for row in rows]])


def write(run: Run) -> dict[str, Any]:
    """OUT/report.md with plots under OUT/plots; returns the paths."""
    plots = run.path("plots")
    plots.mkdir(exist_ok=True)
    paths = {"curve": plots / "curve.png", "latency": plots / "latency.png", "coreset": plots / "coreset.png",
             "confusion": plots / "confusion.png"}
    plot_curve(run.results, paths["curve"])
    plot_latency(run.results, paths["latency"])
    plot_coreset(run, paths["coreset"])
    plot_test_confusion(run, paths["confusion"])
    markdown = render(run, {k: p.relative_to(run.out) for k, p in paths.items()})
    report = run.path("report.md")
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text(markdown)
    tmp.replace(report)
    from edgedistill.progress import say

    say(f"  report: {report} with {len(paths)} plots in {plots}", run.progress)
    return {"report": str(report), "machine": run.results.get("machine"), **{k: str(p) for k, p in paths.items()}}


def render(run: Run, plots: dict[str, Path]) -> str:
    r, c = run.results, run.config
    f, train, export = r["features"], r["train"], r["export"]
    budgets = list(train["curve"]["coreset"])
    low, high = budgets[0], budgets[-1]
    core, rand = train["curve"]["coreset"], train["curve"]["random"]
    gap = {b: (core[b]["accuracy"] - rand[b]["accuracy"]) * 100 for b in budgets}
    full = train["full"]
    chosen = str(train["chosen"]["ipc"])
    timed = [name for name in stage_names() if name != "report" and isinstance(r.get(name), dict)]
    loads = [r[name]["load_average"][0] for name in timed if r[name].get("load_average")]
    walls = "; ".join(f"{n} {r[n]['seconds']:.0f} ({r[n].get('cpu_seconds', 0):.0f})" for n in timed)
    al = train.get("active_learning")
    al_line = ""
    if al:
        point = al["points"][-1]
        ipc = str(round(point["ipc"]))
        al_line = (f"Active learning ({al['strategy']}, a round ending at each budget) reached {point['accuracy'] * 100:.1f} % with "
                   f"{point['n_samples']} labelled real clips, where the coreset of the same size gave {core[ipc]['accuracy'] * 100:.1f} %.")
    files, bench = export["files"], r["bench"]["files"]
    fp32 = files.get("onnx fp32") or next(iter(files.values()))
    smallest = min(files.items(), key=lambda kv: kv[1]["size_bytes"])
    audio = bench.get("bundle audio.fp32.onnx (raw PCM in)")
    device = r["device"]
    machine = r.get("machine") or {}
    lines = [
        "# edgedistill quickstart", "",
        f"**What was done.** {len(c.words)} keywords ({', '.join(c.words)}) were spoken by synthetic espeak-ng voices, "
        f"{c.per_word} clips each ({f['train']}/{f['valid']}/{f['test']} train/valid/test clips, speakers disjoint), and turned "
        f"into {f['shape'][0]} MFCC x {f['shape'][1]} frame features. RFAD distilled the train split into coresets of "
        f"{', '.join(budgets)} synthetic samples per class; a small CNN (cnn4) was trained on each coreset, on the same number "
        f"of random real clips ({c.seeds} training seed{'s' if c.seeds > 1 else ''} each) and on all {full['n_train']} training clips; the model trained on the "
        f"{chosen}/class coreset was exported and the device trained its own models from the coreset with onnxruntime alone.", "",
        "## The learning curve", "",
        f"![accuracy against samples per class]({plots['curve']})", "",
        f"At {low} samples per class the coreset-trained model scores {core[low]['accuracy'] * 100:.1f} % against "
        f"{rand[low]['accuracy'] * 100:.1f} % for random real clips ({gap[low]:+.1f} points); at {high} per class "
        f"{core[high]['accuracy'] * 100:.1f} % against {rand[high]['accuracy'] * 100:.1f} % ({gap[high]:+.1f}), and the full "
        f"train split ({full['n_train']} clips) reaches {full['accuracy'] * 100:.1f} %. {al_line}", "",
        markdown_table(*curve_table(r)), "",
        "Test accuracy on the test split, mean ± std over training seeds; KRR: kernel ridge regression with the coreset's "
        "own random-feature kernel (the objective RFAD optimises).", "",
        "## On the device", "",
        f"Trained as a phone or Pi would, from the {chosen}/class coreset with onnxruntime only: the closed-form `krr` mode scores "
        f"{device['krr']['accuracy'] * 100:.1f} % (fit in {device['krr']['train_seconds'] * 1000:.0f} ms) and `full` training of a small "
        f"CNN through the bundle's train-step graph {device['full']['accuracy'] * 100:.1f} % ({device['full']['train_seconds']:.2f} s).", "",
        *device_sentences(r),
        markdown_table(["what", "figure", "note"], deploy_rows(r)), "",
        "## Sizes", "",
        f"The exported classifier is {fp32['size_bytes'] / 1024:.0f} KB in {fp32['file']} and {smallest[1]['size_bytes'] / 1024:.0f} KB as "
        f"{smallest[1]['file']}; the device bundle (classifiers with and without the front-end in the graph, ORT files, the "
        f"train-step graph, krr nets and the coreset) is {export['bundle_kb']:.0f} KB, against "
        f"{r['synthesise']['audio_mb']:.1f} MB of audio.", "",
        "| file | size (KB) | test accuracy | top-1 agreement with torch | max abs diff |", "|---|---:|---:|---:|---:|",
        *[f"| {i['file']} | {i['size_bytes'] / 1024:.1f} | {_acc(i.get('accuracy'))} | {_acc(i.get('top1_agreement'))} | "
          f"{_fmt(i.get('max_abs_diff'))} |" for i in files.values()], "",
        "## Latency", "",
        f"![latency p50 and p99]({plots['latency']})", "",
        (f"From one second of raw audio to a label takes {audio['p50_ms']:.2f} ms (p50, {audio['p99_ms']:.2f} ms p99) with the "
         f"bundle's raw-audio ONNX file (front-end in the graph), batch 1, one thread, on the machine that ran the quickstart." if audio else
         "Batch 1, one thread, on the machine that ran the quickstart."), "",
        "| file | p50 (ms) | p99 (ms) | backend |", "|---|---:|---:|---|",
        *[f"| {b['file']} | {b['p50_ms']:.3f} | {b['p99_ms']:.3f} | {b['backend']} |" for b in bench.values()], "",
        "## The coreset", "",
        f"The {chosen}/class coreset ({r['distill']['budgets'][chosen]['n_samples']} synthetic MFCC maps, "
        f"{r['distill']['budgets'][chosen]['coreset_kb']:.0f} KB) next to real training clips of the same classes.", "",
        f"![coreset]({plots['coreset']})", "",
        f"![confusion of the {chosen}/class coreset model]({plots['confusion']})", "",
        "## How this run was made", "",
        f"`edgedistill quickstart` with seed {c.seed} on {machine.get('cpus', '?')} CPU cores. Wall (CPU) seconds per stage: "
        f"{walls}; {sum(r[n]['seconds'] for n in timed):.0f} s wall and {sum(r[n].get('cpu_seconds', 0) for n in timed):.0f} "
        f"CPU-seconds before the report. The 1-minute load average was {_span(loads)} at the ends of the stages "
        "(this run's own workers count in it, up to 2; what is above that is the machine's other work: wall times grow "
        "with it, CPU-seconds hardly). "
        "Training and RFAD jobs run one torch thread each with deterministic algorithms, so the same seed gives the same "
        "tables on the same machine; timings are not part of the tables.", "",
        "Artifacts: `audio/` clips, `features/` feature cache, `coresets/` one RFAD coreset per budget, `models/` cnn4 runs, "
        "`export/` ONNX/TFLite files and the device bundle, `device/` device-trained models, `stages/` and `jobs/` each "
        "step's figures (JSON), `report.json` all of them.", ""]
    return "\n".join(lines)


def device_sentences(r: dict[str, Any]) -> list[str]:
    """One plain sentence for `listen` and one for `learn` (each when the run has it), each followed by a blank line."""
    lines = []
    heard, learned = r.get("listen"), r.get("learn")
    if heard:
        repeats = r["config"].get("listen_repeats", 1)
        timing = (f"; a found word's detection sits {heard['timing_error_median_s']:.2f} s (median) from the word's centre"
                  if heard.get("timing_error_median_s") is not None else "")
        lines += [f"**Listening.** In a {heard['duration_s']:.0f} s stream of changing background noise in which voices the "
                  f"model never trained on say each keyword {repeats} time{'s' if repeats > 1 else ''}, `device listen` with the "
                  f"exported model (thresholds calibrated on {heard['calibration']['background_hours'] * 60:.0f} minutes of other "
                  f"noise by `device calibrate`) found {heard['hits']} of {heard['words']} words and raised "
                  f"{heard['false_accepts']} false accept{'s' if heard['false_accepts'] != 1 else ''} "
                  f"({heard['false_accepts_on_words']} on a word taken for another keyword, {heard['false_accepts_in_noise']} in "
                  f"noise){timing}, using {heard['real_time_factor'] * 100:.1f} % of one core in real time.", ""]
    if learned:
        lines += [f"**Learning a new word.** A new user whose voice (espeak-ng {learned['user_voice']}) spoke none of the "
                  f"training clips recorded \"{learned['new_word']}\" {learned['n_new']} times; `device learn` added it to the "
                  f"`{learned['mode']}` device model in {learned['train_seconds'] * 1000:.0f} ms, replaying the coreset "
                  f"({learned['n_replay']} samples) so the old words are not forgotten: the test speakers' \"{learned['new_word']}\" "
                  f"is recognised {learned['new_class_accuracy'] * 100:.1f} % of the time ({learned['n_eval_new']} clips), and "
                  f"accuracy on the old words went from {learned['old_class_accuracy_before'] * 100:.1f} % to "
                  f"{learned['old_class_accuracy_after'] * 100:.1f} %.", ""]
    return lines


def stage_names() -> list[str]:
    from edgedistill.quickstart import STAGES

    return [stage.name for stage in STAGES]


def plot_curve(results: dict[str, Any], path: Path) -> None:
    """Accuracy against samples per class: coreset vs random (mean ± std), AL points, full-data line."""
    plt = _pyplot()
    train = results["train"]
    budgets = [int(b) for b in train["curve"]["coreset"]]
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for kind, label in (("coreset", "RFAD coreset"), ("random", "random real clips")):
        rows = train["curve"][kind]
        mean = np.array([rows[str(b)]["accuracy"] for b in budgets]) * 100
        std = np.array([rows[str(b)]["accuracy_std"] for b in budgets]) * 100
        ax.errorbar(budgets, mean, yerr=std, marker="o", capsize=4, lw=2, color=COLORS[kind], label=label)
        for x, y in zip(budgets, mean):
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(6, 6 if kind == "coreset" else -14),
                        color=COLORS[kind], fontsize=9)
    al = train.get("active_learning")
    if al:
        xs = [p["ipc"] for p in al["points"]]
        ys = [p["accuracy"] * 100 for p in al["points"]]
        ax.plot(xs, ys, ls=":", marker="D", color=COLORS["al"], label=f"active learning ({al['strategy']})")
    full = train["full"]["accuracy"] * 100
    ax.axhline(full, ls="--", color=COLORS["full"], label=f"full data ({train['full']['n_train']} clips): {full:.1f}")
    chance = 100 / results["features"]["n_classes"]
    ax.axhline(chance, ls=":", color="grey", lw=1, label=f"chance ({chance:.0f})")
    ax.set_xscale("log")
    ax.set_xlim(budgets[0] / 1.35, budgets[-1] * 1.35)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.minorticks_off()
    ax.set_xlabel("training samples per class")
    ax.set_ylabel("cnn4 test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Distilled coreset vs random real clips at the same budget")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_latency(results: dict[str, Any], path: Path) -> None:
    """p50 and p99 side by side per file with their numbers; a log axis when they span over 20x."""
    plt = _pyplot()
    bench = results["bench"]["files"]
    names = list(bench)
    p50 = np.array([bench[n]["p50_ms"] for n in names])
    p99 = np.array([bench[n]["p99_ms"] for n in names])
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * len(names) + 1.4))
    height = 0.38
    for values, offset, key in ((p50, -height / 2, "p50"), (p99, height / 2, "p99")):
        bars = ax.barh(y + offset, values, height, color=COLORS[key], label=key)
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=3, fontsize=8)
    if max(p99.max(), p50.max()) / max(min(p50.min(), p99.min()), 1e-9) > 20:
        ax.set_xscale("log")
        ax.set_xlim(min(p50.min(), p99.min()) / 2, max(p99.max(), p50.max()) * 6)
    else:
        ax.set_xlim(0, max(p99.max(), p50.max()) * 1.25)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("latency per clip (ms, batch 1, one thread)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    _save(fig, path)


def plot_coreset(run: Run, path: Path, per_class: int = 2) -> None:
    """The first `per_class` maps of each class of the chosen coreset above a real clip of the class."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import load_coreset

    plt = _pyplot()
    coreset = load_coreset(run.results["export"]["coreset_dir"])
    train = FeatureSet.load(run.path("features")).by_split("train")
    shown = min(per_class, coreset.ipc)
    n_classes = len(coreset.labels)
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

    meta = read_meta(run.results["train"]["chosen"]["model_dir"])
    plot_confusion(meta.metrics["confusion"], meta.labels, path,
                   title=f"cnn4 trained on the {run.results['train']['chosen']['ipc']}/class coreset (test split)")


def _pct(group: dict[str, Any]) -> str:
    spread = f" ± {group['accuracy_std'] * 100:.1f}" if group.get("runs", 1) > 1 else ""
    return f"{group['accuracy'] * 100:.1f}{spread} %"


def _acc(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3g}"


def _span(values: list[float]) -> str:
    if not values:
        return "unknown"
    return f"{min(values):.1f}" if min(values) == max(values) else f"{min(values):.1f} to {max(values):.1f}"


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
