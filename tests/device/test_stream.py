"""Streaming detection: the incremental front-end equals the full-window one, the detector finds
words at known positions of a generated stream, calibration writes thresholds, `device listen`."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from edgedistill.cli.main import app
from edgedistill.device.features import extract_batch, get_preset
from edgedistill.device.stream import Detector, DetectorConfig, StreamingFrontEnd, listen, pcm_chunks
from tests.device.conftest import write_wav

FEATURE_ATOL = 1e-4  # float32 features after CMVN; measured max diff 0.0 (same float64 ops per frame)
TIME_TOL_S = 0.2  # detected word centre vs the word energy centroid; toy training clips put words ~0.07 s before the clip centre, measured errors +0.10..+0.13 s
RATE = 16000
runner = CliRunner()


def test_incremental_front_end_equals_full_windows(rng):
    config = get_preset("kws")
    audio = (0.05 * rng.standard_normal(RATE * 4)).astype(np.float32)
    audio[20000:28000] += np.sin(np.arange(8000) * 0.2).astype(np.float32)
    front = StreamingFrontEnd(config, hop_samples=1600)
    starts, feats = [], []
    position = 0
    while position < len(audio):  # uneven chunk sizes
        size = int(rng.integers(100, 5000))
        s, f = front.push(audio[position : position + size])
        starts += s
        feats.append(f)
        position += size
    s, f = front.flush()
    starts += s
    feats.append(f)
    got = np.concatenate(feats)
    padded = np.pad(audio, (0, RATE))
    want = extract_batch([padded[s : s + RATE] for s in starts], config)
    assert starts == list(range(0, len(audio) - RATE + 1600 + 1, 1600))[: len(starts)] and starts[-1] + RATE >= len(audio)
    np.testing.assert_allclose(got, want, atol=FEATURE_ATOL)
    # each interior frame computed once: far fewer FFT frames than windows x frames
    assert front.frames_computed < 0.3 * len(starts) * config.n_frames
    with pytest.raises(ValueError, match="multiple of the feature hop"):
        StreamingFrontEnd(config, hop_samples=1000)


def test_detector_smoothing_threshold_refractory_and_fillers():
    labels = ["_silence_", "yes", "no"]
    config = DetectorConfig(hop_s=0.1, smooth_s=0.1, threshold=0.6, thresholds={"no": 0.9}, refractory_s=1.0)
    det = Detector(labels, config, sample_rate=10, clip_samples=10)
    p = lambda *v: np.array(v)  # noqa: E731
    trace = [p(1, 0, 0)] * 3 + [p(0, 0.7, 0.3)] * 3 + [p(1, 0, 0)] * 2  # "yes" from window 3 to 5
    trace += [p(0, 0.7, 0.3)] * 2 + [p(1, 0, 0)] * 15  # again 0.5 s later: inside the refractory period
    trace += [p(0, 0.2, 0.8)] * 3 + [p(1, 0, 0)] * 3  # "no" below its own threshold 0.9
    trace += [p(0, 0.05, 0.95)] * 3 + [p(0.9, 0.1, 0)] * 3  # "no" above it; silence is never reported
    events = [e for i, probs in enumerate(trace) for e in det.update(i, probs)] + det.finish()
    assert [e["label"] for e in events] == ["yes", "no"]
    assert events[0]["start_s"] == pytest.approx(0.4) and events[0]["score"] == pytest.approx(0.7)
    assert det.suppressed == 1
    with pytest.raises(ValueError, match="not among the model's classes"):
        Detector(labels, DetectorConfig(thresholds={"maybe": 0.5}), 10, 10)


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory, random_features_export):
    """A krr device model of the toy classes 0-2 plus `_silence_` (noise), trained without torch from WAV folders."""
    from edgedistill.device.train import train
    from tests.conftest import toy_waveforms

    waves, y, speakers = toy_waveforms()
    root = tmp_path_factory.mktemp("stream")
    data = root / "train"
    rng = np.random.default_rng(0)
    for c in range(3):
        (data / f"class{c}").mkdir(parents=True)
        for i in np.flatnonzero((y == c) & (speakers != "spk0")):
            write_wav(data / f"class{c}" / f"{i}.wav", waves[i], RATE)
    (data / "_silence_").mkdir()
    for i in range(20):  # noise, silence and half words: what lies between keywords
        noise = rng.normal(0, rng.uniform(0.005, 0.03), RATE).astype(np.float32)
        if i % 2:
            k = rng.choice(np.flatnonzero(speakers != "spk0"))
            cut = rng.integers(4000, 8000)
            noise[:cut] += waves[k][-cut:] if i % 4 == 1 else 0
        write_wav(data / "_silence_" / f"n{i}.wav", noise, RATE)
    path, _ = train("krr", random_features_export, data, root / "model")
    return path, waves[speakers == "spk0"], y[speakers == "spk0"]


def make_stream(waves, y, rng, classes=(0, 1, 2), gap=(1.5, 2.5), noise=0.01):
    """Noise with one test clip per class at known places: (audio, [(label, word centre s)])."""
    parts, truth, t = [rng.normal(0, noise, RATE).astype(np.float32)], [], 1.0
    for c in classes:
        clip = waves[np.flatnonzero(y == c)[0]]
        energy = clip.astype(np.float64) ** 2
        centroid = float((energy * np.arange(len(clip))).sum() / energy.sum()) / RATE
        truth.append((f"class{c}", t + centroid))
        pause = rng.normal(0, noise, int(rng.uniform(*gap) * RATE)).astype(np.float32)
        parts += [clip, pause]
        t += (len(clip) + len(pause)) / RATE
    return np.concatenate(parts), truth


def test_detection_times_on_a_generated_stream(stream_model, rng):
    from edgedistill.device.predictor import load_predictor

    path, waves, y = stream_model
    audio, truth = make_stream(waves, y, rng)
    predictor = load_predictor(path)
    summary = listen(predictor, (audio[i : i + 3000] for i in range(0, len(audio), 3000)), DetectorConfig(threshold=0.5))
    events = summary["events"]
    assert [e["label"] for e in events] == [label for label, _ in truth]
    errors = [((e["start_s"] + e["end_s"]) / 2 - centre) for e, (_, centre) in zip(events, truth)]
    assert max(map(abs, errors)) <= TIME_TOL_S, errors
    assert summary["windows"] == int(np.ceil((len(audio) - RATE) / 1600)) + 1  # the tail gets one zero-padded window


def test_listen_cli_wav_and_stdin(tmp_path, stream_model, rng):
    path, waves, y = stream_model
    audio, truth = make_stream(waves, y, rng, classes=(2, 0))
    wav = write_wav(tmp_path / "stream.wav", audio, RATE)
    result = runner.invoke(app, ["device", "listen", str(path), str(wav), "--threshold", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [d["label"] for d in lines[:-1]] == ["class2", "class0"] and lines[-1]["summary"]["detections"] == 2
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    piped = runner.invoke(app, ["device", "listen", str(path), "-", "--threshold", "0.5", "--json"], input=pcm)
    assert piped.exit_code == 0, piped.output
    assert [json.loads(line).get("label") for line in piped.stdout.strip().splitlines()[:-1]] == ["class2", "class0"]
    bad = runner.invoke(app, ["device", "listen", str(path), str(wav), "--hop", "0.105"])
    assert bad.exit_code != 0 and "multiple of the feature hop" in str(bad.exception)


def test_pcm_reader_keeps_split_samples():
    import io

    data = (np.arange(1000, dtype="<i2") * 7).tobytes()
    chunks = list(pcm_chunks(io.BytesIO(data), "s16le", chunk_samples=333))
    np.testing.assert_allclose(np.concatenate(chunks) * 32768, np.arange(1000) * 7)


def test_calibrate_writes_thresholds_listen_uses_them(tmp_path, stream_model, rng):
    import shutil

    path, waves, y = stream_model
    model = tmp_path / "model"
    shutil.copytree(path, model)
    background = tmp_path / "bg"
    background.mkdir()
    for i in range(3):
        write_wav(background / f"noise{i}.wav", rng.normal(0, 0.02, RATE * 10).astype(np.float32), RATE)
    positives = tmp_path / "pos"
    for c in range(3):
        (positives / f"class{c}").mkdir(parents=True)
        for i in np.flatnonzero(y == c)[:2]:
            write_wav(positives / f"class{c}" / f"{i}.wav", waves[i], RATE)
    result = runner.invoke(app, ["device", "calibrate", str(model), "--background", str(background), "--positives", str(positives),
                                 "--fa-per-hour", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["thresholds"]) == {"class0", "class1", "class2"}  # `_silence_` is never a keyword
    assert data["background_false_accepts"] == 0 and data["miss_rate"] <= 0.5
    stored = json.loads((model / "meta.json").read_text())["detector"]
    assert stored["thresholds"] == data["thresholds"] and stored["calibration"]["target_fa_per_hour"] == 1
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.stream import detector_config_from

    assert detector_config_from(load_predictor(model), {}).thresholds == data["thresholds"]
    missing = runner.invoke(app, ["device", "calibrate", str(model), "--background", str(tmp_path / "none")])
    assert missing.exit_code != 0 and "not a directory" in str(missing.exception)


def test_microphone_without_sounddevice_is_a_clear_error(stream_model, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sounddevice", None)
    path, _, _ = stream_model
    result = runner.invoke(app, ["device", "listen", str(path), "--seconds", "1"])
    assert result.exit_code != 0 and "sounddevice" in str(result.exception)
