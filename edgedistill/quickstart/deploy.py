"""Quickstart stages towards the device: export, on-device training from the coreset, latency.

export: the coreset-trained classifier to ONNX/TFLite fp32/int8 (validated against torch on the
test split), the coreset's random-feature nets (device `krr` mode) and a train-step graph
(device `full` mode). device: train `krr` and `full` from the coreset with onnxruntime only and
score them on the test split. bench: latency of every exported classifier file.
torch is imported inside the export stage only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.quickstart.config import Run


def export(run: Run) -> dict[str, Any]:
    """Classifier files with their validation figures, plus the krr and full-mode device graphs."""
    from edgedistill.artifacts import read_meta
    from edgedistill.export.api import export_model, export_random_features
    from edgedistill.export.train_step import export_train_step
    from edgedistill.methods.coreset import load_coreset
    from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets

    c = run.config
    model_dir = Path(run.results["train"]["coreset"]["model_dir"])
    out = run.path("export", "classifier")
    if not (out / "meta.json").exists():
        export_model(model_dir, out, formats=list(c.formats), int8=c.int8, calibration=run.path("coreset"),
                     eval_data=run.path("features"), progress=_say(run))
    coreset = load_coreset(run.path("coreset"))
    rf_out = run.path("export", "random-features")
    if not (rf_out / "meta.json").exists():
        extra = coreset.meta.extra
        nets = random_feature_nets(coreset.config.shape, RandomFeatureConfig(**extra["random_features"]), c.seed,
                                   np.asarray(extra["rf_norm"]["mean"]), np.asarray(extra["rf_norm"]["std"]), im2col=False)
        export_random_features(nets, coreset.config.shape, rf_out, formats=["onnx"], int8=False, calibration=coreset.x,
                               meta={"feature_config": coreset.config, "labels": coreset.labels, "seed": c.seed,
                                     "source": {"coreset": str(run.path("coreset"))}})
    step_out = run.path("export", "train-step")
    if not (step_out / "meta.json").exists():
        export_train_step(step_out, coreset.config.to_dict(), coreset.config.feature_id, coreset.labels, seed=c.seed)
    meta = read_meta(out)
    return {"files": _files(out, meta.extra), "classifier_dir": str(out), "random_features_dir": str(rf_out),
            "train_step_dir": str(step_out)}


def device_train(run: Run) -> dict[str, Any]:
    """`krr` and `full` device models trained from the coreset, scored on the test split."""
    from edgedistill.artifacts import read_meta
    from edgedistill.device.train import train

    c = run.config
    graphs = {"krr": run.results["export"]["random_features_dir"], "full": run.results["export"]["train_step_dir"]}
    options = {"krr": {}, "full": {"epochs": c.device_epochs, "seed": c.seed}}
    figures = {}
    for mode, graph in graphs.items():
        out = run.path("device", mode)
        if (out / "meta.json").exists():
            metrics = read_meta(out).metrics
            figures[mode] = {"out": str(out), **metrics}
            continue
        _, summary = train(mode, graph, run.path("coreset"), out, eval_data=run.path("features"), eval_split="test",
                           options=options[mode])
        figures[mode] = summary
    return figures


def bench(run: Run) -> dict[str, Any]:
    """p50/p90/p99 latency (batch 1, one thread) of every exported classifier file."""
    from edgedistill.device.bench import benchmark

    rows = {}
    for name, info in run.results["export"]["files"].items():
        result = benchmark(Path(run.results["export"]["classifier_dir"]) / info["file"], threads=1, batch=1,
                           warmup=10, runs=run.config.bench_runs)
        rows[name] = {k: result[k] for k in ("backend", "p50_ms", "p90_ms", "p99_ms", "size_bytes")}
    return {"files": rows}


def _files(out: Path, extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per exported file ("onnx fp32", ...): file name, size and the validation figures export recorded."""
    files = {}
    for name, entry in extra["files"].items():
        files[f"{entry['format']} {entry['precision']}"] = {
            "file": name, "size_bytes": (out / name).stat().st_size, "batch": entry.get("batch"),
            **{k: entry["validation"].get(k) for k in ("accuracy", "top1_agreement", "max_abs_diff", "n")}}
    return files


def _say(run: Run):
    """A status-line callback for the export steps (None when the run is quiet)."""
    if not run.progress:
        return None
    from edgedistill.progress import say

    return lambda message: say(f"  {message}")
