"""The main job end to end on the tiny configuration: every output file, sane figures, resume,
and a job rerun alone gives the same figures (determinism)."""

from __future__ import annotations

import fnmatch
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("espeakng_loader")

# every file `--tiny` writes, as patterns relative to OUT; each must match at least one file
EXPECTED = {
    "quickstart.json", "report.json", "report.md",
    "stages/synthesise.json", "stages/features.json", "stages/distill.json", "stages/train.json", "stages/export.json",
    "stages/device.json", "stages/listen.json", "stages/learn.json", "stages/bench.json", "stages/report.json",
    "audio/manifest.csv", "audio/*.json", "audio/*/*.wav",
    "features/*",
    "coresets/ipc1/*", "coresets/ipc2/*",
    "jobs/distill/ipc1.json", "jobs/distill/ipc2.json",
    "jobs/train/coreset-ipc1-s0.json", "jobs/train/coreset-ipc2-s0.json", "jobs/train/random-ipc1-s0.json",
    "jobs/train/random-ipc2-s0.json", "jobs/train/full-s0.json", "jobs/train/al-entropy.json",
    "models/coreset-ipc1-s0/*", "models/coreset-ipc2-s0/*", "models/random-ipc1-s0/*", "models/random-ipc2-s0/*",
    "models/full-s0/*",
    "export/classifier/meta.json", "export/classifier/model.fp32.onnx", "export/classifier/model.int8.onnx",
    "export/bundle/*", "export/bundle/*/*",
    "device/krr/*", "device/full/*",
    "listen/stream.wav", "listen/truth.json", "listen/background/noise.wav",
    "learn/user/seven/user_0[0-4].wav", "learn/eval.npz", "learn/model/*",
    "plots/curve.png", "plots/latency.png", "plots/coreset.png", "plots/confusion.png",
}


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    from edgedistill.quickstart import QuickstartConfig, run_quickstart

    out = tmp_path_factory.mktemp("qs") / "run"
    return out, run_quickstart(out, QuickstartConfig.tiny(), progress=False)


def test_every_output_file(quickstart_run):
    from edgedistill.artifacts import read_meta
    from edgedistill.quickstart import STAGES

    out, results = quickstart_run
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    unexpected = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in EXPECTED)]
    assert not unexpected, unexpected  # no stray temp files, checkpoints or half-written folders
    missing = [pattern for pattern in EXPECTED if not any(fnmatch.fnmatch(f, pattern) for f in files)]
    assert not missing, missing
    assert [json.loads((out / "stages" / f"{s.name}.json").read_text())["seconds"] >= 0 for s in STAGES]
    assert len(list((out / "audio").rglob("*.wav"))) == 4 * 16
    assert read_meta(out / "features").schema == "edgedistill.features"
    for ipc in (1, 2):
        assert read_meta(out / "coresets" / f"ipc{ipc}").schema == "edgedistill.coreset"
    for kind in ("coreset-ipc1-s0", "coreset-ipc2-s0", "random-ipc1-s0", "random-ipc2-s0", "full-s0"):
        assert read_meta(out / "models" / kind).schema == "edgedistill.model"
    for name in ("model.fp32.onnx", "model.int8.onnx"):
        assert (out / "export" / "classifier" / name).stat().st_size > 10_000
    bundle = json.loads((out / "export" / "bundle" / "bundle.json").read_text())
    assert set(results["export"]["bundle_files"]) == {str(p.relative_to(out / "export" / "bundle"))
                                                       for p in (out / "export" / "bundle").rglob("*") if p.is_file()}
    assert "classifier/audio.fp32.onnx" in results["export"]["bundle_files"] and bundle
    for mode in ("krr", "full"):
        assert read_meta(out / "device" / mode).schema == "edgedistill.device-model"
    for plot in ("curve", "latency", "coreset", "confusion"):
        assert (out / "plots" / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((out / "learn" / "user" / "seven").glob("*.wav"))) == 5
    assert read_meta(out / "learn" / "model").schema == "edgedistill.device-model"
    assert read_meta(out / "learn" / "model").labels == [*read_meta(out / "device" / "krr").labels, "seven"]
    assert "thresholds" in json.loads((out / "export" / "classifier" / "meta.json").read_text())["detector"]
    report = (out / "report.md").read_text()
    for section in ("## The learning curve", "## On the device", "**Listening.**", "**Learning a new word.**", "## Sizes",
                    "## Latency", "plots/curve.png"):
        assert section in report, section
    assert report.index("plots/curve.png") < report.index("plots/latency.png")  # the curve is what a reader sees first
    saved = json.loads((out / "report.json").read_text())
    assert saved["schema"] == "edgedistill.quickstart-report" and saved["config"]["budgets"] == [1, 2]
    assert saved["train"] == results["train"] and saved["machine"]["cpus"] >= 1


