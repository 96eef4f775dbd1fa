"""The main job end to end on a tiny configuration: every output file, and the coreset beats random."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("espeakng_loader")


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    from edgedistill.quickstart import QuickstartConfig, run_quickstart

    out = tmp_path_factory.mktemp("qs") / "run"
    return out, run_quickstart(out, QuickstartConfig.tiny(), progress=False)


def test_every_output_file(quickstart_run):
    from edgedistill.artifacts import read_meta

    out, results = quickstart_run
    for name in ("synthesise", "features", "distill", "train", "export", "device", "bench", "report"):
        assert (out / "stages" / f"{name}.json").is_file(), name
    assert len(list((out / "audio").rglob("*.wav"))) == 10 * 30
    assert read_meta(out / "features").schema == "edgedistill.features"
    assert read_meta(out / "coreset").schema == "edgedistill.coreset"
    for kind in ("coreset-0", "random-0", "full-0"):
        assert read_meta(out / "models" / kind).schema == "edgedistill.model"
    for name in ("model.fp32.onnx", "model.int8.onnx", "model.fp32.tflite", "model.int8.tflite"):
        assert (out / "export" / "classifier" / name).stat().st_size > 10_000
    for mode in ("krr", "full"):
        assert read_meta(out / "device" / mode).schema == "edgedistill.device-model"
    for plot in ("accuracy", "latency", "coreset", "confusion"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    report = (out / "report.md").read_text()
    assert "## Summary" in report and "model.int8.tflite" in report
    assert json.loads((out / "quickstart.json").read_text())["ipc"] == 5


def test_figures_are_sane(quickstart_run):
    _, r = quickstart_run
    for file, info in r["export"]["files"].items():
        assert info["top1_agreement"] >= 0.8, file
        assert r["bench"]["files"][file]["p50_ms"] > 0
    assert r["export"]["files"]["onnx fp32"]["max_abs_diff"] < 1e-3
    assert r["train"]["full"]["accuracy"] > 0.25  # ten words: chance is 0.1
    assert 0.0 <= r["device"]["krr"]["accuracy"] <= 1.0 and 0.0 <= r["device"]["full"]["accuracy"] <= 1.0


def test_coreset_beats_random_selection(quickstart_run):
    """Under the kernel it was distilled for, the coreset predicts held-out clips better than random
    real subsets of the same size do on average (RFAD's loss, on the test split)."""
    _, r = quickstart_run
    d = r["distill"]
    assert d["krr_mse"] < d["krr_random_mse"], d


def test_rerun_reuses_finished_stages(quickstart_run):
    from edgedistill.quickstart import QuickstartConfig, run_quickstart

    out, first = quickstart_run
    again = run_quickstart(out, QuickstartConfig.tiny(), progress=False)
    assert again["distill"] == first["distill"] and again["train"] == first["train"]
    with pytest.raises(ValueError, match="other settings"):
        run_quickstart(out, QuickstartConfig.tiny(ipc=4), progress=False)
