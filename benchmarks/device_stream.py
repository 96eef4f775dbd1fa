"""Streaming benchmark: real-time factor, false accepts per hour, miss rate vs SNR, detection time error.

Models from benchmarks/device_kws_setup.py (8 classes: yes no up down left right _unknown_
_silence_): cnn4 exported to ONNX / TFLite fp32 / int8, and the `krr` device model (RFAD coreset).
1. Real-time factor (front-end + model seconds per second of audio, hop 100 ms) per backend,
   format and thread count, on 60 s of ESC-50 audio; plus the front-end alone, incremental vs
   recomputing every window with `features.extract_batch`.
2. Thresholds: `device calibrate` logic with a target of 1 false accept per hour on the
   calibration background (ESC-50 sample clips 0-124 + 10 min of generated coloured noise);
   false accepts per hour measured on held-out background (ESC-50 clips 125-249; 10 min of other
   coloured noise), with the calibrated thresholds and with a flat 0.6.
3. Miss rate: test/valid-split keyword clips (unseen speakers) inserted every 3.5 s (±1 s) into the
   held-out background at 0, 5, 10, 20 dB SNR (clip RMS over the background RMS under it); a
   word counts as found when a detection of its label lies within ±0.5 s of its energy centroid;
   other detections count as false accepts. Detection time error: |detected centre − centroid|.
Usage: python benchmarks/device_stream.py [WORK] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.device_kws_setup import SHARED, coloured_noise
from benchmarks.device_learn import environment

RATE = 16000
SNRS = (0, 5, 10, 20)
MATCH_S = 0.5


def esc_clips() -> list[Path]:
    files = sorted((SHARED / "esc50_subset" / "audio").rglob("*.wav"))
    if not files:
        raise SystemExit(f"ESC-50 sample not found under {SHARED}/esc50_subset (set EDGEDISTILL_SHARED_DATA)")
    return files


def read(path: Path) -> np.ndarray:
    from edgedistill.device.audio import read_wav

    return read_wav(path, expected_rate=RATE)[0]


def noise_stream(seconds: float, seed: int) -> np.ndarray:
    """Coloured noise whose colour and level change every 5 s (RMS 0.003-0.1)."""
    rng = np.random.default_rng(seed)
    parts = [10 ** rng.uniform(-2.5, -1) * coloured_noise(rng, 5 * RATE) for _ in range(int(seconds // 5))]
    return np.concatenate(parts).astype(np.float32)


def trace(predictor, audio: np.ndarray, config):
    from edgedistill.device.calibrate import score_trace

    return score_trace(predictor, (audio[i : i + 8000] for i in range(0, len(audio), 8000)), config)


def pick_thresholds(predictor, backgrounds: list[np.ndarray], config, fa_per_hour: float) -> dict[str, float]:
    """The calibrate.calibrate search on in-memory background streams."""
    from edgedistill.device.calibrate import GRID, count_events

    active = [i for i, n in enumerate(predictor.labels) if n not in config.ignore]
    traces, seconds = [], 0.0
    for audio in backgrounds:
        times, smooth, secs = trace(predictor, audio, config)
        seconds += secs
        masked = np.where(np.isin(np.arange(len(predictor.labels)), active), smooth, -1.0)
        traces.append((times, masked.argmax(1), masked.max(1)))
    allowed = fa_per_hour / len(active) * seconds / 3600
    out = {}
    for c in active:
        counts = np.array([sum(count_events(t, b, s, c, thr, config.refractory_s) for t, b, s in traces) for thr in GRID])
        good = np.flatnonzero(np.logical_and.accumulate((counts <= allowed)[::-1])[::-1])
        out[predictor.labels[c]] = float(GRID[good[0]]) if len(good) else 0.9999
    return out


def run_stream(predictor, audio: np.ndarray, config) -> dict:
    from edgedistill.device.stream import listen

    return listen(predictor, (audio[i : i + 8000] for i in range(0, len(audio), 8000)), config)


def mix_keywords(background: np.ndarray, clips: list[tuple[str, np.ndarray]], snr_db: float, every_s: float = 3.5,
                 seed: int = 0) -> tuple[np.ndarray, list[tuple[str, float]]]:
    rng = np.random.default_rng(seed)
    n = len(clips)
    need = int((n * every_s + 2) * RATE)
    bg = np.resize(background, need).astype(np.float64)
    truth = []
    for i, (label, clip) in enumerate(clips):
        start = int(((i + 0.5) * every_s + rng.uniform(-1, 1)) * RATE)
        seg = bg[start : start + len(clip)]
        bg_rms = np.sqrt(np.mean(seg**2)) + 1e-6
        gain = bg_rms * 10 ** (snr_db / 20) / (np.sqrt(np.mean(clip.astype(np.float64) ** 2)) + 1e-9)
        bg[start : start + len(clip)] += gain * clip
        energy = clip.astype(np.float64) ** 2
        truth.append((label, (start + float((energy * np.arange(len(clip))).sum() / energy.sum())) / RATE))
    peak = np.abs(bg).max()
    return (bg / max(peak, 1.0)).astype(np.float32), truth


def score_detections(events: list[dict], truth: list[tuple[str, float]]) -> dict:
    used, errors, hits = set(), [], 0
    for label, centre in truth:
        best = None
        for j, e in enumerate(events):
            mid = (e["start_s"] + e["end_s"]) / 2
            if j not in used and e["label"] == label and abs(mid - centre) <= MATCH_S and (best is None or abs(mid - centre) < best[1]):
                best = (j, abs(mid - centre), mid - centre)
        if best:
            used.add(best[0])
            hits += 1
            errors.append(best[2])
    errs = np.abs(errors) if errors else np.array([np.nan])
    return {"words": len(truth), "miss_rate": 1 - hits / len(truth), "false_accepts": len(events) - len(used),
            "time_err_median_s": float(np.median(errs)), "time_err_p90_s": float(np.percentile(errs, 90)),
            "time_err_mean_signed_s": float(np.mean(errors)) if errors else float("nan")}


def keyword_clips(work: Path) -> list[tuple[str, np.ndarray]]:
    old = ["yes", "no", "up", "down", "left", "right"]
    with open(work / "synth" / "manifest.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] in ("test", "valid") and r["label"] in old]
    return [(r["label"], read(work / "synth" / r["path"])) for r in rows]


def main() -> None:
    from edgedistill.device.features import extract_batch
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.stream import DetectorConfig, StreamingFrontEnd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default="/tmp/edgedistill-device-bench")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--rtf-only", action="store_true", help="rerun the real-time factor part; keep the stored detection rows")
    opts = parser.parse_args()
    work, results = Path(opts.work), Path(opts.out)
    esc = esc_clips()
    esc_cal = np.concatenate([read(p) for p in esc[:125]])
    esc_test = np.concatenate([read(p) for p in esc[125:]])
    noise_cal, noise_test = noise_stream(600, seed=1), noise_stream(600, seed=2)
    base = DetectorConfig()

    # 1. real-time factor: best of 3 passes over the minute (other jobs share the cores), variants interleaved
    rtf = []
    minute = esc_test[: 60 * RATE]
    export = work / "cnn_export"
    variants = [(f.name, export / f.name) for f in sorted(export.glob("model.*"))] + [("krr (device model)", work / "krr_old")]
    predictors = {(name, threads): load_predictor(path, threads=threads) for name, path in variants for threads in (1, 2)}
    passes: dict = {key: [] for key in predictors}
    for _ in range(3):
        for key, predictor in predictors.items():
            run_stream(predictor, minute[: 3 * RATE], base)  # warm-up
            passes[key].append(run_stream(predictor, minute, base))
    for (name, threads), runs in passes.items():
        s = min(runs, key=lambda r: r["real_time_factor"])
        rtf.append({"model": name, "backend": predictors[(name, threads)].info.get("backend"), "threads": threads, "rtf": s["real_time_factor"],
                    "rtf_worst": max(r["real_time_factor"] for r in runs),
                    "features_ms_per_hop": 1000 * s["features_s"] / s["windows"], "model_ms_per_hop": 1000 * s["model_s"] / s["windows"]})
        print(json.dumps(rtf[-1]), flush=True)
    config = load_predictor(variants[0][1]).feature_config
    incremental, full = [], []
    for _ in range(3):
        front = StreamingFrontEnd(config, 1600)
        tic = time.perf_counter()
        starts, _ = front.push(minute)
        incremental.append(time.perf_counter() - tic)
        tic = time.perf_counter()
        extract_batch([minute[s : s + RATE] for s in starts], config)
        full.append(time.perf_counter() - tic)
    frontend = {"windows": len(starts), "incremental_ms_per_hop": 1000 * min(incremental) / len(starts),
                "full_window_ms_per_hop": 1000 * min(full) / len(starts)}
    print(json.dumps(frontend), flush=True)
    if "--rtf-only" in sys.argv:
        previous = json.loads((results / "device_stream.json").read_text())
        write(results, rtf, frontend, previous["detection"], previous.get("detection_environment", previous["environment"]))
        return

    # 2-3. thresholds, false accepts, miss rates
    clips = keyword_clips(work)
    detection = []
    models = [("cnn4 onnx fp32", export / "model.fp32.onnx"), ("cnn4 onnx int8", export / "model.int8.onnx"), ("krr (device model)", work / "krr_old")]
    for name, path in models:
        if not Path(path).exists():
            continue
        predictor = load_predictor(path)
        thresholds = pick_thresholds(predictor, [esc_cal, noise_cal], base, fa_per_hour=1.0)
        for label, config_ in (("flat 0.6", base), ("calibrated 1 FA/h", replace(base, thresholds=thresholds))):
            row = {"model": name, "thresholds": label, "mean_threshold": float(np.mean(list(thresholds.values()))) if "cal" in label else 0.6}
            for bg_name, bg in (("ESC-50", esc_test), ("noise", noise_test)):
                s = run_stream(predictor, bg, config_)
                row[f"fa_per_hour_{bg_name}"] = s["detections"] / (s["duration_s"] / 3600)
                row[f"background_min_{bg_name}"] = s["duration_s"] / 60
                for snr in SNRS:
                    audio, truth = mix_keywords(bg, clips, snr, seed=snr)
                    score = score_detections(run_stream(predictor, audio, config_)["events"], truth)
                    row[f"miss_{bg_name}_{snr}dB"] = score["miss_rate"]
                    row[f"time_err_median_{bg_name}_{snr}dB"] = score["time_err_median_s"]
                    row[f"time_err_p90_{bg_name}_{snr}dB"] = score["time_err_p90_s"]
                    row[f"time_err_signed_{bg_name}_{snr}dB"] = score["time_err_mean_signed_s"]
                    row["words"] = score["words"]
            row["calibrated_thresholds"] = thresholds
            detection.append(row)
            print(json.dumps(row), flush=True)
    write(results, rtf, frontend, detection)


def write(results: Path, rtf: list[dict], frontend: dict, detection: list[dict], detection_env: dict | None = None) -> None:
    env = environment()
    detection_env = detection_env or env
    results.mkdir(parents=True, exist_ok=True)
    (results / "device_stream.json").write_text(json.dumps({"environment": env, "detection_environment": detection_env, "rtf": rtf, "frontend": frontend,
                                                              "detection": detection}, indent=1) + "\n")
    with open(results / "device_stream.csv", "w", newline="") as handle:
        keys = [k for k in detection[0] if k != "calibrated_thresholds"]
        writer = csv.DictWriter(handle, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(detection)
    lines = ["# Streaming detection (`edgedistill device listen`)", "",
             f"{env['date']} · {env['machine']} · load average {env['load_average']} (other jobs shared the 2 cores)", "",
             "Hop 100 ms, 1 s windows, smoothing 0.3 s, refractory 1 s; 8 classes (6 keywords + `_unknown_` + `_silence_`) "
             "trained on synthesised keywords (benchmarks/device_kws_setup.py).", "",
             "## Real-time factor (compute seconds per second of audio; 60 s of ESC-50 audio; best of 3 passes, worst in brackets)", "",
             "| model | backend | threads | RTF | front-end ms/hop | model ms/hop |", "|---|---|---:|---:|---:|---:|"]
    for r in rtf:
        lines.append(f"| {r['model']} | {r['backend']} | {r['threads']} | {r['rtf']:.4f} ({r.get('rtf_worst', r['rtf']):.4f}) | "
                     f"{r['features_ms_per_hop']:.2f} | {r['model_ms_per_hop']:.2f} |")
    lines += ["", f"Front-end alone over {frontend['windows']} windows: incremental {frontend['incremental_ms_per_hop']:.2f} ms per hop vs "
              f"{frontend['full_window_ms_per_hop']:.2f} ms recomputing each window (`extract_batch`).", "",
              "## False accepts and misses", "",
              f"Run {detection_env['date']}, load average {detection_env['load_average']}.", "",
              f"Thresholds calibrated for 1 false accept/hour (all keywords together) on ESC-50 clips 0-124 + 10 min of coloured noise; "
              f"measured on ESC-50 clips 125-249 ({detection[0]['background_min_ESC-50']:.1f} min) and 10 min of other coloured noise; "
              f"{detection[0]['words']} keyword clips of unseen speakers, one every ~3.5 s. Miss rate % at each SNR; "
              "time error = median / p90 |detected centre − word energy centroid| in seconds.", "",
              "| model | thresholds | background | FA/h | miss 0 dB | miss 5 dB | miss 10 dB | miss 20 dB | time err 10 dB (median / p90 s) |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in detection:
        for bg in ("ESC-50", "noise"):
            misses = " | ".join(f"{100 * r[f'miss_{bg}_{s}dB']:.1f}" for s in SNRS)
            lines.append(f"| {r['model']} | {r['thresholds']} | {bg} | {r[f'fa_per_hour_{bg}']:.1f} | {misses} | "
                         f"{r[f'time_err_median_{bg}_10dB']:.2f} / {r[f'time_err_p90_{bg}_10dB']:.2f} |")
    lines += ["", "Notes: the calibration background is 20 min long, so a target of 1 false accept per hour means none at all there, "
              "and the thresholds land close to 1: the held-out ESC-50 half then gives one false accept (5.8/h) and misses rise. "
              "The `krr` device model (RFAD coreset, 38 % on single clips of unseen speakers) is too weak to detect words in a "
              "stream: it is listed to show the command runs on it. The miss rates of cnn4 at 20 dB follow its clip accuracy "
              "(79.5 % on the test split)."]
    (results / "device_stream.md").write_text("\n".join(lines) + "\n")
    plot(results, detection)


def plot(results: Path, detection: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, bg in zip(axes, ("ESC-50", "noise")):
        for r in detection:
            ax.plot(SNRS, [100 * r[f"miss_{bg}_{s}dB"] for s in SNRS], marker="o", label=f"{r['model']}, {r['thresholds']}")
        ax.set_title(f"miss rate on {bg} background")
        ax.set_xlabel("SNR dB")
        ax.set_ylabel("miss %")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(results / "device_stream.png", dpi=110)


if __name__ == "__main__":
    main()
