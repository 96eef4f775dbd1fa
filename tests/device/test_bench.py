"""`bench`: sane latency figures for classifiers and multi-input graphs."""

import pytest

from edgedistill.device.bench import batched_inputs, benchmark, latency_summary, random_inputs
from edgedistill.device.runtime import load_session


def test_benchmark_fields(classifier_export):
    result = benchmark(classifier_export, runs=20, warmup=2, batch=4)
    assert result["backend"] == "onnxruntime" and result["batch"] == 4 and result["runs"] == 20
    assert 0 < result["p50_ms"] <= result["p90_ms"] <= result["p99_ms"]
    assert result["throughput"] == pytest.approx(4 * 1000 / result["mean_ms"])
    assert result["size_bytes"] == (classifier_export / "model.fp32.onnx").stat().st_size
    assert result["peak_rss_mb"] > 10 and result["batch1_fallback"] is False


def test_benchmark_multi_input_and_fallback(generator_export, classifier_tflite):
    assert benchmark(generator_export, runs=5, warmup=1)["p50_ms"] > 0
    result = benchmark(classifier_tflite, runs=3, warmup=1, batch=2)
    assert result["backend"] == "litert" and result["batch1_fallback"] is True
    session = load_session(classifier_tflite / "model.fp32.tflite")
    feeds = random_inputs(session, 3)
    assert feeds[session.input_names[0]].shape[0] == 3  # fed row by row through the batch-1 graph
    assert session.run_batched(feeds, batched_inputs(session))[session.output_names[0]].shape == (3, 4)


def test_latency_summary_percentiles():
    import numpy as np

    summary = latency_summary(np.arange(1, 101, dtype=float), batch=2)
    assert summary["p50_ms"] == pytest.approx(50.5) and summary["p99_ms"] == pytest.approx(99.01)
    assert summary["throughput"] == pytest.approx(2000 / 50.5)


def test_bad_arguments(classifier_export):
    with pytest.raises(ValueError, match="runs >= 1"):
        benchmark(classifier_export, runs=0)
    with pytest.raises(ValueError, match="--batch"):
        benchmark(classifier_export, batch=0)
