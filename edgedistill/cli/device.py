"""`edgedistill device`: run, benchmark, sample and train models on the device itself.

Every command except `build-step` works with torch not installed (device modules are imported
inside the commands; they are numpy + onnxruntime / LiteRT). `build-step` runs on the host
(torch) and writes the train-step graph that `train full` runs on the device.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log

app = typer.Typer(help="On-device runtime (no torch): infer, listen, calibrate, bench, sample, train {krr,head,full}, learn.", no_args_is_help=True)

Backend = opt.Backend
Threads = opt.Threads
AsJson = opt.Json


@app.command("infer")
def infer(
    model: Annotated[Path, typer.Argument(help="Export directory (or a model file in one) or a device-trained model directory.")],
    audio: Annotated[List[Path], typer.Argument(help="WAV files at the model's sample rate.")],
    top_k: Annotated[int, typer.Option("--top-k", help="Labels reported per file.")] = 3,
    stride: Annotated[Optional[float], typer.Option("--stride", help="Seconds between windows of a recording longer than one clip (default: half a clip).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Probability a window's top label needs to be listed as a detection.")] = 0.5,
    backend: Backend = None,
    threads: Threads = 1,
    as_json: AsJson = False,
) -> None:
    """Classify WAV files: top-k labels with probabilities; detections with times for long recordings."""
    from edgedistill.device.infer import infer_files
    from edgedistill.device.predictor import load_predictor

    predictor = load_predictor(model, backend, threads)
    results = infer_files(predictor, audio, top_k, stride, threshold)
    rows = []
    for r in results:
        rows.append((r["file"], r["duration_s"], ", ".join(f"{t['label']} {t['prob']:.3f}" for t in r["top"]),
                     "; ".join(f"{d['start_s']:.2f}-{d['end_s']:.2f}s {d['label']} {d['prob']:.2f}" for d in r.get("detections", []))))
    emit({"model": str(model), "feature_id": predictor.feature_config.feature_id, "results": results}, as_json,
         title=f"{model} ({predictor.info.get('backend')})", rows=rows, columns=("file", "seconds", "top labels", "detections"))


@app.command("bench")
def bench(
    model: Annotated[Path, typer.Argument(help="A model file (.onnx / .tflite) or an export directory.")],
    backend: Backend = None,
    threads: Threads = 1,
    batch: Annotated[int, typer.Option("--batch", help="Batch size fed to the graph (dynamic dims).")] = 1,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed calls before timing.")] = 10,
    runs: Annotated[int, typer.Option("--runs", help="Timed calls.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Latency benchmark: p50/p90/p99/mean ms per call, throughput, model size, peak resident memory."""
    from edgedistill.device.bench import benchmark

    result = benchmark(model, backend=backend, threads=threads, batch=batch, warmup=warmup, runs=runs)
    emit(result, as_json, title="Device latency")


@app.command("sample")
def sample(
    generator: Annotated[Path, typer.Argument(help="Exported generator directory (or its model file).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output samples file (.npz), used by `device train --data`.")],
    ppc: Annotated[int, typer.Option("--ppc", help="Samples per class (balanced), or the mean per class with --prior.")] = 50,
    balanced: Annotated[bool, typer.Option("--balanced/--prior", help="Equal counts per class, or split by the generator's class prior.")] = True,
    seed: opt.Seed = 0,
    backend: Backend = None,
    threads: Threads = 1,
    as_json: AsJson = False,
) -> None:
    """Write a synthetic labelled feature set sampled from an exported generator."""
    import numpy as np

    from edgedistill.device.sample import sample as run_sample
    from edgedistill.device.trainset import save_samples

    x, y, labels, config = run_sample(generator, ppc, seed=seed, balanced=balanced, backend=backend, threads=threads)
    save_samples(out, x, y, labels, config, info={"generator": str(generator), "seed": seed, "balanced": balanced})
    counts = np.bincount(y, minlength=len(labels)).tolist()
    emit({"out": str(out), "n": int(len(y)), "shape": list(x.shape), "counts": dict(zip(labels, counts)), "feature_id": config.feature_id},
         as_json, title="Generator samples", rows=list(zip(labels, counts)), columns=("class", "samples"))


