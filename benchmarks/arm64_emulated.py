"""The device side on 64-bit ARM Linux (Debian arm64 = Raspberry Pi OS's base), under qemu user
emulation on an x86-64 host, compared with the same commands on the host.

    python benchmarks/arm64_emulated.py all [--root /work/arm64-root] [--work /tmp/arm64-work]

Stages (each also a sub-command):
  rootfs   debootstrap a Debian bookworm arm64 userland (python3, venv, pip) from Debian's own
           packages; needs root, debootstrap and qemu-user-static with binfmt_misc (the F flag,
           so chroot runs aarch64 binaries). Skipped when ROOT/usr/bin/python3 exists.
  install  copy this checkout (git archive HEAD) to ROOT/src and `pip install /src[device] pytest`
           into ROOT/opt/ed inside the chroot: pip picks the aarch64 wheels (numpy, onnxruntime,
           ai-edge-litert); no torch.
  prepare  on the host (torch): toy feature set, coreset, WAVs, and exports: classifier (ONNX +
           TFLite), random-feature nets, train step, generator; and a device bundle.
  run      the device commands (infer onnx/tflite, bench, train krr/head/full, sample), the
           torch-free device tests and the bundle consumer, once on the host and once in the
           chroot (emulated), each writing its outputs under WORK/out-<arch>.
  compare  output differences x86-64 vs aarch64, with the emulated timings labelled as such,
           to benchmarks/results/arm64_emulated.md and .json.
Emulated timings measure qemu on this host, not a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
VENV = "/opt/ed"
TOL = {"probabilities": 1e-4, "params": 1e-3, "samples": 1e-4, "metrics": 1e-6, "consumer_params": 1e-4}
# device tests that need no torch fixtures (tests/device/conftest.py skips without torch)
DEVICE_TESTS = ["tests/device/test_features.py", "tests/device/test_audio.py"]


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def rootfs(root: Path) -> None:
    if (root / "usr/bin/python3").exists():
        print(f"{root}: arm64 userland present")
        return
    for tool in ("debootstrap", "qemu-aarch64-static"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install debootstrap qemu-user-static binfmt-support")
    sh(["nice", "-n", "10", "debootstrap", "--arch=arm64", "--variant=minbase",
        "--include=python3,python3-pip,python3-venv,ca-certificates", SUITE, root, MIRROR])


def chroot(root: Path, command: str, **kw) -> subprocess.CompletedProcess:
    env = {"PATH": f"{VENV}/bin:/usr/bin:/bin", "HOME": "/root", "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "OMP_NUM_THREADS": "1", "LANG": "C.UTF-8"}
    return sh(["nice", "-n", "10", shutil.which("chroot") or "/usr/sbin/chroot", root, "/bin/sh", "-c", command], env=env, **kw)


def install(root: Path) -> None:
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    if Path("/etc/ssl/certs/ca-certificates.crt").exists():  # the host's CA list (e.g. a registry proxy's CA)
        shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt")
    src = root / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    chroot(root, f"test -x {VENV}/bin/python || python3 -m venv {VENV}; {VENV}/bin/pip install -q '/src[device]' pytest")


def prepare(work: Path) -> None:
    """Host side (torch): the artifacts both architectures run on."""
    sys.path.insert(0, str(REPO / "tests"))
    import importlib.util

    import torch

    from edgedistill.export.api import export_generator_module, export_model, export_random_features
    from edgedistill.data.synth import write_wav
    from edgedistill.export.bundle import BundleConfig, write_bundle
    from edgedistill.export.train_step import TrainStepConfig, export_train_step
    from edgedistill.methods.coreset import Coreset, save_coreset
    from edgedistill.model_artifact import save_model
    from edgedistill.training import TrainConfig, train_model

    spec = importlib.util.spec_from_file_location("root_conftest", REPO / "tests/conftest.py")
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    art = work / "artifacts"
    if (art / "done").exists():
        return
    shutil.rmtree(art, ignore_errors=True)
    art.mkdir(parents=True)
    fs = conftest.make_toy_featureset()
    fs.save(art / "features")
    train = fs.by_split("train")
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(train.y == c), 6, replace=False) for c in range(fs.n_classes)])
    x, y = train.x[pick], train.y[pick]
    norm = {"mean": x.mean(axis=(0, 2)).tolist(), "std": (x.std(axis=(0, 2)) + 1e-6).tolist()}
    core = save_coreset(art / "coreset", Coreset(x=x, y=y, labels=fs.labels, config=fs.config), {"name": "subset"}, 0, None,
                        extra={"random_features": {"n_nets": 2, "width": 8, "depth": 2, "n_features": 64, "time_pool": True},
                               "rf_norm": norm})
    trained = train_model("cnn4", train.x, train.y, fs.labels,
                          TrainConfig(epochs=6, min_steps=0, batch_size=32, lr=3e-3, augment=False, device="cpu", threads=1, seed=0),
                          model_kwargs={"width": 8}, progress=False)
    model = save_model(art / "model", trained, fs.config, seed=0, source_manifest_hash=fs.manifest_hash(), metrics={},
                       extra={"training_data": {"source": "coreset", "coreset": str(core)}})
    export_model(model, art / "classifier", formats=["onnx", "tflite"], int8=False)
    from edgedistill.export.api import export_coreset_nets

    export_coreset_nets(core, art / "nets", formats=["onnx"])
    export_train_step(art / "step", fs.config.to_dict(), fs.config.feature_id, fs.labels, TrainStepConfig(hidden1=16, hidden2=16))

    class Gen(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(8 + fs.n_classes, fs.config.shape[0] * fs.config.shape[1])

        def forward(self, z, label_onehot):
            return self.lin(torch.cat([z, label_onehot], dim=1)).reshape(-1, *fs.config.shape)

    export_generator_module(Gen().eval(), 8, art / "generator", formats=["onnx"],
                            meta={"feature_config": fs.config, "labels": fs.labels, "class_prior": [0.25] * 4})
    waves, labels, _ = conftest.toy_waveforms(sample_rate=fs.config.sample_rate, seconds=fs.config.clip_seconds, seed=1)
    wav_dir = art / "wavs"
    wav_dir.mkdir()
    for i in range(0, len(waves), 12):
        write_wav(wav_dir / f"clip{i:03d}_class{labels[i]}.wav", waves[i], fs.config.sample_rate)
    pcm = np.clip(np.round(waves[::12] * 32768), -32768, 32767).astype("<i2")
    (art / "clips.pcm").write_bytes(pcm.tobytes())
    write_bundle(model, art / "bundle", config=BundleConfig(formats=("onnx",), epochs=5, batch_size=8, hidden1=16, hidden2=16))
    (art / "done").write_text("ok\n")


def run(work: Path, src: Path) -> None:
    """Device side (numpy + onnxruntime/LiteRT only; this interpreter's `edgedistill`): outputs under work/out-<arch>."""
    arch = platform.machine()
    art, out = work / "artifacts", work / f"out-{arch}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    exe = Path(sys.executable).parent / "edgedistill"
    wavs = sorted(str(p) for p in (art / "wavs").glob("*.wav"))
    timings: dict[str, float] = {}
    commands = {
        "infer_onnx": ["device", "infer", art / "classifier/model.fp32.onnx", *wavs, "--top-k", "4"],
        "infer_tflite": ["device", "infer", art / "classifier/model.fp32.tflite", *wavs, "--top-k", "4"],
        "bench_onnx": ["device", "bench", art / "classifier/model.fp32.onnx", "--warmup", "3", "--runs", "20"],
        "bench_tflite": ["device", "bench", art / "classifier/model.fp32.tflite", "--warmup", "3", "--runs", "20"],
        "train_krr": ["device", "train", "krr", art / "nets", "--data", art / "coreset", "--eval", art / "features",
                      "--eval-split", "test", "--out", out / "krr"],
        "train_head": ["device", "train", "head", art / "nets", "--data", art / "coreset", "--eval", art / "features",
                       "--eval-split", "test", "--epochs", "50", "--out", out / "head"],
        "train_full": ["device", "train", "full", art / "step", "--data", art / "coreset", "--eval", art / "features",
                       "--eval-split", "test", "--epochs", "10", "--batch-size", "8", "--out", out / "full"],
        "sample": ["device", "sample", art / "generator", "--ppc", "4", "--out", out / "samples.npz"],
        "infer_full": ["device", "infer", out / "full", *wavs, "--top-k", "4"],
    }
    results = {}
    for name, args in commands.items():
        start = time.perf_counter()
        done = subprocess.run([str(exe), *map(str, args), "--json"], capture_output=True, text=True)
        timings[name] = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{name} failed on {arch}: {done.stderr.strip()[-500:]}")
        results[name] = json.loads(done.stdout)
    # tests/device/conftest.py builds its graphs with torch (skips without it): run the torch-free
    # test files beside the root conftest only (its fixtures import the host package lazily)
    suite = out / "device_tests"
    suite.mkdir()
    shutil.copyfile(src / "tests/conftest.py", suite / "conftest.py")
    for test in DEVICE_TESTS:
        shutil.copyfile(src / test, suite / Path(test).name)
    start = time.perf_counter()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
                            "--rootdir", str(suite), str(suite)], cwd=suite, capture_output=True, text=True)
    timings["device_tests"] = time.perf_counter() - start
    results["device_tests"] = {"rc": tests.returncode, "summary": (tests.stdout.strip().splitlines() or [""])[-1]}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-I", str(src / "tests/export/bundle_consumer.py"), art / "bundle", art / "clips.pcm",
                    out / "consumer.json"], check=True)
    timings["bundle_consumer"] = time.perf_counter() - start
    info = {"arch": arch, "python": platform.python_version(), "numpy": np.__version__, "timings_s": timings}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    (out / "results.json").write_text(json.dumps({"info": info, "results": results}, indent=1, default=str))


