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
    tiny: Annotated[bool, typer.Option("--tiny", help="Smoke run of every stage: 4 words x 16 clips, budgets 1,2, few steps, one seed "
                                                      "(see QuickstartConfig.tiny).")] = False,
    as_json: opt.Json = False,
    config: Any = None,
) -> None:
    """Synthesise keywords, distil RFAD coresets at 2, 5 and 10 per class, train cnn4 on each and
    compare with as many random real clips, active learning and the full data (a learning curve),
    export the chosen model (ONNX/TFLite fp32/int8 and the device bundle), train on the device from
    the coreset and benchmark latency.

    Writes OUT/report.md with plots and OUT/report.json; prints the summary tables.
    """
    from edgedistill.quickstart import run_quickstart
    from edgedistill.quickstart.report import curve_table, deploy_rows

    if tiny:
        given = {name for name in config.to_dict() if name != "type"
                 and getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"}
        config = QuickstartConfig.tiny(**{k: getattr(config, k) for k in given})
    results = run_quickstart(out, config, progress=True)
    if as_json:
        emit(results, True)
        return
    log.print(f"report: {out / 'report.md'} ({results['total_seconds']:.0f} s)")
    columns, rows = curve_table(results)
    emit(results, False, title=f"edgedistill quickstart ({out}): test accuracy", rows=rows, columns=columns)
    emit(results, False, title="export and device", rows=deploy_rows(results), columns=("what", "figure", "note"))
