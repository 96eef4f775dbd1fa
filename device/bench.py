"""Latency benchmark of one exported graph on this device: warm-up, timed runs, percentiles.

`benchmark(model_path, backend=None, threads=1, batch=1, warmup=10, runs=100, seed=0)` feeds
seeded random float32 inputs of the graph's shape (dynamic dims: batch `batch`, other dynamic
dims 1) and reports p50/p90/p99/mean latency in ms per call, throughput in samples per second,
model file size and the process's peak resident memory. Inputs come from the graph, so it works
for classifiers, random-feature nets, generators and train-step graphs alike.

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.device.predictor import resolve_model_file
from edgedistill.device.runtime import Session, load_session


def batched_inputs(session: Session) -> tuple[str, ...]:
    """Inputs with a batch axis: rank > 1 and a dynamic first dim, or a fixed 1 (fed row by row)."""
    return tuple(n for n in session.input_names if len(session.input_shapes[n]) > 1 and session.input_shapes[n][0] in (None, 1))


def random_inputs(session: Session, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded float32 inputs for every graph input: `batch` rows on batched inputs, other dynamic dims 1."""
    rng = np.random.default_rng(seed)
    batched = batched_inputs(session)
    feeds = {}
    for name in session.input_names:
        dims = [1 if d is None else d for d in session.input_shapes[name]]
        if name in batched:
            dims[0] = batch
        feeds[name] = rng.standard_normal(dims).astype(np.float32)
    return feeds


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def time_calls(fn, warmup: int, runs: int) -> np.ndarray:
    """Milliseconds per call of fn() over `runs` timed calls after `warmup` untimed ones."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        fn()
        times[i] = (time.perf_counter() - start) * 1000.0
    return times


def latency_summary(times_ms: np.ndarray, batch: int) -> dict[str, float]:
    """p50/p90/p99/mean ms and throughput (samples/s) from per-call times."""
    p50, p90, p99 = np.percentile(times_ms, [50, 90, 99])
    mean = float(times_ms.mean())
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "mean_ms": mean,
            "throughput": float(batch * 1000.0 / mean) if mean > 0 else float("inf")}


def benchmark(model_path: str | Path, backend: str | None = None, threads: int | None = 1, batch: int = 1,
              warmup: int = 10, runs: int = 100, seed: int = 0) -> dict[str, Any]:
    """Benchmark a model file (or an export directory's preferred file). See the module docstring."""
    if batch < 1:
        raise ValueError(f"--batch must be >= 1, got {batch}")
    _, model_file = resolve_model_file(model_path, backend)
    session = load_session(model_file, backend, threads)
    feeds = random_inputs(session, batch, seed)
    batched = batched_inputs(session)
    run = (lambda: session.run_batched(feeds, batched)) if batched else (lambda: session.run_named(feeds))
    times = time_calls(run, warmup, runs)
    return {"model": str(model_file), "backend": session.backend, "threads": threads, "batch": batch,
            "runs": runs, "warmup": warmup, **latency_summary(times, batch),
            "size_bytes": model_file.stat().st_size, "peak_rss_mb": peak_rss_mb(),
            "batch1_fallback": bool(session.fixed_batch and batch > 1)}