def compare(work: Path, emulator: str) -> dict:
    host = json.loads((work / "out-x86_64/results.json").read_text())
    arm = json.loads((work / "out-aarch64/results.json").read_text())
    rows = []

    for name in ("infer_onnx", "infer_tflite", "infer_full"):
        a, b = _top(host["results"][name]), _top(arm["results"][name])
        rows.append((name, "top-k probabilities", float(np.max(np.abs(a - b))), TOL["probabilities"]))
    for mode in ("krr", "head", "full"):
        pa, pb = _params(work / "out-x86_64" / mode), _params(work / "out-aarch64" / mode)
        diff = max(float(np.max(np.abs(pa[k] - pb[k]))) for k in pa)
        rows.append((f"train_{mode}", "trained params", diff, TOL["params"]))
        acc = abs(host["results"][f"train_{mode}"]["accuracy"] - arm["results"][f"train_{mode}"]["accuracy"])
        rows.append((f"train_{mode}", "test accuracy", acc, TOL["metrics"]))
    with np.load(work / "out-x86_64/samples.npz") as a, np.load(work / "out-aarch64/samples.npz") as b:
        rows.append(("sample", "generated features", float(np.max(np.abs(a["x"] - b["x"]))), TOL["samples"]))
    ca = json.loads((work / "out-x86_64/consumer.json").read_text())
    cb = json.loads((work / "out-aarch64/consumer.json").read_text())
    rows.append(("bundle consumer", "trained params", float(np.max(np.abs(np.array(ca["training"]["params"]) -
                                                                        np.array(cb["training"]["params"])))), TOL["consumer_params"]))
    rows.append(("bundle consumer", "PCM logits", float(np.max(np.abs(np.array(ca["scores"]["logits"]) -
                                                                     np.array(cb["scores"]["logits"])))), TOL["probabilities"]))
    passed = all(diff <= tol for _, _, diff, tol in rows) and arm["results"]["device_tests"]["rc"] == 0
    report = {"passed": passed, "rows": rows, "host": host["info"], "arm": arm["info"], "emulator": emulator,
              "device_tests": {"x86_64": host["results"]["device_tests"], "aarch64": arm["results"]["device_tests"]},
              "bench_p50_ms": {arch: {k: r["results"][k]["p50_ms"] for k in ("bench_onnx", "bench_tflite")}
                           for arch, r in (("x86_64", host), ("aarch64 (emulated)", arm))}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "arm64_emulated.json").write_text(json.dumps(report, indent=1, default=str))
    (RESULTS / "arm64_emulated.md").write_text(_markdown(report))
    return report


