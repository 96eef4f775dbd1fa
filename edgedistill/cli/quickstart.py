"""`edgedistill quickstart`: the whole flow on keywords synthesised offline (no dataset needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli.output import emit, log


def quickstart(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder; rerunning on it continues an interrupted run.")] = Path("quickstart"),
    words: Annotated[Optional[str], typer.Option(help="Comma-separated keywords to synthesise (default: yes,no,up,down,left,right,on,off,stop,go).")] = None,
    per_word: Annotated[Optional[int], typer.Option(help="Clips synthesised per keyword [default: 80].")] = None,
    ipc: Annotated[Optional[int], typer.Option(help="Coreset samples per class [default: 10].")] = None,
    steps: Annotated[Optional[int], typer.Option(help="RFAD optimisation steps [default: 150].")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="cnn4 training epochs per run [default: 30].")] = None,
    formats: Annotated[str, typer.Option(help="Export formats, comma-separated: onnx, tflite.")] = "onnx,tflite",
    seed: Annotated[int, typer.Option(help="Seed of every stage.")] = 0,
    tiny: Annotated[bool, typer.Option("--tiny", help="Four words, 40 clips each, few steps: a smoke run of a couple of minutes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print every stage's figures as one JSON object.")] = False,
) -> None:
    """Synthesise keywords, distil an RFAD coreset, train cnn4 on it and compare with random and full
    data, export to ONNX/TFLite fp32/int8, train on the device from the coreset and benchmark latency.

    Writes OUT/report.md with plots; prints a summary table.
    """
    from edgedistill.quickstart import QuickstartConfig, run_quickstart
    from edgedistill.quickstart.report import summary_rows

    changes = {k: v for k, v in {"per_word": per_word, "ipc": ipc, "rfad_steps": steps, "epochs": epochs}.items() if v is not None}
    if words:
        changes["words"] = tuple(w.strip() for w in words.split(",") if w.strip())
    changes["formats"] = tuple(f.strip() for f in formats.split(",") if f.strip())
    changes["seed"] = seed
    config = QuickstartConfig.tiny(**changes) if tiny else QuickstartConfig(**changes)
    results = run_quickstart(out, config, progress=True)
    if not as_json:
        log.print(f"report: {out / 'report.md'}")
    emit(results, as_json, title=f"edgedistill quickstart ({out})", rows=summary_rows(results), columns=("what", "figure", "note"))