def test_figures_are_sane(quickstart_run):
    out, r = quickstart_run
    curve = r["train"]["curve"]
    for kind in ("coreset", "random"):
        assert set(curve[kind]) == {"1", "2"}
        for ipc, point in curve[kind].items():
            assert 0.0 <= point["accuracy"] <= 1.0 and point["n_train"] == 4 * int(ipc) and point["runs"] == 1
    assert r["train"]["full"]["n_train"] > 8
    al = r["train"]["active_learning"]
    assert [p["n_samples"] for p in al["points"]] == [8] and sum(al["points"][0]["class_counts"]) == 8
    assert r["train"]["chosen"] == {"ipc": 2, "model_dir": curve["coreset"]["2"]["model_dir"]}
    for file, info in r["export"]["files"].items():
        assert info["top1_agreement"] >= 0.8, file
    assert r["export"]["files"]["onnx fp32"]["max_abs_diff"] < 1e-3
    for name, row in r["bench"]["files"].items():
        assert 0 < row["p50_ms"] <= row["p99_ms"], name
    assert "bundle audio.fp32.onnx (raw PCM in)" in r["bench"]["files"]
    for mode in ("krr", "full"):
        assert 0.0 <= r["device"][mode]["accuracy"] <= 1.0
    heard = r["listen"]
    assert heard["words"] == 4 * 2 and heard["hits"] + heard["misses"] == heard["words"]
    assert heard["false_accepts"] == heard["false_accepts_on_words"] + heard["false_accepts_in_noise"] >= 0
    assert heard["duration_s"] > heard["words"] * 1.5 and 0 < heard["real_time_factor"] < 1
    learned = r["learn"]
    assert learned["new_word"] == "seven" and learned["n_new"] == 5 and learned["n_replay"] == 8
    assert learned["user_voice"] not in {s["voice"] for s in json.loads((out / "audio" / "synth.json").read_text())["speakers"]}
    for key in ("old_class_accuracy_before", "old_class_accuracy_after", "new_class_accuracy"):
        assert 0.0 <= learned[key] <= 1.0, key
    assert learned["n_eval_new"] >= 1 and learned["n_eval_old"] == r["features"]["test"]


def test_tables_hold_only_seeded_figures(quickstart_run):
    """The printed tables (and the README's) carry accuracies and sizes, never timings."""
    from edgedistill.quickstart.report import curve_table, deploy_rows

    _, r = quickstart_run
    columns, rows = curve_table(r)
    assert columns == ["cnn4 trained on", "1/class", "2/class"]
    assert rows[0][0] == "RFAD coreset (synthetic)" and rows[0][2] == f"{r['train']['curve']['coreset']['2']['accuracy'] * 100:.1f} %"
    assert rows[2][1:] == ["-", f"{r['train']['active_learning']['points'][0]['accuracy'] * 100:.1f} %"]  # AL starts at 1/class
    text = json.dumps([rows, deploy_rows(r)])
    assert " ms" not in text and " s\"" not in text


def test_a_job_rerun_alone_gives_the_same_figures(quickstart_run, tmp_path):
    """Same seed, same figures: one training job run again in a fresh folder, in this process."""
    from edgedistill.quickstart import jobs

    out, r = quickstart_run
    job = json.loads((out / "jobs" / "train" / "coreset-ipc2-s0.json").read_text())
    spec = {"key": "again", "kind": "coreset", "ipc": 2, "features": str(out / "features"), "model": "cnn4",
            "model_kwargs": {"width": 16}, "coreset": r["distill"]["budgets"]["2"]["out"], "out": str(tmp_path / "again"),
            "train": {"epochs": 2, "min_steps": 10, "batch_size": 32, "seed": job["seed"]}}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=jobs._init_worker) as pool:
        again = pool.submit(jobs.train, spec).result()  # a fresh process, as the quickstart's workers
    assert again["accuracy"] == job["accuracy"] and again["n_train"] == job["n_train"]


def test_rerun_reuses_finished_stages(quickstart_run):
    from edgedistill.quickstart import QuickstartConfig, run_quickstart

    out, first = quickstart_run
    again = run_quickstart(out, QuickstartConfig.tiny(), progress=False)
    assert again["distill"] == first["distill"] and again["train"] == first["train"] and again["export"] == first["export"]
    with pytest.raises(ValueError, match="other settings"):
        run_quickstart(out, QuickstartConfig.tiny(budgets=(1, 3)), progress=False)