def _top(res) -> np.ndarray:
    """Every file's probabilities, in label order (so a reordered tie cannot hide a difference)."""
    return np.array([[p["prob"] for p in sorted(entry["top"], key=lambda p: p["label"])] for entry in res["results"]])


def _params(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "params.npz") as data:
        return {k: data[k].astype(np.float64) for k in data.files}


def _markdown(report: dict) -> str:
    host, arm = report["host"], report["arm"]
    lines = ["# Device side on 64-bit ARM Linux, emulated (qemu user mode)", "",
             f"Host: x86-64, Python {host['python']}, numpy {host['numpy']}, onnxruntime {host.get('onnxruntime')}. "
             f"ARM: Debian {SUITE} arm64 userland (debootstrap), Python {arm['python']}, numpy {arm['numpy']}, "
             f"onnxruntime {arm.get('onnxruntime')} from pip's aarch64 wheels, run under {report['emulator']}.", "",
             "**ARM timings below are emulated (qemu on this x86-64 host), not Raspberry Pi figures.**", "",
             f"Result: {'PASS' if report['passed'] else 'FAIL'}", "",
             "| command | output compared | max abs diff x86-64 vs aarch64 | tolerance |", "|---|---|---|---|"]
    lines += [f"| {name} | {what} | {diff:.3g} | {tol:g} |" for name, what, diff, tol in report["rows"]]
    lines += ["", "Torch-free device tests (" + ", ".join(DEVICE_TESTS) + "): "
              f"x86-64 `{report['device_tests']['x86_64']['summary']}`; aarch64 `{report['device_tests']['aarch64']['summary']}`.", "",
              "`device bench` p50 latency, batch 1, one thread (ms): " + json.dumps(report["bench_p50_ms"]), "",
              "| step | x86-64 wall s | aarch64 wall s (emulated) |", "|---|---|---|"]
    lines += [f"| {k} | {host['timings_s'][k]:.2f} | {arm['timings_s'][k]:.2f} |" for k in host["timings_s"]]
    lines += ["", "Wall seconds include process start (Python imports); the machine's 2 cores were shared with other work.",
              "On aarch64 test_features.py is skipped as a module (it compares with librosa, which the device install "
              "lacks), so only test_audio.py's tests ran there. onnxruntime warns that cpuinfo cannot read "
              "/sys/devices/system/cpu in the chroot (/sys is not mounted); outputs are unaffected (diffs above).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["rootfs", "install", "prepare", "run", "run-arm", "compare", "all"])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("EDGEDISTILL_ARM64_ROOT", "/work/arm64-root")))
    parser.add_argument("--work", type=Path, default=Path("/tmp/arm64-work"))
    args = parser.parse_args()
    root, work = args.root.resolve(), args.work.resolve()
    if args.stage in ("rootfs", "all"):
        rootfs(root)
    if args.stage in ("install", "all"):
        install(root)
    if args.stage in ("prepare", "all"):
        prepare(work)
    if args.stage in ("run", "all"):
        run(work, REPO)
    if args.stage in ("run-arm", "all"):
        inside = root / "work"
        shutil.rmtree(inside, ignore_errors=True)
        shutil.copytree(work / "artifacts", inside / "artifacts", symlinks=True)
        chroot(root, f"cd /src && {VENV}/bin/python benchmarks/arm64_emulated.py run --work /work")
        shutil.rmtree(work / "out-aarch64", ignore_errors=True)
        shutil.copytree(inside / "out-aarch64", work / "out-aarch64")
    if args.stage in ("compare", "all"):
        qemu = shutil.which("qemu-aarch64-static")
        version = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[:1] if qemu else []
        report = compare(work, version[0] if version else "qemu-aarch64-static")
        print(json.dumps({"passed": report["passed"], "rows": report["rows"]}, indent=1))
        if not report["passed"]:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
