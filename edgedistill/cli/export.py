"""`edgedistill export RUN --target onnx,tflite[,bundle]`, `edgedistill export bundle RUN` (the bundle with its
training-loop settings) and `edgedistill export formats`.

What RUN is (a trained classifier, a generator, an RFAD coreset whose random-feature nets go to
the device) is read from its meta.json. Options are `ExportConfig`'s fields. torch, onnx and
litert are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log
from edgedistill.export.bundle import BundleConfig
from edgedistill.export.config import ExportConfig

RUN_COMMAND = "run"


class _RunByDefault(TyperGroup):
    """`export RUN ...` is `export run RUN ...`: a first word that is not a sub-command, or that names an artifact
    folder (one called `run` or `formats` included), is RUN."""

    def parse_args(self, ctx, args):
        if args and not args[0].startswith("-") and (args[0] not in self.commands or Path(args[0], "meta.json").is_file()):
            args = [RUN_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_RunByDefault, no_args_is_help=True,
                  help="Export a trained model, generator or coreset: `edgedistill export RUN --target onnx,tflite --out EXP` "
                       "(files validated in onnxruntime / LiteRT against torch); `edgedistill export formats` lists the targets.")


@app.command(RUN_COMMAND, help="Export RUN (the default sub-command: `edgedistill export RUN ...`).")
@opt.config_options(panel="Export settings", config=ExportConfig)
def export_run(
    run: Annotated[Path, typer.Argument(help="A model (`train`), generator (`distill gan`) or RFAD coreset (`distill rfad`) "
                                            "artifact; its kind is read from meta.json.", show_default=False)],
    out: opt.Out,
    calibration: Annotated[Optional[Path], typer.Option(help="Calibration data for a classifier's int8 files: a coreset, "
                                                        "generator or feature cache with the model's features (the "
                                                        "distilled data is the intended source).")] = None,
    eval_data: Annotated[Optional[Path], typer.Option("--eval", help="Feature cache to validate a classifier on: accuracy of "
                                                      "every file on its --split (default: the calibration data, or random "
                                                      "inputs).")] = None,
    net_seed: Annotated[Optional[int], typer.Option(help="Coreset: seed of the random nets (default: the coreset's seed).")] = None,
    as_json: opt.Json = False,
    config: Any = None,
) -> None:
    from edgedistill.export.api import export_artifact

    written = export_artifact(run, out, config, calibration=calibration, eval_data=eval_data, seed=net_seed,
                              progress=_progress)
    exports = dict.fromkeys(path for target, path in written.items() if target != "bundle")
    for path in exports:
        _report(path, as_json and "bundle" not in written)
    if "bundle" in written:
        _bundle_report(written["bundle"], as_json)


@app.command("formats")
def formats_(as_json: opt.Json = False) -> None:
    """List the export formats: runtime, fp32 tolerance, how int8 is made, dynamic batch."""
    from edgedistill.export.formats import describe

    columns = ("format", "suffix", "runtime", "fp32_atol", "int8", "dynamic_batch")
    rows = describe()
    emit({"formats": [dict(zip(columns, row)) for row in rows]}, as_json, title="export formats", rows=rows, columns=columns)


def _progress(message: str) -> None:
    log.print(f"[dim]{message}[/]", highlight=False)


def _report(path: Path, as_json: bool) -> None:
    from edgedistill.export.api import read_export

    meta = read_export(path)
    files: dict[str, Any] = meta.extra["files"]
    rows = []
    for name, entry in files.items():
        v = entry["validation"]
        rows.append([name, entry["size_bytes"], entry["batch"], entry.get("io_dtype", "float32"), v["max_abs_diff"],
                     v.get("top1_agreement", ""), v.get("accuracy", "")])
    summary = {"out": str(path), "feature_id": meta.feature_id, "labels": meta.labels,
               "validation_inputs": meta.extra.get("validation_inputs"),
               "files": {name: {"size_bytes": e["size_bytes"], "batch": e["batch"], **e["validation"]} for name, e in files.items()}}
    log.print(f"wrote {path} (validated on {meta.extra['validation_inputs']['n']} {meta.extra['validation_inputs']['source']} inputs)")
    emit(summary, as_json, title=f"export {path.name}", rows=rows,
         columns=("file", "size_bytes", "batch", "io", "max_abs_diff", "top1_agreement", "accuracy"))


@app.command("bundle")
@opt.config_options(panel="Bundle settings", config=BundleConfig)
def bundle(
    run: Annotated[Path, typer.Argument(help="A model artifact trained on a coreset (from `edgedistill train --coreset`) or "
                                            "a quickstart run folder.", show_default=False)],
    out: opt.Out,
    coreset: Annotated[Optional[Path], typer.Option(help="Coreset to ship (default: the one the model was trained on).")] = None,
    seed: opt.Seed = 0,
    as_json: opt.Json = False,
    config: Any = None,
) -> None:
    """Write a device bundle an Android app (or any ONNX Runtime / LiteRT user) ships: models in ONNX, ORT format
    and TFLite, train-step graph, coreset arrays and bundle.json describing all of it."""
    _write_bundle(run, out, coreset, config, as_json)


def _write_bundle(run: Path, out: Path, coreset: Optional[Path], config, as_json: bool) -> None:
    from edgedistill.export.bundle import write_bundle

    _bundle_report(write_bundle(run, out, coreset=coreset, config=config, progress=_progress), as_json)


def _bundle_report(path: Path, as_json: bool) -> None:
    from edgedistill.export.bundle import read_bundle

    files = read_bundle(path)["files"]
    rows = [[name, entry["size_bytes"]] for name, entry in files.items()]
    log.print(f"wrote {path}")
    emit({"out": str(path), "files": files}, as_json, title=f"bundle {path.name}", rows=rows, columns=("file", "size_bytes"))
