"""Every command against a catalogue of bad inputs: each ends with exit 2 and one line that names
the file or field, no traceback, and nothing new on disk.

The catalogue is data. `COMMANDS` gives every registered command a valid argument list with
placeholders for its inputs ({FEAT}, {CORESET}, {MODEL}, {GEN}, {EXPORT}, {WAV}, {DIR}) and its
output ({OUT}); `BAD` holds, per kind of placeholder, the ways it can be wrong. A new command is
covered once it is registered: `test_every_registered_command_is_in_the_catalogue` fails until it
has an entry here. Adding a case is one line in `BAD`.
"""

from __future__ import annotations

import json
import pickle
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import typer.main

pytest.importorskip("torch")

from edgedistill.cli.main import app, main  # noqa: E402

# command -> argument template (inputs and outputs as placeholders)
COMMANDS: dict[str, list[str]] = {
    "quickstart": ["--out", "{OUT}", "--tiny"],
    "data synth": ["{OUT}", "--per-word", "2"],
    "data prepare": ["folder", "{DIR}", "--out", "{OUT}"],
    "data info": ["{FEAT}"],
    "features extract": ["{WAV}", "--out", "{NPZ}"],
    "inspect": ["{FEAT}"],
    "train": ["{FEAT}", "--out", "{OUT}", "--epochs", "1", "--min-steps", "0"],
    "crossval": ["{FEAT}", "--epochs", "1", "--min-steps", "0"],
    "evaluate": ["{MODEL}", "{FEAT}"],
    "distill rfad": ["{FEAT}", "--out", "{OUT}", "--steps", "1", "--ipc", "1"],
    "distill gan": ["{FEAT}", "--out", "{OUT}", "--steps", "1"],
    "krr-score": ["{CORESET}", "{FEAT}"],
    "sample": ["{GEN}", "--out", "{OUT}"],
    "select": ["{FEAT}", "--out", "{OUT}"],
    "compare": ["{FEAT}", "--out", "{OUT}", "--coreset", "{CORESET}"],
    "export run": ["{MODEL}", "--out", "{OUT}", "--target", "onnx"],
    "export bundle": ["{MODEL}", "--out", "{OUT}"],
    "device infer": ["{EXPORT}", "{WAV}"],
    "device bench": ["{EXPORT}"],
    "device train": ["krr", "{EXPORT}", "--data", "{CORESET}", "--out", "{OUT}"],
    "device sample": ["{EXPORT}", "--out", "{NPZ}"],
    "device build-step": ["--out", "{OUT}", "--features", "{FEAT}"],
    "device listen": ["{EXPORT}", "{WAV}"],
    "device calibrate": ["{EXPORT}", "--background", "{DIR}", "--dry-run"],
    "device learn": ["{DEVMODEL}", "{DIR}", "--out", "{OUT}"],
}
# commands that read no user path (nothing to corrupt); `data download` resumes into an existing ROOT
# and is tested against a local HTTP server in tests/data/test_download.py
NO_PATH_INPUT = {"data list", "features presets", "models", "export formats", "data download"}

# placeholder kind -> [(case name, function(tmp, valid) -> bad path)]
DIRECTORY_INPUT = ["FEAT", "CORESET", "MODEL", "GEN", "EXPORT", "DEVMODEL"]


