"""`edgedistill device listen | calibrate | learn`: streaming detection and on-device personalisation.

Thin glue over edgedistill.device.stream / calibrate / learn (imported inside the commands, no
torch); registered on the `device` sub-app by edgedistill/cli/device.py.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli.options import Backend, Seed, Threads
from edgedistill.cli.options import Json as AsJson
from edgedistill.cli.output import emit, log


def register(app: typer.Typer) -> None:
    """Add the three commands to the `device` sub-app."""

    @app.command("listen")
    def listen(
        model: Annotated[Path, typer.Argument(help="Export directory (or a model file in one) or a device-trained model directory.")],
        audio: Annotated[Optional[str], typer.Argument(help="A WAV file at the model's rate, `-` for raw PCM on stdin, or nothing for the microphone (needs `sounddevice`).")] = None,
        hop: Annotated[float, typer.Option("--hop", help="Seconds between windows (a multiple of the feature hop).")] = 0.1,
        smooth: Annotated[Optional[float], typer.Option("--smooth", help="Seconds of posterior moving average [0.3 or the calibrated value].")] = None,
        threshold: Annotated[Optional[float], typer.Option("--threshold", help="Score threshold for every class, replacing calibrated per-class ones [0.6].")] = None,
        refractory: Annotated[Optional[float], typer.Option("--refractory", help="Minimum seconds between two detections [1.0].")] = None,
        pcm_format: Annotated[str, typer.Option("--format", help="Raw PCM on stdin: s16le or f32le, mono, at the model's rate.")] = "s16le",
        seconds: Annotated[Optional[float], typer.Option("--seconds", help="Microphone: stop after this long (default: Ctrl-C).")] = None,
        backend: Backend = None,
        threads: Threads = 1,
        as_json: AsJson = False,
    ) -> None:
        """Detect keywords in a stream: one JSON line per detection (label, start/end seconds, score), then a summary."""
        from edgedistill.device.predictor import load_predictor
        from edgedistill.device.stream import detector_config_from, listen as run_listen, microphone_chunks, pcm_chunks, stdin_binary, wav_chunks

        predictor = load_predictor(model, backend, threads)
        overrides = {"hop_s": hop, "smooth_s": smooth, "refractory_s": refractory}
        config = detector_config_from(predictor, overrides)
        if threshold is not None:
            config = replace(config, threshold=threshold, thresholds={})
        rate = predictor.feature_config.sample_rate
        if audio is None:
            chunks = microphone_chunks(rate, seconds=seconds)
        elif audio == "-":
            chunks = pcm_chunks(stdin_binary(), pcm_format)
        else:
            chunks = wav_chunks(audio, rate)

        def show(event: dict) -> None:
            print(json.dumps(event), flush=True)

        summary = run_listen(predictor, chunks, config, on_detection=show)
        summary.pop("events")
        if as_json:
            print(json.dumps({"summary": summary}), flush=True)
        else:
            summary.pop("detector")
            log.print(f"{model} ({predictor.info.get('backend')}): {summary['detections']} detections in {summary['duration_s']} s, "
                      f"real-time factor {summary['real_time_factor']}", highlight=False)
            sys.stdout.flush()

    @app.command("calibrate")
    def calibrate(
        model: Annotated[Path, typer.Argument(help="Export or device-model directory (its meta.json receives the thresholds).")],
        background: Annotated[Path, typer.Option("--background", help="Folder of WAVs with no keywords (searched recursively).")],
        positives: Annotated[Optional[Path], typer.Option("--positives", help="Folder with one sub-folder of keyword WAVs per class, for the miss rate.")] = None,
        fa_per_hour: Annotated[float, typer.Option("--fa-per-hour", help="Target false accepts per hour, all keyword classes together.")] = 1.0,
        hop: Annotated[float, typer.Option("--hop", help="Seconds between windows.")] = 0.1,
        smooth: Annotated[float, typer.Option("--smooth", help="Seconds of posterior moving average.")] = 0.3,
        refractory: Annotated[float, typer.Option("--refractory", help="Minimum seconds between two detections.")] = 1.0,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only; leave meta.json as it is.")] = False,
        backend: Backend = None,
        threads: Threads = 1,
        as_json: AsJson = False,
    ) -> None:
        """Per-class thresholds for a target false-accept rate on background audio; writes them into the model's metadata."""
        from edgedistill.device.calibrate import calibrate as run_calibrate, write_detector
        from edgedistill.device.predictor import load_predictor
        from edgedistill.device.stream import DetectorConfig

        predictor = load_predictor(model, backend, threads)
        base = DetectorConfig(hop_s=hop, smooth_s=smooth, refractory_s=refractory)
        result = run_calibrate(predictor, background, positives, fa_per_hour, base)
        settings = {**result.pop("detector").to_dict(), "calibration": {k: v for k, v in result.items() if k != "thresholds"}}
        if not dry_run:
            result["written"] = str(write_detector(predictor.path if predictor.path.is_dir() else predictor.path.parent, settings))
        rows = [(name, thr, result.get("miss_rate_per_class", {}).get(name, {}).get("miss_rate", "")) for name, thr in result["thresholds"].items()]
        emit(result, as_json, title=f"Calibration: {result['fa_per_hour']} false accepts/h on {result['background_hours'] * 60:.1f} min "
             f"of background, miss rate {result.get('miss_rate', 'n/a')}", rows=rows, columns=("class", "threshold", "miss rate"))

    @app.command("learn")
    def learn(
        model: Annotated[Path, typer.Argument(help="The current device model (from `device train` or an earlier `learn`).")],
        new: Annotated[Path, typer.Argument(help="The user's recordings: one sub-folder of WAVs per class (a new word, or more clips of known ones).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="New device-model directory (written atomically; the old model stays).")],
        replay: Annotated[Optional[Path], typer.Option("--replay", help="Coreset dir, samples .npz, generator export (sampled here) or feature set (random real clips); none = new clips only.")] = None,
        replay_ppc: Annotated[Optional[int], typer.Option("--replay-ppc", help="Replay examples per class (generator: samples drawn; others: a seeded subset).")] = None,
        step: Annotated[Optional[Path], typer.Option("--step", help="full mode: train-step export for the new label set (`device build-step`).")] = None,
        eval_data: Annotated[Optional[Path], typer.Option("--eval", help="Held-out labelled data (WAV class folders or a feature set) scored before and after.")] = None,
        eval_split: Annotated[Optional[str], typer.Option("--eval-split", help="Split of a feature set --eval.")] = None,
        reg: Annotated[Optional[float], typer.Option("--reg", help="krr: ridge relative to mean(diag K) [when a class is added: chosen on the device by leave-one-out on the replay rows; else the model's].")] = None,
        epochs: Annotated[Optional[int], typer.Option("--epochs", help="head/full: epochs [the model's: 100 / 30].")] = None,
        lr: Annotated[Optional[float], typer.Option("--lr", help="head/full: Adam learning rate [the model's: 1e-2 / 3e-3].")] = None,
        new_weight: Annotated[Optional[float], typer.Option("--new-weight", help="How many replay classes a new class's clips weigh (they are repeated to that size) [krr 2, head/full 1].")] = None,
        seed: Seed = 0,
        freeze_old: Annotated[bool, typer.Option("--freeze-old/--train-all", help="head: when a class is added, train only its output column (old logits kept) or the whole head.")] = True,
        backend: Backend = None,
        threads: Threads = 1,
        as_json: AsJson = False,
    ) -> None:
        """Personalise a device model on the device: add a word or adapt to a voice, replaying distilled data against forgetting."""
        from edgedistill.device.artifacts import read_meta
        from edgedistill.device.learn import learn as run_learn

        mode = read_meta(model).extra.get("mode")
        given = {"reg": reg, "epochs": epochs, "lr": lr, "seed": seed}
        allowed = {"krr": ("reg",), "head": ("epochs", "lr", "seed"), "full": ("epochs", "lr", "seed")}.get(mode, ())
        wrong = sorted(k for k, v in given.items() if v is not None and k not in allowed and k != "seed")
        if wrong:
            raise ValueError(f"--{wrong[0]} does not apply to a {mode} model (it takes {', '.join('--' + a for a in allowed) or 'none'})")
        options = {k: v for k, v in given.items() if v is not None and k in allowed}
        path, summary = run_learn(model, new, out, replay=replay, replay_ppc=replay_ppc, step=step, options=options,
                                  freeze_old=freeze_old, new_weight=new_weight, eval_data=eval_data, eval_split=eval_split, backend=backend, threads=threads,
                                  log=lambda m: log.print(m, highlight=False))
        emit(summary, as_json, title=f"Device learning ({summary['mode']}) -> {path}")
