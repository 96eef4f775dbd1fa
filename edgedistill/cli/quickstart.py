"""`edgedistill quickstart`: the whole flow on keywords synthesised offline (no dataset needed).

Its settings are `QuickstartConfig`'s fields; `--tiny` starts from the smoke-run preset
(`QuickstartConfig.tiny`) and any option given on the command line still wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log
from edgedistill.quickstart.config import QuickstartConfig


@opt.config_options(panel="Quickstart settings", config=QuickstartConfig)
def quickstart(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder; rerunning on it continues an interrupted run.")] = Path("quickstart"),
    tiny: Annotated[bool, typer.Option("--tiny", help="Smoke run: 10 words x 30 clips, few steps and epochs "
                                                      "(see QuickstartConfig.tiny).")] = False,
    as_json: opt.Json = False,
    config: Any = None,
) -> None:
    """Synthesise keywords, distil an RFAD coreset, train cnn4 on it and compare with random and full
    data, export to ONNX/TFLite fp32/int8, train on the device from the coreset and benchmark latency.

    Writes OUT/report.md with plots; prints a summary table.
    """
    from edgedistill.quickstart import run_quickstart
    from edgedistill.quickstart.report import summary_rows

    if tiny:
        given = {name for name in config.to_dict() if name != "type"
                 and getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"}
        config = QuickstartConfig.tiny(**{k: getattr(config, k) for k in given})
    results = run_quickstart(out, config, progress=True)
    if not as_json:
        log.print(f"report: {out / 'report.md'}")
    emit(results, as_json, title=f"edgedistill quickstart ({out})", rows=summary_rows(results), columns=("what", "figure", "note"))
