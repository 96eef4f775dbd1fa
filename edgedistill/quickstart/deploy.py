"""Quickstart stages towards the device: export, on-device training from the coreset, latency.

export: the model trained on the largest coreset, through `edgedistill export RUN --target ...`
(`export_artifact`): ONNX/TFLite, fp32 and int8 (each validated against torch on the test split),
and the device bundle (`write_bundle`: classifier with and without the front-end in the graph,
ORT files, train step, the coreset's krr nets, the coreset). device: train `krr` and `full` from
the coreset with onnxruntime only, from the bundle's graphs, and score them on the test split. bench: latency of every exported classifier file and of the
bundle's raw-audio classifier. torch is imported inside the export stage only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistill.quickstart.config import Run

BUNDLE_BENCH = {"bundle audio.fp32.onnx (raw PCM in)": "classifier/audio.fp32.onnx"}


def export(run: Run) -> dict[str, Any]:
    """Classifier files with their validation figures (`export --target`), and the device bundle."""
    from edgedistill.artifacts import read_meta
    from edgedistill.export.api import export_artifact
    from edgedistill.export.bundle import BundleConfig, write_bundle
    from edgedistill.export.config import ExportConfig

    c = run.config
    ipc = str(c.chosen_ipc)
    model_dir = Path(run.results["train"]["chosen"]["model_dir"])
    coreset_dir = Path(run.results["distill"]["budgets"][ipc]["out"])
    out, bundle = run.path("export", "classifier"), run.path("export", "bundle")
    if not (out / "meta.json").exists():
        run.clear(out)
        export_artifact(model_dir, out, ExportConfig(target=",".join(c.targets), int8=c.int8), calibration=coreset_dir,
                        eval_data=run.path("features"), progress=run.say)
    if not (bundle / "meta.json").exists():  # ONNX + ORT for apps (the TFLite files are in export/classifier)
        run.clear(bundle)
        write_bundle(model_dir, bundle, coreset=coreset_dir, progress=run.say,
                     config=BundleConfig(formats=("onnx",), int8=c.int8, seed=run.seed("bundle")))
    meta = read_meta(out)
    bundle_files = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    return {"files": _files(out, meta.extra), "classifier_dir": str(out), "bundle_dir": str(bundle),
            "bundle_files": bundle_files, "bundle_kb": sum((bundle / f).stat().st_size for f in bundle_files) / 1024,
            "krr_graph": str(bundle / "krr" / "random_features.fp32.onnx"), "train_step_dir": str(bundle / "train"),
            "model_dir": str(model_dir), "coreset_dir": str(coreset_dir)}


def device_train(run: Run) -> dict[str, Any]:
    """`krr` and `full` device models trained from the coreset with onnxruntime, scored on the test split."""
    from edgedistill.artifacts import read_meta
    from edgedistill.device.train import train

    c, e = run.config, run.results["export"]
    graphs = {"krr": e["krr_graph"], "full": e["train_step_dir"]}  # both from the bundle
    options = {"krr": {}, "full": {"epochs": c.device_epochs, "seed": run.seed("device")}}
    figures = {}
    for mode, graph in graphs.items():
        out = run.path("device", mode)
        if (out / "meta.json").exists():
            meta = read_meta(out)
            figures[mode] = {"out": str(out), **meta.metrics}
            continue
        run.clear(out)
        _, summary = train(mode, graph, e["coreset_dir"], out, eval_data=run.path("features"), eval_split="test",
                           options=options[mode], backend="onnxruntime")
        figures[mode] = summary
        run.say(f"device {mode}: test accuracy {summary['accuracy'] * 100:.1f} % (trained in {summary['train_seconds']:.2f} s)")
    return figures


def bench(run: Run) -> dict[str, Any]:
    """p50/p90/p99 latency (batch 1, one thread) of every exported classifier file and the bundle's ORT files."""
    from edgedistill.device.bench import benchmark

    e = run.results["export"]
    targets = {name: Path(e["classifier_dir"]) / info["file"] for name, info in e["files"].items()}
    targets.update({name: Path(e["bundle_dir"]) / path for name, path in BUNDLE_BENCH.items()})
    rows = {}
    for name, path in targets.items():
        result = benchmark(path, threads=1, batch=1, warmup=10, runs=run.config.bench_runs)
        rows[name] = {k: result[k] for k in ("backend", "p50_ms", "p90_ms", "p99_ms")}
        rows[name]["size_bytes"] = path.stat().st_size
        rows[name]["file"] = str(path.relative_to(run.out))
        run.say(f"bench {name}: p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms ({result['backend']})")
    return {"files": rows}


def _files(out: Path, extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per exported file ("onnx fp32", ...): file name, size and the validation figures export recorded."""
    files = {}
    for name, entry in extra["files"].items():
        files[f"{entry['format']} {entry['precision']}"] = {
            "file": name, "size_bytes": (out / name).stat().st_size, "batch": entry.get("batch"),
            **{k: entry["validation"].get(k) for k in ("accuracy", "top1_agreement", "max_abs_diff", "n")}}
    return files
