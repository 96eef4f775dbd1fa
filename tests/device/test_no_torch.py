"""The device runtime and the torch-free CLI work with torch blocked (sys.modules['torch'] = None)."""

import json
import subprocess
import sys
import textwrap

BLOCK = "import sys; sys.modules['torch'] = None; sys.modules['librosa'] = None\n"


def run_blocked(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code), *args], capture_output=True, text=True)


def test_front_end_and_artifacts_run_without_torch():
    proc = run_blocked("""
        import numpy as np
        from edgedistill.device.features import extract, get_preset
        from edgedistill.device import artifacts, audio
        feats = extract(np.random.default_rng(0).standard_normal(16000).astype('float32'), get_preset('kws'))
        assert feats.shape == (40, 101)
        import importlib.util
        assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]
        print('ok')
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_cli_help_and_presets_without_torch():
    proc = run_blocked("""
        sys.argv = ['edgedistill', 'features', 'presets', '--json']
        from edgedistill.cli.main import main
        main()
    """)
    assert proc.returncode == 0, proc.stderr
    assert '"kws"' in proc.stdout


def run_cli_blocked(*args: str) -> subprocess.CompletedProcess:
    """`edgedistill ARGS` with torch blocked; the process fails if torch got imported anyway."""
    return run_blocked("""
        from edgedistill.cli.main import main
        sys.argv = ['edgedistill', *sys.argv[1:]]
        try:
            main()
        finally:
            assert sys.modules.get('torch') is None
    """, *args)


def test_blocking_really_blocks():
    proc = run_blocked("import torch")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr or "ImportError" in proc.stderr


DEVICE_MODULES = ("runtime", "predictor", "infer", "bench", "train", "krr", "head", "full", "sample", "trainset",
                  "devmodel", "metrics", "features", "artifacts", "audio", "stream", "calibrate", "learn")


def test_device_modules_import_nothing_from_the_host():
    proc = run_blocked(f"""
        import importlib
        for name in {DEVICE_MODULES!r}:
            importlib.import_module('edgedistill.device.' + name)
        host = sorted(m for m in sys.modules if m.startswith('edgedistill') and sys.modules[m] is not None
                      and not m.startswith('edgedistill.device') and m != 'edgedistill')
        heavy = [m for m in ('torch', 'librosa', 'scipy', 'onnx') if sys.modules.get(m) is not None]
        print(host, heavy)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] []"


def test_device_commands_run_with_torch_blocked(tmp_path, classifier_export, classifier_tflite, random_features_export,
                                                toy_coreset, generator_export, train_step_export, toy_features_dir, toy_test_wavs):
    paths, _, _ = toy_test_wavs
    commands = [
        ["device", "--help"],
        ["device", "infer", str(classifier_export), str(paths[0]), "--json"],
        ["device", "infer", str(classifier_tflite), str(paths[0]), "--json"],
        ["device", "bench", str(classifier_export), "--runs", "3", "--json"],
        ["device", "sample", str(generator_export), "--ppc", "2", "--out", str(tmp_path / "s.npz"), "--json"],
        ["device", "train", "krr", str(random_features_export), "--data", str(toy_coreset), "--out", str(tmp_path / "k"), "--json"],
        ["device", "train", "full", str(train_step_export), "--data", str(toy_features_dir), "--epochs", "1",
         "--out", str(tmp_path / "f"), "--json"],
        ["device", "infer", str(tmp_path / "f"), str(paths[0]), "--json"],
    ]
    for args in commands:
        proc = run_cli_blocked(*args)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
        if "--json" in args:
            json.loads(proc.stdout)


def test_listen_calibrate_learn_run_with_torch_blocked(tmp_path, random_features_export, classifier_export, classifier_tflite,
                                                      toy_featureset, toy_test_wavs):
    """Artifacts made on the host (torch), then the three streaming / learning commands in a torch-free process."""
    import numpy as np

    from edgedistill.device.trainset import save_samples
    from tests.device.conftest import write_wav

    paths, y, waves = toy_test_wavs
    train = toy_featureset.by_split("train")
    old = train.y < 3
    save_samples(tmp_path / "old.npz", train.x[old], train.y[old], train.labels[:3], train.config)
    new = tmp_path / "new" / "class3"
    new.mkdir(parents=True)
    for i in np.flatnonzero(y == 3)[:3]:
        write_wav(new / f"{i}.wav", waves[i], 16000)
    stream = write_wav(tmp_path / "stream.wav", np.concatenate([np.zeros(8000, np.float32), *waves[:3]]), 16000)
    background = tmp_path / "bg"
    background.mkdir()
    write_wav(background / "noise.wav", np.random.default_rng(0).normal(0, 0.01, 48000).astype(np.float32), 16000)
    model = tmp_path / "cnn"
    import shutil

    shutil.copytree(classifier_export, model)
    commands = [
        ["device", "train", "krr", str(random_features_export), "--data", str(tmp_path / "old.npz"), "--out", str(tmp_path / "k3"), "--json"],
        ["device", "learn", str(tmp_path / "k3"), str(tmp_path / "new"), "--replay", str(tmp_path / "old.npz"), "--replay-ppc", "5",
         "--out", str(tmp_path / "k4"), "--json"],
        ["device", "listen", str(tmp_path / "k4"), str(stream), "--json"],
        ["device", "calibrate", str(model), "--background", str(background), "--json"],
        ["device", "listen", str(model), str(stream), "--json"],
        ["device", "listen", str(model / "model.fp32.onnx"), str(stream), "--json"],
        ["device", "listen", str(classifier_tflite), str(stream), "--json"],
    ]
    for args in commands:
        proc = run_cli_blocked(*args)
        assert proc.returncode == 0, (args, proc.stderr[-2000:])
        lines = proc.stdout.strip().splitlines()
        json.loads(lines[-1])
    assert json.loads((tmp_path / "k4" / "meta.json").read_text())["labels"] == ["class0", "class1", "class2", "class3"]
    assert "thresholds" in json.loads((model / "meta.json").read_text())["detector"]
