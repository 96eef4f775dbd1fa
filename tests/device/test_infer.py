"""`infer`: WAV -> shared front-end -> labels; feature_id and sample-rate checks; sliding windows."""

import json
import shutil

import numpy as np
import pytest

from edgedistill.device.artifacts import ArtifactError
from edgedistill.device.audio import AudioError
from edgedistill.device.infer import classify_waveform, infer_files, windows
from edgedistill.device.predictor import load_predictor
from tests.device.conftest import write_wav

ACCURACY_FLOOR = 0.75  # toy test speaker, 4 classes (chance 0.25)


def test_infer_files_classifies_held_out_speaker(classifier_export, toy_test_wavs):
    paths, y, _ = toy_test_wavs
    results = infer_files(load_predictor(classifier_export), paths, top_k=2)
    assert len(results) == len(paths)
    top1 = np.array([int(r["top"][0]["label"].removeprefix("class")) for r in results])
    assert np.mean(top1 == y) >= ACCURACY_FLOOR
    for r in results:
        assert len(r["top"]) == 2 and r["top"][0]["prob"] >= r["top"][1]["prob"]
        assert 0.0 <= r["top"][1]["prob"] <= r["top"][0]["prob"] <= 1.0
        assert "detections" not in r  # one clip, no windows


def test_long_recording_gives_timed_detections(classifier_export, toy_test_wavs, tmp_path):
    _, y, waves = toy_test_wavs
    silence = np.zeros(8000, dtype=np.float32)
    recording = np.concatenate([waves[0], silence, waves[-1]])  # class y[0], 0.5 s gap, class y[-1]
    model = load_predictor(classifier_export)
    result = classify_waveform(model, recording, top_k=4, stride_s=0.25, threshold=0.0)
    assert result["windows"] == len(windows(len(recording), 16000, 4000)) == 7
    detections = result["detections"]
    assert detections[0]["start_s"] == 0.0 and detections[-1]["end_s"] == pytest.approx(2.5)
    assert detections[0]["label"] == f"class{y[0]}" and detections[-1]["label"] == f"class{y[-1]}"
    assert abs(sum(t["prob"] for t in result["top"]) - 1.0) < 1e-6


def test_windows_cover_the_tail():
    assert windows(100, 100, 50) == [0]
    assert windows(250, 100, 100) == [0, 100, 150]


def test_wrong_sample_rate_is_refused(classifier_export, toy_test_wavs, tmp_path):
    _, _, waves = toy_test_wavs
    path = write_wav(tmp_path / "8k.wav", waves[0][::2], 8000)
    with pytest.raises(AudioError, match="8000 Hz but the model expects 16000 Hz"):
        infer_files(load_predictor(classifier_export), [path])


def test_feature_id_mismatch_is_refused(classifier_export, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(classifier_export, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["feature_config"]["n_mfcc"] = 13  # a config this feature_id does not describe
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="feature_id"):
        load_predictor(copy)


def test_metadata_of_another_model_is_refused(classifier_export, tmp_path):
    from edgedistill.device.features import get_preset

    copy = tmp_path / "export"
    shutil.copytree(classifier_export, copy)
    meta = json.loads((copy / "meta.json").read_text())
    other = get_preset("esc50")  # (64, 251) features: not what the graph takes
    meta["feature_config"], meta["feature_id"] = other.to_dict(), other.feature_id
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="does not belong to this model"):
        load_predictor(copy)
