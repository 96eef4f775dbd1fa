"""`edgedistill features`: the feature front-end's presets and extraction from WAV files.

Torch-free (the front-end is the device's numpy one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log

app = typer.Typer(help="Feature front-end: list presets, extract features from WAV files.", no_args_is_help=True)


@app.command("presets")
def presets(as_json: opt.Json = False) -> None:
    """List the named feature presets with their shapes and feature ids."""
    from edgedistill.features import PRESETS

    data = {name: {**cfg.to_dict(), "shape": list(cfg.shape), "feature_id": cfg.feature_id} for name, cfg in PRESETS.items()}
    rows = [(n, c.kind, c.sample_rate, c.clip_seconds, f"{c.shape[0]}x{c.shape[1]}", c.feature_id) for n, c in PRESETS.items()]
    emit(data, as_json, title="Feature presets", rows=rows,
         columns=("preset", "kind", "rate (Hz)", "clip (s)", "features x frames", "feature_id"))


@app.command("extract")
def extract(
    audio: Annotated[List[Path], typer.Argument(help="WAV files at the preset's sample rate.", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .npz (x: features, files: names).")],
    preset: Annotated[str, typer.Option(help="Feature preset (see `edgedistill features presets`).")] = "kws",
    as_json: opt.Json = False,
) -> None:
    """Extract features from WAV files into an .npz (no pickle) with the config's feature_id."""
    import json
    import os

    import numpy as np

    from edgedistill.device.audio import read_wav
    from edgedistill.features import extract_batch, get_preset

    from edgedistill.artifacts import check_output

    config = get_preset(preset)
    if out.suffix != ".npz":
        raise ValueError(f"--out {out}: must end in .npz")
    check_output(out)
    waves = [read_wav(path, expected_rate=config.sample_rate)[0] for path in audio]
    feats = extract_batch(waves, config)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}.npz")
    try:
        np.savez(tmp, x=feats, files=np.array([str(p) for p in audio]), config=np.array(json.dumps(config.to_dict())))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log.print(f"wrote {out}")
    emit({"n_files": len(audio), "shape": list(feats.shape), "feature_id": config.feature_id, "out": str(out)}, as_json)
