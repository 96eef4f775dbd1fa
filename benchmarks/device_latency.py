"""Device benchmark: inference latency per format, krr fit time vs coreset size, full-mode step time.

1. cnn4 (10 classes, kws features (40, 101)) exported by edgedistill.export.api.export_module as
   fp32/int8 ONNX and TFLite (int8 calibrated on Speech Commands sample features), timed with
   `edgedistill.device.bench.benchmark` at batch 1, one thread, per backend.
2. `krr` mode: RFAD's random-feature nets (7 nets, width 32, depth 3, 128 features each; and a
   single net) exported to ONNX; `krr.fit` timed on coresets of 10 classes x {2, 5, 10, 20, 50}
   per class (Φ through onnxruntime + closed-form solve + LOO Platt scale), and the solve alone.
3. `full` mode: the train-step graph (temporal CNN, 32/32 channels) at batch 32 in onnxruntime vs
   the same step in torch eager, and vs torch autograd + torch.optim.Adam on the same network.

Weights are untrained (latency does not depend on them). Host script (torch): needs the models,
export and rfad parts. Usage: python benchmarks/device_latency.py [--runs 200] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")).resolve()


def speech_commands_features(n: int = 200):
    """kws features of the first n Speech Commands sample clips (16 kHz), for int8 calibration."""
    from edgedistill.device.audio import read_wav
    from edgedistill.device.features import extract_batch, get_preset

    config = get_preset("kws")
    with open(SHARED / "speech_commands" / "labels.csv", newline="") as handle:
        files = [row["file"] for row in csv.DictReader(handle)][:n]
    waves = [read_wav(SHARED / "speech_commands" / f, expected_rate=16000)[0] for f in files]
    return extract_batch(waves, config), config


def median_ms(fn, runs: int, warmup: int = 3) -> float:
    from edgedistill.device.bench import time_calls

    return float(np.median(time_calls(fn, warmup, runs)))


def bench_formats(tmp: Path, x_cal: np.ndarray, config, runs: int) -> list[dict]:
    from edgedistill.device.bench import benchmark
    from edgedistill.export.api import export_module
    from edgedistill.models import build_model

    model = build_model("cnn4", 10, input_shape=config.shape).eval()
    labels = [f"c{i}" for i in range(10)]
    out = export_module(model, config.shape, tmp / "cnn4", formats=("onnx", "tflite"), int8=True, calibration=x_cal,
                        meta={"feature_config": config.to_dict(), "labels": labels})
    rows = []
    for path in sorted(out.glob("model.*")):
        for batch in (1, 32):
            r = benchmark(path, threads=1, batch=batch, warmup=20, runs=runs if batch == 1 else max(runs // 4, 20))
            rows.append({"model": "cnn4", "file": path.name, "backend": r["backend"], "batch": batch,
                         **{k: r[k] for k in ("p50_ms", "p90_ms", "p99_ms", "throughput", "size_bytes", "batch1_fallback")}})
    return rows


def bench_krr(tmp: Path, x_pool: np.ndarray, config, runs: int) -> list[dict]:
    from edgedistill.device import krr
    from edgedistill.device.runtime import load_session
    from edgedistill.export.api import export_random_features
    from edgedistill.methods.random_features import RandomFeatureConfig, band_stats, random_feature_nets

    mean, std = band_stats(x_pool)
    rng = np.random.default_rng(0)
    rows = []
    for rf in (RandomFeatureConfig(), RandomFeatureConfig(n_nets=1)):  # RFAD's 7 nets, and a 1-net (noisier) kernel
        nets = random_feature_nets(config.shape, rf, seed=0, mean=mean, std=std)
        out = export_random_features(nets, config.shape, tmp / f"rf{rf.n_nets}", formats=("onnx",),
                                     meta={"feature_config": config.to_dict()})
        session = load_session(next(out.glob("*.onnx")), threads=1)
        for ipc in (2, 5, 10, 20, 50):
            m = 10 * ipc
            x = x_pool[rng.integers(0, len(x_pool), m)] + rng.normal(0, 0.1, (m, *config.shape)).astype(np.float32)
            y = np.repeat(np.arange(10), ipc)
            fit = lambda: krr.fit(session, x, y, 10, krr.KRRConfig())  # noqa: E731
            phi_c = krr.features_of(session, x, 64)
            solve = lambda: krr.krr_fit(phi_c, krr.regression_targets(y, 10), 1e-4)  # noqa: E731
            repeats = 3 if m >= 200 else 5
            rows.append({"n_nets": rf.n_nets, "ipc": ipc, "coreset_size": m, "fit_ms": median_ms(fit, repeats, warmup=1),
                         "solve_ms": median_ms(solve, repeats, warmup=1), "n_random_features": rf.n_nets * rf.n_features})
    return rows


def bench_full(tmp: Path, config, runs: int, batch: int = 32) -> list[dict]:
    import torch
    from torch.nn import functional as F

    from edgedistill.device.full import train_step
    from edgedistill.device.runtime import load_session
    from edgedistill.export.train_step import PARAMS, TrainStep, TrainStepConfig, conv_weight, export_train_step, unflatten

    step_cfg = TrainStepConfig()
    out = export_train_step(tmp / "step", config.to_dict(), config.feature_id, [f"c{i}" for i in range(10)], step_cfg)
    shapes = {k: tuple(v) for k, v in json.loads((out / "meta.json").read_text())["param_shapes"].items()}
    init = np.load(out / "init.npz")["params"]
    session = load_session(out / "train_step.onnx", threads=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *config.shape)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    mean, std = np.zeros(config.shape[0], np.float32), np.ones(config.shape[0], np.float32)
    state = {"p": init.copy(), "m": np.zeros_like(init), "v": np.zeros_like(init), "t": 0}

    def ort_step():
        state["t"] += 1
        _, state["p"], state["m"], state["v"] = train_step(session, state["p"], state["m"], state["v"], x, y, mean, std, 1e-3, state["t"], 0.0)

    module = TrainStep(shapes, step_cfg)
    tx, ty, tm, ts = map(torch.from_numpy, (x, y, mean, std))
    tparams = [torch.from_numpy(init.copy()), torch.zeros(len(init)), torch.zeros(len(init))]

    def eager_step():
        with torch.no_grad():
            _, *tparams[:] = module(tx, ty, tm, ts, torch.tensor([1e-3]), torch.tensor([1.0]), torch.tensor([0.0]), *tparams)

    ref = {k: v.clone().requires_grad_(True) for k, v in unflatten(torch.from_numpy(init.copy()), shapes).items()}
    opt = torch.optim.Adam([ref[k] for k in PARAMS], lr=1e-3)
    labels = ty.argmax(1)

    def autograd_step():
        opt.zero_grad()
        h1 = torch.relu(F.conv1d(tx, conv_weight(ref["w1"], 3), ref["b1"], padding=1))
        h2 = torch.relu(F.conv1d(h1, conv_weight(ref["w2"], 3), ref["b2"], padding=1))
        F.cross_entropy(h2.mean(-1) @ ref["w3"].t() + ref["b3"], labels).backward()
        opt.step()

    return [{"impl": name, "batch": batch, "step_ms": median_ms(fn, runs // 2)} for name, fn in
            (("onnxruntime train-step graph", ort_step), ("torch eager, same hand-written step", eager_step),
             ("torch autograd + torch.optim.Adam", autograd_step))]


def write_results(out_dir: Path, results: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "device_latency.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# Device latency ({results['date']})", "", f"Machine: {results['machine']}. One thread everywhere "
             "(OMP_NUM_THREADS=1, session intra-op threads 1). Shared machine: other jobs ran at the same time, "
             "so treat figures as upper bounds.", "", "## cnn4 inference (kws features 40x101, 10 classes)", "",
             "| file | backend | batch | p50 ms | p90 ms | p99 ms | samples/s | size bytes | batch-1 fallback |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['file']} | {r['backend']} | {r['batch']} | {r['p50_ms']:.3f} | {r['p90_ms']:.3f} | {r['p99_ms']:.3f} | "
              f"{r['throughput']:.0f} | {r['size_bytes']} | {r['batch1_fallback']} |" for r in results["formats"]]
    lines += ["", "## krr fit time vs coreset size (10 classes; nets width 32, depth 3, 128 features each; onnxruntime)", "",
              "| nets | random features | per class | coreset size | fit ms (Φ + solve + Platt) | closed-form solve only ms |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {r['n_nets']} | {r['n_random_features']} | {r['ipc']} | {r['coreset_size']} | {r['fit_ms']:.1f} | {r['solve_ms']:.2f} |"
              for r in results["krr"]]
    lines += ["", "## full-mode train step (temporal CNN 32/32, batch 32)", "", "| implementation | step ms |", "|---|---|"]
    lines += [f"| {r['impl']} | {r['step_ms']:.2f} |" for r in results["full"]]
    (out_dir / "device_latency.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed runs per latency figure (default 200)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="results folder")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    x_cal, config = speech_commands_features()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
                   "formats": bench_formats(tmp, x_cal, config, args.runs),
                   "krr": bench_krr(tmp, x_cal, config, args.runs),
                   "full": bench_full(tmp, config, args.runs)}
    write_results(args.out, results)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