def _garbage_file(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.write_bytes(b"\x00\x13not what you think\xff" * 7)
    return path


def _empty_dir(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.mkdir()
    return path


def _garbage_meta(tmp: Path, name: str) -> Path:
    path = _empty_dir(tmp, name)
    (path / "meta.json").write_text("{not json")
    return path


def _future_schema(tmp: Path, name: str, valid: Path) -> Path:
    path = _empty_dir(tmp, name)
    meta = json.loads((valid / "meta.json").read_text())
    meta["schema_version"] = 99
    (path / "meta.json").write_text(json.dumps(meta))
    for item in valid.iterdir():
        if item.is_file() and item.name != "meta.json":
            (path / item.name).write_bytes(item.read_bytes())
    return path


def _truncated_wav(tmp: Path, name: str, valid: Path) -> Path:
    path = tmp / name
    path.write_bytes(valid.read_bytes()[:1000])
    return path


# the payload file each artifact kind is read from (tampered with by the "payload" cases)
PAYLOAD = {"FEAT": "features.npy", "CORESET": "coreset.npz", "MODEL": "model.safetensors",
           "GEN": "generator.safetensors", "EXPORT": "model.fp32.onnx", "DEVMODEL": "params.npz"}


def _copy(tmp: Path, name: str, valid: Path) -> Path:
    path = tmp / name
    shutil.copytree(valid, path)
    return path


def _tampered(tmp: Path, valid: Path, name: str, change) -> Path:
    """A copy of the valid artifact whose payload `change(payload path)` rewrites (or deletes)."""
    path = _copy(tmp, name, valid)
    payload = path / next(p for p in PAYLOAD.values() if (path / p).is_file())
    change(payload)
    return path


def _pickled(payload: Path) -> None:
    if payload.suffix in (".npy", ".npz"):  # numpy's own pickle: an object array
        with open(payload, "wb") as handle:
            np.save(handle, np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    else:
        payload.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))


def _arrays(tmp: Path, valid: Path, name: str, change) -> Path:
    """A copy of a coreset or feature set whose (x, y) arrays `change(x, y) -> (x, y)` rewrites."""
    path = _copy(tmp, name, valid)
    if (path / "coreset.npz").is_file():
        with np.load(path / "coreset.npz") as data:
            arrays = dict(data)
        arrays["x"], arrays["y"] = change(arrays["x"].copy(), arrays["y"].copy())
        np.savez(path / "coreset.npz", **arrays)
    else:
        x, y = change(np.load(path / "features.npy").copy(), np.load(path / "labels.npy").copy())
        np.save(path / "features.npy", x), np.save(path / "labels.npy", y)
    return path


def _with_nan(x, y):
    x[len(x) // 2, 0, 0] = np.nan
    return x, y


def _label_7_of_4(x, y):
    y[0] = 7
    return x, y


BAD = {
    "dir": [
        ("missing, spaces and non-ASCII", lambda tmp, valid: tmp / "no such dír" / "ünïcode path"),
        ("a file where a directory belongs", lambda tmp, valid: _garbage_file(tmp, "file.bin")),
        ("an empty directory", lambda tmp, valid: _empty_dir(tmp, "empty")),
        ("garbage meta.json", lambda tmp, valid: _garbage_meta(tmp, "garbage")),
        ("a newer schema version", lambda tmp, valid: _future_schema(tmp, "future", valid)),
    ],
    "payload": [
        ("a missing payload", lambda tmp, valid: _tampered(tmp, valid, "no payload", lambda p: p.unlink())),
        ("a garbage payload", lambda tmp, valid: _tampered(tmp, valid, "garbage payload",
                                                           lambda p: p.write_bytes(b"\x93NUMPY garbage" * 9))),
        ("a pickled payload", lambda tmp, valid: _tampered(tmp, valid, "pickled payload", _pickled)),
    ],
    "labelled": [
        ("labels that do not match the arrays", lambda tmp, valid: _arrays(tmp, valid, "short labels", lambda x, y: (x, y[:5]))),
        ("label 7 for 4 classes", lambda tmp, valid: _arrays(tmp, valid, "label 7", _label_7_of_4)),
        ("NaN in the features", lambda tmp, valid: _arrays(tmp, valid, "nan", _with_nan)),
    ],
    "WAV": [
        ("missing", lambda tmp, valid: tmp / "nö such.wav"),
        ("a directory where a WAV belongs", lambda tmp, valid: _empty_dir(tmp, "dir.wav")),
        ("an empty file", lambda tmp, valid: _garbage_file(tmp, "empty.wav").write_bytes(b"") or tmp / "empty.wav"),
        ("garbage bytes", lambda tmp, valid: _garbage_file(tmp, "garbage.wav")),
        ("a truncated WAV", lambda tmp, valid: _truncated_wav(tmp, "truncated.wav", valid)),
    ],
    "OUT": [
        ("an existing artifact", lambda tmp, valid: valid),
        ("an existing foreign folder", lambda tmp, valid: _foreign(tmp)),
        ("a parent that is a file", lambda tmp, valid: _garbage_file(tmp, "plain-file") / "out"),
    ],
}


def _foreign(tmp: Path) -> Path:
    path = _empty_dir(tmp, "victim")
    (path / "thesis.txt").write_text("years of work")
    return path


def registered() -> set[str]:
    def walk(command, path=()):
        children = getattr(command, "commands", None)
        if not children:
            yield " ".join(path)
            return
        for name, child in children.items():
            yield from walk(child, (*path, name))

    return set(walk(typer.main.get_command(app)))


def test_every_registered_command_is_in_the_catalogue():
    missing = sorted(registered() - set(COMMANDS) - NO_PATH_INPUT)
    assert missing == [], f"add these commands to COMMANDS in {__file__}: {missing}"


@pytest.fixture(scope="module")
def valid(tmp_path_factory, toy_features_dir, toy_generator_dir):
    """One valid input of each kind (the toy feature set, a coreset, a model, an export, a WAV)."""
    from edgedistill.export.api import export_model
    from edgedistill.methods.coreset import Coreset, save_coreset
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.model_artifact import save_model
    from edgedistill.training import TrainConfig, train_model

    root = tmp_path_factory.mktemp("valid")
    feats = FeatureSet.load(toy_features_dir)
    train = feats.by_split("train")
    index = np.concatenate([np.flatnonzero(train.y == c)[:2] for c in range(feats.n_classes)])
    coreset = save_coreset(root / "coreset", Coreset(np.asarray(train.x[index]), train.y[index], feats.labels, feats.config),
                           {"name": "subset"}, 0, None, plot=False)
    trained = train_model("cnn4", train.x, train.y, feats.labels, TrainConfig(epochs=1, min_steps=0, threads=1),
                          model_kwargs={"width": 4}, progress=False)
    model = save_model(root / "model", trained, feats.config, seed=0, source_manifest_hash=feats.manifest_hash(),
                       metrics={}, extra={"training_data": {"source": "train split"}})
    export = export_model(model, root / "export", formats=("onnx",))
    wav = root / "clip.wav"
    with wave.open(str(wav), "wb") as handle:
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
        handle.writeframes((np.sin(np.arange(16000) * 0.05) * 8000).astype("<i2").tobytes())
    from edgedistill.export.api import export_coreset_nets
    from edgedistill.methods.distiller import DISTILLERS
    from edgedistill.methods.rfad import RFADConfig

    tiny = RFADConfig(ipc=2, steps=1, n_nets=1, width=4, n_features=16, batch_size=16, device="cpu", threads=1)
    DISTILLERS["rfad"].run(toy_features_dir, root / "rfad", tiny, None, resume=False, progress=False)
    nets = export_coreset_nets(root / "rfad", root / "nets", formats=("onnx",))
    main(["device", "train", "krr", str(nets), "--data", str(root / "rfad"), "--out", str(root / "devmodel")])
    audio_dir = root / "audio"
    for label in ("a", "b"):
        (audio_dir / label).mkdir(parents=True)
        (audio_dir / label / "x.wav").write_bytes(wav.read_bytes())
    return {"FEAT": toy_features_dir, "CORESET": coreset, "MODEL": model, "GEN": toy_generator_dir, "EXPORT": export,
            "WAV": wav, "DIR": audio_dir, "DEVMODEL": root / "devmodel", "NPZ": root / "new.npz", "OUT": coreset}


# (command, kind) pairs where the command reads only meta.json of that input (payload cases do not apply)
META_ONLY = {("device build-step", "FEAT"),
             ("device learn", "DEVMODEL")}  # a krr device model is refitted from its graph and the replay, not its params


def groups(kind: str, command: str = "") -> list[str]:
    """The BAD groups that apply to a placeholder kind (of `command`)."""
    if (command, kind) in META_ONLY:
        return ["dir"]
    if kind in ("FEAT", "CORESET"):
        return ["dir", "payload", "labelled"]
    return ["dir", "payload"] if kind in DIRECTORY_INPUT else [kind]


def catalogue(kind: str, command: str = "") -> dict:
    return {name: make for group in groups(kind, command) for name, make in BAD.get(group, [])}


def cases():
    for command, template in COMMANDS.items():
        kinds = {part.strip("{}") for part in template if part.startswith("{")}
        for kind in sorted(kinds):
            for name in catalogue(kind, command):
                yield pytest.param(command, kind, name, id=f"{command}-{kind}-{name}")


def snapshot(*roots: Path) -> set[str]:
    return {str(p) for root in roots for p in root.rglob("*")}


@pytest.mark.parametrize("command,kind,case", list(cases()))
def test_bad_input_is_one_line_exit_2(command, kind, case, valid, tmp_path, capsys):
    make = catalogue(kind, command)[case]
    bad = make(tmp_path, valid[kind])
    args = []
    for part in COMMANDS[command]:
        if part == "{" + kind + "}":
            args.append(str(bad))
        elif part == "{OUT}":
            args.append(str(tmp_path / "new out"))
        elif part.startswith("{"):
            args.append(str(valid[part.strip("{}")]))
        else:
            args.append(part)
    before = snapshot(tmp_path, valid["CORESET"].parent)
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, (command, case, err)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("rfad ", "gan ", "train "))]
    assert len(lines) == 1, (command, case, err)
    shown = lines[0]
    named = {str(bad), bad.name, str(bad.parent), "--out", kind.lower()}
    assert any(token in shown for token in named), (command, case, shown)
    assert snapshot(tmp_path, valid["CORESET"].parent) == before, (command, case, "left files behind")