@app.command("train")
def train(
    mode: Annotated[str, typer.Argument(help="krr (random-feature kernel ridge regression), head (numpy head on a frozen backbone) or full (exported train-step graph).")],
    graph: Annotated[Path, typer.Argument(help="krr: random-feature nets export; head: backbone export with a (B, E) output; full: train-step artifact from `device build-step`.")],
    data: Annotated[Path, typer.Option("--data", help="Coreset dir, feature set dir, samples .npz, or a folder with one sub-folder of WAVs per class.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output device-model directory (never overwritten).")],
    eval_data: Annotated[Optional[Path], typer.Option("--eval", help="Held-out labelled data (same kinds as --data) to score.")] = None,
    data_split: Annotated[Optional[str], typer.Option("--data-split", help="Split of a feature set --data (train/valid/test).")] = None,
    eval_split: Annotated[Optional[str], typer.Option("--eval-split", help="Split of a feature set --eval (train/valid/test).")] = None,
    reg: Annotated[Optional[float], typer.Option("--reg", help="krr: ridge relative to mean(diag K) [1e-4].")] = None,
    hidden: Annotated[Optional[int], typer.Option("--hidden", help="head: MLP hidden units, 0 = softmax regression [0].")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="head/full: epochs [100 / 30].")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="head/full: minibatch; krr: rows per graph call [32 / 32 / 64].")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="head/full: Adam learning rate [1e-2 / 3e-3].")] = None,
    weight_decay: Annotated[Optional[float], typer.Option("--weight-decay", help="head/full: L2 weight decay [1e-4 / 0].")] = None,
    seed: opt.Seed = 0,
    backend: Backend = None,
    threads: Threads = 1,
    as_json: AsJson = False,
) -> None:
    """Train a model on the device from a coreset, generator samples or recordings; scores it on --eval."""
    from edgedistill.device.train import train as run_train

    given = {"reg": reg, "hidden": hidden, "epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "seed": seed}
    given = {k: v for k, v in given.items() if v is not None and not (k == "seed" and mode == "krr")}  # krr draws nothing
    path, summary = run_train(mode, graph, data, out, eval_data=eval_data, data_split=data_split, eval_split=eval_split,
                              options=given, backend=backend, threads=threads, log=lambda m: log.print(m, highlight=False))
    summary.pop("confusion", None)
    emit(summary, as_json, title=f"Device training ({mode}) -> {path}")


@app.command("build-step")
def build_step(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output train-step artifact directory.")],
    labels: Annotated[str, typer.Option("--labels", help="Comma-separated class names, in order (ignored with --features).")] = "",
    preset: Annotated[str, typer.Option("--preset", help="Feature preset (see `edgedistill features presets`).")] = "kws",
    features: Annotated[Optional[Path], typer.Option("--features", help="Take feature config and labels from this artifact instead (feature set, coreset, export).")] = None,
    hidden1: Annotated[int, typer.Option("--hidden1", help="Channels of the first temporal conv.")] = 32,
    hidden2: Annotated[int, typer.Option("--hidden2", help="Channels of the second temporal conv.")] = 32,
    kernel: Annotated[int, typer.Option("--kernel", help="Odd conv width over time.")] = 3,
    seed: opt.Seed = 0,
    as_json: AsJson = False,
) -> None:
    """Host side (needs torch): export the train-step + forward graphs that `device train full` runs."""
    from edgedistill.artifacts import read_meta
    from edgedistill.export.train_step import TrainStepConfig, export_train_step
    from edgedistill.features import FeatureConfig, get_preset

    if features is not None:
        meta = read_meta(features)
        config, names = meta.feature_config, list(meta.labels)
    else:
        config, names = get_preset(preset).to_dict(), [s.strip() for s in labels.split(",") if s.strip()]
    if len(names) < 2:
        raise ValueError("--labels: give at least two class names")
    feature_id = FeatureConfig.from_dict(config).feature_id
    path = export_train_step(out, config, feature_id, names, TrainStepConfig(hidden1, hidden2, kernel), seed=seed)
    emit({"out": str(path), "labels": names, "feature_id": feature_id, "files": json.loads((path / "meta.json").read_text())["files"]},
         as_json, title="Train-step graph")


from edgedistill.cli import device_stream  # noqa: E402  (listen, calibrate, learn share the option types above)

device_stream.register(app)
