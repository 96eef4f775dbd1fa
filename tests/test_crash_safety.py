"""Crash safety of every long command: `kill -9` at a seeded random moment, rerun (with --resume
when the killed run left a checkpoint), and the result equals an uninterrupted run's (arrays and
metrics; timings aside) with no temporary file left beside it.

Each command runs as a real subprocess (`python -m edgedistill.cli.main ...`) on the toy data.
The kill time is drawn uniformly from 40-95 % of the uninterrupted run's wall time (seeded per
command), so it lands during the work, not only during imports; the test passes whichever stage
it hits. `LONG` is the catalogue: adding a long command is one entry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

# command -> (argument template, checkpoint name beside OUT or None, resume flag or None)
# placeholders: {FEAT} toy feature set, {CORESET} a coreset, {NETS} its exported random-feature nets,
# {AUDIO} a folder of class sub-folders of WAVs, {OUT} the output.
TINY_MODEL = ["--model-arg", "width=4", "--threads", "1"]
LONG: dict[str, tuple[list[str], str | None, str | None]] = {
    "data prepare": (["data", "prepare", "folder", "{AUDIO}", "--out", "{OUT}"], None, None),
    "distill rfad": (["distill", "rfad", "{FEAT}", "--out", "{OUT}", "--steps", "16", "--ipc", "2", "--n-nets", "2",
                      "--batch-size", "32", "--checkpoint-every", "4", "--eval-every", "1000", "--threads", "1", "-q"],
                     "{OUT}.ckpt.npz", "--resume"),
    "distill gan": (["distill", "gan", "{FEAT}", "--out", "{OUT}", "--steps", "12", "--width", "8", "--batch-size", "16",
                     "--lambda-sml", "0", "--lambda-div", "0", "--checkpoint-every", "2", "--threads", "1", "-q"], "{OUT}.ckpt", "--resume"),
    "train": (["train", "{FEAT}", "--out", "{OUT}", "--epochs", "4", "--min-steps", "0", "--batch-size", "16", *TINY_MODEL],
              "{OUT}.ckpt.safetensors", "--resume"),
    "compare": (["compare", "{FEAT}", "--out", "{OUT}", "--coreset", "{CORESET}", "--strategies", "entropy",
                 "--budgets", "30%,20%", "--ipc", "1", "--seeds", "1", "--epochs", "2", "--min-steps", "0", *TINY_MODEL],
                None, None),  # an existing report folder is resumed by running the same command again
    "device train": (["device", "train", "krr", "{NETS}", "--data", "{FEAT}", "--data-split", "train", "--out", "{OUT}"],
                     None, None),
}
# JSON keys that record when or how fast, not what: left out of the comparison
VOLATILE = ("seconds", "created", "git_commit", "time", "elapsed", "per_s", "_ms", "trained_from", "graph_source",
            "source", "root", "out", "path", "checkpoint")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, toy_featureset, toy_features_dir):
    from edgedistill.cli.main import main
    from tests.conftest import toy_waveforms

    root = tmp_path_factory.mktemp("crash-inputs")
    coreset = root / "coreset"
    for args in (["distill", "rfad", str(toy_features_dir), "--out", str(coreset), "--steps", "2", "--ipc", "1",
                  "--n-nets", "2", "--batch-size", "16", "--threads", "1", "-q"],
                 ["export", "run", str(coreset), "--out", str(root / "nets"), "--target", "onnx"]):
        try:
            main(args)
        except SystemExit as done:
            assert done.code in (0, None), args
    waves, y, _ = toy_waveforms(n_classes=3, per_class=10)
    for i, (samples, label) in enumerate(zip(waves, y)):
        folder = root / "audio" / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        with wave.open(str(folder / f"{i}.wav"), "wb") as handle:
            handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
            handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return {"FEAT": toy_features_dir, "CORESET": coreset, "NETS": root / "nets", "AUDIO": root / "audio"}


def command_line(name: str, inputs: dict, out: Path) -> list[str]:
    template, _, _ = LONG[name]
    values = {**{k: str(v) for k, v in inputs.items()}, "OUT": str(out)}
    return [sys.executable, "-m", "edgedistill.cli.main", *[part.format(**values) for part in template]]


def run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return time.perf_counter() - start


def fingerprint(path: Path) -> dict:
    """What a result holds: every array (npy, npz, safetensors), JSON without timings, other bytes (crc)."""
    found = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        key = str(file.relative_to(path))
        if file.suffix == ".npy":
            found[key] = np.load(file, allow_pickle=False)
        elif file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as data:
                found.update({f"{key}:{k}": data[k] for k in data.files})
        elif file.suffix == ".safetensors":
            from safetensors.numpy import load_file

            found.update({f"{key}:{k}": v for k, v in load_file(str(file)).items()})
        elif file.suffix == ".json":
            found[key] = _stable(json.loads(file.read_text()))
        elif file.suffix in (".onnx", ".csv"):
            found[key] = zlib.crc32(file.read_bytes())
        # plots and rendered reports (.png, .md) restate the JSON
    return found


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if not any(word in k for word in VOLATILE)}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def assert_same(a: dict, b: dict, name: str) -> None:
    assert sorted(a) == sorted(b), (name, sorted(set(a) ^ set(b)))
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")
        else:
            assert a[key] == b[key], (name, key, a[key], b[key])


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("name", list(LONG))
def test_kill_9_then_rerun_equals_an_uninterrupted_run(name, inputs, tmp_path):
    _, checkpoint_name, resume = LONG[name]
    reference = tmp_path / "reference" / "out"
    reference.parent.mkdir()
    wall = run(command_line(name, inputs, reference), tmp_path)

    killed = tmp_path / "killed" / "out"
    killed.parent.mkdir()
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    delay = float(rng.uniform(0.4, 0.95)) * wall
    proc = subprocess.Popen(command_line(name, inputs, killed), cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    args = command_line(name, inputs, killed)
    checkpoint = Path(checkpoint_name.format(OUT=killed)) if checkpoint_name else None
    if proc.returncode == 0 or (killed / "meta.json").is_file():
        pass  # it finished (the artifact is whole: meta.json is written last) before the kill: nothing to rerun
    elif checkpoint is not None and checkpoint.exists():
        run([*args, resume], tmp_path)
    else:
        run(args, tmp_path)
    assert_same(fingerprint(reference), fingerprint(killed), name)
    assert leftovers(killed.parent, {"out"}) == [], f"{name}: temporary files left after the rerun"
    assert leftovers(reference.parent, {"out"}) == [], f"{name}: temporary files left after a clean run"


def test_remove_stale_removes_a_dead_process_temp_files_only(tmp_path):
    from edgedistill.artifacts import remove_stale

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = [f".out.features-{dead.pid}.npy", f".out.tmp-{dead.pid}-k2x_9a", f".out.features-{os.getpid()}.npy",
             f".out.tmp-{os.getpid()}-ab12", ".out.features-notapid.npy"]
    for name in names:
        (tmp_path / name).mkdir() if "tmp-" in name else (tmp_path / name).write_bytes(b"x")
    remove_stale(tmp_path, ".out.features-")
    remove_stale(tmp_path, ".out.tmp-")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


def test_two_processes_writing_one_out_one_wins_the_other_gets_one_line(inputs, tmp_path):
    out = tmp_path / "same out"
    args = command_line("device train", inputs, out)
    procs = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = sorted((proc.wait(timeout=300), proc.stderr.read()) for proc in procs)
    assert [code for code, _ in results] == [0, 2], results
    errors = [line for line in results[1][1].splitlines() if line.startswith("error:")]  # (progress lines aside)
    assert len(errors) == 1 and "Traceback" not in results[1][1] and "--out" in errors[0], results[1][1]
    assert (out / "meta.json").is_file() and leftovers(tmp_path, {"same out"}) == []


def test_a_writer_that_loses_the_race_discards_its_result(tmp_path):
    from edgedistill.artifacts import ArtifactError, Meta, write_artifact

    out = tmp_path / "art"
    meta = Meta(schema="edgedistill.selection", feature_config={}, feature_id="f", labels=["a"])

    def payload(tmp: Path) -> None:  # another process finishes first, while this one writes
        (tmp / "selection.npz").write_bytes(b"mine")
        out.mkdir()
        (out / "meta.json").write_text("{}")

    with pytest.raises(ArtifactError, match="written by another process"):
        write_artifact(out, meta, payload)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"] and (out / "meta.json").read_text() == "{}"
