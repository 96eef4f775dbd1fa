"""Labels are checked against arrays and model outputs where labelled data is read (trainset.check_labelled,
Predictor), and what used to pass silently now says so: one line naming the file, exit 2."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgedistill.cli.main import main
from edgedistill.device.artifacts import ArtifactError, Meta, check_features, describe_config_difference
from edgedistill.device.trainset import check_labelled, load_labelled


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def copy_with_meta(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    meta = json.loads((dst / "meta.json").read_text())
    meta.update(changes)
    (dst / "meta.json").write_text(json.dumps(meta))
    return dst


def test_export_whose_meta_names_2_classes_for_a_4_output_model(tmp_path, classifier_export, toy_test_wavs, capsys):
    bad = copy_with_meta(classifier_export, tmp_path / "two labels", labels=["class0", "class1"])
    paths, _, _ = toy_test_wavs
    code, _, err = run_cli(["device", "infer", bad, paths[0]], capsys)
    line = one_error_line(err)
    assert code == 2 and "shape [1, 4]" in line and "2 classes" in line and str(bad) in line


def test_krr_refuses_5_labels_for_24_features(tmp_path, random_features_export, toy_features_dir, capsys):
    data = tmp_path / "feat"
    shutil.copytree(toy_features_dir, data)
    n = len(np.load(data / "labels.npy"))
    np.save(data / "labels.npy", np.load(data / "labels.npy")[:5])
    code, _, err = run_cli(["device", "train", "krr", random_features_export, "--data", data, "--out", tmp_path / "m"], capsys)
    line = one_error_line(err)
    assert code == 2 and f"{n} feature rows" in line and "(5,)" in line and "labels.npy" in line
    assert not (tmp_path / "m").exists()


def test_krr_refuses_a_class_without_examples(tmp_path, random_features_export, toy_coreset, capsys):
    labels = json.loads((toy_coreset / "meta.json").read_text())["labels"]
    data = copy_with_meta(toy_coreset, tmp_path / "ghost", labels=[*labels, "ghost"])
    code, _, err = run_cli(["device", "train", "krr", random_features_export, "--data", data, "--out", tmp_path / "m"], capsys)
    line = one_error_line(err)
    assert code == 2 and "'ghost'" in line and "no training examples" in line and not (tmp_path / "m").exists()


def test_coreset_label_outside_its_classes_names_the_file(tmp_path, toy_coreset):
    data = tmp_path / "c"
    shutil.copytree(toy_coreset, data)
    with np.load(data / "coreset.npz") as arrays:
        x, y = arrays["x"], arrays["y"].copy()
    y[3] = 7
    np.savez(data / "coreset.npz", x=x, y=y)
    with pytest.raises(ArtifactError, match=r"coreset\.npz: label 7 is outside the 4 classes"):
        load_labelled(data)
    from edgedistill.methods.coreset import load_coreset

    with pytest.raises(ArtifactError, match=r"coreset\.npz: label 7 is outside"):
        load_coreset(data)


@pytest.mark.parametrize("where,row", [("x", 5), ("soft", None)])
def test_nan_names_the_file_and_row(where, row):
    x = np.zeros((8, 3, 4), dtype=np.float32)
    soft = np.zeros((8, 2))
    if where == "x":
        x[row, 1, 2] = np.nan
    else:
        soft[2, 1] = np.inf
    pattern = r"feats\.npy: features contain NaN or inf \(row 5\)" if where == "x" else r"c\.npz: learned labels y_soft contain NaN"
    with pytest.raises(ArtifactError, match=pattern):
        check_labelled("c.npz", x, np.zeros(8, dtype=int), ["a", "b"], soft, x_source="feats.npy")


def test_featureset_nan_is_refused_on_load_naming_features_npy(tmp_path, toy_features_dir):
    from edgedistill.data.featureset import FeatureSet

    data = tmp_path / "f"
    shutil.copytree(toy_features_dir, data)
    x = np.load(data / "features.npy")
    x[30, 2, 3] = np.nan
    np.save(data / "features.npy", x)
    with pytest.raises(ArtifactError, match=r"features\.npy: features contain NaN or inf \(row 30\)"):
        FeatureSet.load(data)


def test_short_clip_warns_naming_both_lengths():
    from edgedistill.device.features import get_preset
    from edgedistill.device.infer import ShortClipWarning, classify_waveform
    from edgedistill.device.predictor import Predictor

    config = get_preset("esc50")
    meta = Meta(schema="edgedistill.export", feature_config=config.to_dict(), feature_id=config.feature_id, labels=["a", "b"])
    predictor = Predictor(["a", "b"], config, lambda x: np.zeros((len(x), 2), dtype=np.float32), meta, Path("m"))
    one_second = np.zeros(config.sample_rate, dtype=np.float32)
    with pytest.warns(ShortClipWarning, match=rf"dog\.wav is 1\.00 s long but the model was trained on {config.clip_seconds:.2f} s clips"):
        result = classify_waveform(predictor, one_second, name="dog.wav")
    assert "1.00 s" in result["warning"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a full-length clip: no warning
        assert "warning" not in classify_waveform(predictor, np.zeros(config.clip_samples, dtype=np.float32))


def test_config_difference_never_says_no_differences():
    assert describe_config_difference({"n_mfcc": 40}, {"n_mfcc": 40}) == ""
    assert describe_config_difference({"n_mfcc": 40}, {"n_mfcc": 13, "hop": 160}) == "hop: (not set) vs 160, n_mfcc: 40 vs 13"

    class Config:
        feature_id = "feat-other"

        def to_dict(self):
            return {"n_mfcc": 40}

    meta = Meta(schema="edgedistill.coreset", feature_config={"n_mfcc": 40}, feature_id="feat-mine", labels=["a"])
    with pytest.raises(ArtifactError) as err:
        check_features(meta, Config(), source="art")
    assert "no differences" not in str(err.value) and "the same settings" in str(err.value)


def test_manifest_row_without_label_is_a_problem_not_a_class(tmp_path):
    from edgedistill.data.datasets import manifest as csv_manifest

    (tmp_path / "manifest.csv").write_text("path,label,split\na.wav,yes,train\nb.wav,,train\nc.wav,no,test\nd.wav,  ,valid\n")
    loaded = csv_manifest.load(tmp_path)
    assert loaded.labels == ["no", "yes"]
    assert [i.path for i in loaded.items] == ["a.wav", "c.wav"]
    assert [p for p, _ in loaded.problems] == ["b.wav", "d.wav"] and "no label" in loaded.problems[0][1]


def test_inspect_checks_the_payload(tmp_path, toy_coreset, toy_features_dir, capsys):
    code = None
    try:
        main(["inspect", str(toy_coreset), "--json"])
    except SystemExit as exit_info:
        code = exit_info.code
    data = json.loads(capsys.readouterr().out)
    assert code in (None, 0)
    assert data["payload_checked"][0].startswith("coreset.npz: x float32 [40, ")
    assert data["payload_checked"][-1] == "labels: 40 examples of 4 classes agree with the arrays"
    bad = tmp_path / "c"
    shutil.copytree(toy_coreset, bad)
    (bad / "coreset.npz").write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = run_cli(["inspect", bad], capsys)
    assert code == 2 and "coreset.npz: not an .npz archive" in one_error_line(err)