def test_an_interrupted_train_stage_reuses_its_finished_jobs(quickstart_run, tmp_path):
    """Remove the train stage's record and one job's: the rerun trains only that job again."""
    import shutil

    from edgedistill.quickstart import QuickstartConfig, run_quickstart

    out, first = quickstart_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for name in ("train", "export", "device", "bench", "report"):
        (copy / "stages" / f"{name}.json").unlink()
    (copy / "jobs" / "train" / "random-ipc1-s0.json").unlink()
    kept = (copy / "jobs" / "train" / "full-s0.json").stat().st_mtime_ns
    again = run_quickstart(copy, QuickstartConfig.tiny(), progress=False)
    assert (copy / "jobs" / "train" / "full-s0.json").stat().st_mtime_ns == kept
    assert again["train"]["curve"]["random"]["1"]["accuracy"] == first["train"]["curve"]["random"]["1"]["accuracy"]


def test_the_stream_holds_its_words_where_the_truth_says(quickstart_run):
    """Every word span is louder than the noise before it (SNR >= 10 dB) and the words never overlap."""
    import numpy as np

    from edgedistill.device.audio import read_wav

    out, _ = quickstart_run
    audio, rate = read_wav(out / "listen" / "stream.wav")
    truth = json.loads((out / "listen" / "truth.json").read_text())["words"]
    assert sorted(w["word"] for w in truth) == sorted(["yes", "no", "up", "down"] * 2)
    for before, word in zip([None, *truth], truth):
        assert before is None or word["start_s"] - before["end_s"] >= 1.5
        span = audio[int(word["start_s"] * rate):int(word["end_s"] * rate)]
        noise = audio[int((word["start_s"] - 0.6) * rate):int((word["start_s"] - 0.1) * rate)]
        assert np.sqrt(np.mean(span**2)) > 1.5 * np.sqrt(np.mean(noise**2)), word


def test_detections_are_scored_against_the_word_positions():
    from edgedistill.quickstart.listening import score_detections

    truth = [{"word": "yes", "start_s": 2.0, "end_s": 2.6}, {"word": "no", "start_s": 5.0, "end_s": 5.4},
             {"word": "up", "start_s": 8.0, "end_s": 8.4}]
    events = [{"label": "yes", "start_s": 1.9, "end_s": 2.9},  # centre 2.4, word centre 2.3: a hit, 0.1 s late
              {"label": "go", "start_s": 4.7, "end_s": 5.7},  # on "no" with the wrong label
              {"label": "up", "start_s": 11.0, "end_s": 12.0}]  # in noise, and "up" is missed
    score = score_detections(events, truth)
    assert (score["hits"], score["misses"], score["false_accepts"]) == (1, 2, 2)
    assert (score["false_accepts_on_words"], score["false_accepts_in_noise"]) == (1, 1)
    assert score["timing_error_median_s"] == 0.1 and score["timing_error_mean_signed_s"] == 0.1


def test_stage_seeds_differ_and_repeat():
    from pathlib import Path

    from edgedistill.quickstart.config import QuickstartConfig, Run

    run = Run(Path("x"), QuickstartConfig.tiny())
    assert run.seed("distill", 2) == run.seed("distill", 2)
    assert len({run.seed("distill", 1), run.seed("distill", 2), run.seed("train", 0), run.seed("random", 1, 0)}) == 4
    other = Run(Path("x"), QuickstartConfig.tiny(seed=1))
    assert other.seed("distill", 2) != run.seed("distill", 2)


def test_config_checks():
    from edgedistill.quickstart.config import QuickstartConfig

    assert QuickstartConfig(budgets=("10", "2", "5")).budgets == (2, 5, 10)  # the CLI passes strings
    assert QuickstartConfig().chosen_ipc == 10
    with pytest.raises(ValueError, match="al_strategy"):
        QuickstartConfig(al_strategy="nope")
    with pytest.raises(ValueError, match="budgets"):
        QuickstartConfig(budgets=(0, 2))
    with pytest.raises(ValueError, match="targets"):
        QuickstartConfig(targets=("bundle",))
    with pytest.raises(ValueError, match="new_word"):
        QuickstartConfig(new_word="yes")


def test_a_quickstart_run_folder_names_its_bundle_inputs(quickstart_run):
    """`edgedistill export RUN --target bundle` on a quickstart folder takes the chosen model and its coreset."""
    from pathlib import Path

    from edgedistill.export.bundle import resolve_run

    out, r = quickstart_run
    model, coreset = resolve_run(out)
    assert model == Path(r["train"]["chosen"]["model_dir"]) and coreset == Path(r["distill"]["budgets"]["2"]["out"])
