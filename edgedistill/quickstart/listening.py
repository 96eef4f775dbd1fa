"""Quickstart stage `listen`: the exported model detects keywords in a stream, as on a device.

A stream is generated with known answers: every keyword spoken `listen_repeats` times by the
test split's speakers (voices the model never trained on), placed at known times, 1.5-2.5 s
apart, in coloured noise whose colour and level change every 5 s, at 10-30 dB SNR (as the
training clips). It is written to OUT/listen/stream.wav with the word positions in
OUT/listen/truth.json. Before listening, the thresholds are calibrated as `edgedistill device
calibrate` does, on three minutes of other generated noise (OUT/listen/background), and stored
in the exported classifier's meta.json; so `edgedistill device listen
OUT/export/classifier/model.fp32.onnx OUT/listen/stream.wav` shows the same detections. The stage
runs that command's code (`edgedistill.device.stream`: onnxruntime, the numpy front-end) and
scores it: a word is found when a detection of its label is centred within MATCH_S of the word's
centre; every other detection is a false accept: on a word (another keyword's label, or a second
detection) or in noise.

Synthesis runs in a fresh process (`synth.render_fresh`); the rest is numpy + onnxruntime.
Must not import torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.artifacts import write_json_atomic
from edgedistill.quickstart.config import Run

MATCH_S = 0.5  # a detection this close to a word's centre, with its label, finds the word
GAP_S = (1.5, 2.5)  # silence between two words
LEAD_S = 1.5  # noise before the first word and after the last
SNR_DB = (10.0, 30.0)  # the training clips' range (synth.synthesize's default)
SEGMENT_S = 5.0  # the noise changes colour and level this often
BACKGROUND_S = 180.0  # noise the thresholds are calibrated on
FA_PER_HOUR = 1.0  # calibration target (on three minutes of noise: no false accept there at all)
HOP_S = 0.1  # seconds between windows, `device listen`'s default


def listen(run: Run) -> dict[str, Any]:
    """Calibrate on background noise, then stream the generated audio through `device listen`'s
    detector; hits, misses, false accepts, timing."""
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.stream import detector_config_from, listen as run_listen, wav_chunks

    model = Path(run.results["export"]["classifier_dir"]) / "model.fp32.onnx"
    rate = load_predictor(model, "onnxruntime", threads=1).feature_config.sample_rate
    stream, truth_file = run.path("listen", "stream.wav"), run.path("listen", "truth.json")
    if not truth_file.exists():  # written last: its presence means the stream is complete
        write_stream(run, stream, truth_file, rate)
    truth = json.loads(truth_file.read_text())["words"]
    calibration = calibrate(run, model, rate)
    predictor = load_predictor(model, "onnxruntime", threads=1)  # with the thresholds now in its meta.json
    config = detector_config_from(predictor, {"hop_s": HOP_S})
    summary = run_listen(predictor, wav_chunks(stream, rate), config)
    score = score_detections(summary["events"], truth)
    run.say(f"listen: {score['hits']}/{len(truth)} words found, {score['false_accepts']} false accepts in "
              f"{summary['duration_s']:.0f} s (real-time factor {summary['real_time_factor']})")
    return {"stream": str(stream), "model": str(model), "duration_s": summary["duration_s"], "words": len(truth), **score,
            "calibration": calibration, "detector": summary["detector"], "windows": summary["windows"],
            "real_time_factor": summary["real_time_factor"], "features_s": summary["features_s"], "model_s": summary["model_s"],
            "events": summary["events"]}


def calibrate(run: Run, model: Path, rate: int) -> dict[str, Any]:
    """`edgedistill device calibrate MODEL_DIR --background OUT/listen/background --fa-per-hour 1`:
    per-class thresholds from generated background noise (other noise than the stream's), written
    into the model's meta.json. The exported classifier knows no `_silence_` class, so its scores
    on noise reach 0.5 and a flat threshold cannot tell words from noise."""
    from edgedistill.data.synth import write_wav
    from edgedistill.device.calibrate import calibrate as run_calibrate, write_detector
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.stream import DetectorConfig

    background = run.path("listen", "background", "noise.wav")
    if not background.exists():
        rng = np.random.default_rng(run.seed("listen", 2))
        audio = background_noise(int(BACKGROUND_S * rate), rate, rng)
        background.parent.mkdir(parents=True, exist_ok=True)
        tmp = background.with_name(f".{background.name}.tmp")
        write_wav(tmp, audio, rate)
        tmp.replace(background)
    predictor = load_predictor(model, "onnxruntime", threads=1)
    result = run_calibrate(predictor, background.parent, None, FA_PER_HOUR, DetectorConfig(hop_s=HOP_S))
    settings = {**result.pop("detector").to_dict(), "calibration": {k: v for k, v in result.items() if k != "thresholds"}}
    write_detector(model.parent, settings)
    return result


def write_stream(run: Run, stream: Path, truth_file: Path, rate: int) -> None:
    """Synthesise the words, place them in noise, write the WAV then the truth (atomically)."""
    from edgedistill.data.synth import read_cast, render_fresh, write_wav

    c = run.config
    speakers = test_speakers(read_cast(run.path("audio")))
    rng = np.random.default_rng(run.seed("listen"))
    words = [w for _ in range(c.listen_repeats) for w in c.words]
    words = [words[i] for i in rng.permutation(len(words))]
    items = [(word, speakers[i % len(speakers)]) for i, word in enumerate(words)]
    run.say(f"listen: synthesising {len(items)} keywords spoken by {len(speakers)} unseen voices")
    speech = render_fresh(items, run.seed("listen", 1), bare=True, sample_rate=rate)
    starts, t = [], LEAD_S
    for clip in speech:
        starts.append(int(round(t * rate)))
        t += len(clip) / rate + rng.uniform(*GAP_S)
    total = int(round((t - GAP_S[0] + LEAD_S) * rate))
    noise = background_noise(total, rate, rng)
    audio, truth = noise.copy(), []
    for (word, speaker), clip, start in zip(items, speech, starts):
        snr = float(rng.uniform(*SNR_DB))
        under = np.sqrt(np.mean(noise[start : start + len(clip)] ** 2))
        audio[start : start + len(clip)] += clip * (under * 10 ** (snr / 20) / max(np.sqrt(np.mean(clip.astype(np.float64) ** 2)), 1e-9))
        truth.append({"word": word, "speaker": speaker.name, "voice": speaker.voice, "start_s": round(start / rate, 3),
                      "end_s": round((start + len(clip)) / rate, 3), "snr_db": round(snr, 1)})
    audio /= max(1.0, float(np.abs(audio).max()) / 0.99)
    stream.parent.mkdir(parents=True, exist_ok=True)
    tmp = stream.with_name(f".{stream.name}.tmp")
    write_wav(tmp, audio, rate)
    tmp.replace(stream)
    write_json_atomic(truth_file, {"sample_rate": rate, "snr_db": list(SNR_DB), "words": truth})


def background_noise(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of coloured noise whose colour and level (RMS 0.003-0.03) change every SEGMENT_S."""
    from edgedistill.data.synth import coloured_noise

    segment = int(SEGMENT_S * rate)
    parts = [_unit_rms(coloured_noise(segment, rng)) * 10 ** rng.uniform(-2.5, -1.5) for _ in range(-(-n // segment))]
    return np.concatenate(parts)[:n].astype(np.float64)


def test_speakers(cast: dict) -> list:
    """The speakers of the test split (voices no model trained on), else the valid split's."""
    for split in ("test", "valid"):
        speakers = [speaker for speaker, where in cast.values() if where == split]
        if speakers:
            return speakers
    raise ValueError("the synthesised audio has no test or valid speakers to speak unseen words")


def score_detections(events: list[dict[str, Any]], truth: list[dict[str, Any]]) -> dict[str, Any]:
    """Hits, misses, false accepts and the timing error (detection centre - word centre, seconds)."""
    used, errors = set(), []
    for word in truth:
        centre = (word["start_s"] + word["end_s"]) / 2
        near = [(abs((e["start_s"] + e["end_s"]) / 2 - centre), j) for j, e in enumerate(events)
                if j not in used and e["label"] == word["word"] and abs((e["start_s"] + e["end_s"]) / 2 - centre) <= MATCH_S]
        if near:
            _, j = min(near)
            used.add(j)
            errors.append((events[j]["start_s"] + events[j]["end_s"]) / 2 - centre)
    misses = len(truth) - len(errors)
    absolute = np.abs(errors)
    centres = np.array([(w["start_s"] + w["end_s"]) / 2 for w in truth])
    wrong = [j for j, e in enumerate(events) if j not in used and len(centres)
             and np.abs(centres - (e["start_s"] + e["end_s"]) / 2).min() <= MATCH_S]
    return {"hits": len(errors), "misses": misses, "false_accepts": len(events) - len(used),
            "false_accepts_on_words": len(wrong), "false_accepts_in_noise": len(events) - len(used) - len(wrong),
            "hit_rate": len(errors) / len(truth) if truth else None,
            "timing_error_median_s": round(float(np.median(absolute)), 3) if errors else None,
            "timing_error_max_s": round(float(absolute.max()), 3) if errors else None,
            "timing_error_mean_signed_s": round(float(np.mean(errors)), 3) if errors else None}


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-12)
