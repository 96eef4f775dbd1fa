"""The device runtime and the torch-free CLI work with torch blocked (sys.modules['torch'] = None)."""

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


def test_blocking_really_blocks():
    proc = run_blocked("import torch")
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr or "ImportError" in proc.stderr
