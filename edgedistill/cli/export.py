"""`edgedistill export model|generator|random-features|bundle|formats`: write validated ONNX / TFLite (fp32, int8) files
with their metadata. torch, onnx and litert are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgedistill.cli.output import emit, log

app = typer.Typer(help="Export trained models and generators to ONNX / TFLite (fp32, int8), validated in the real runtimes.",
                  no_args_is_help=True)

FORMATS_HELP = "Comma-separated formats: onnx, tflite (see `edgedistill export formats`)."
TFLITE_INT8_HELP = "TFLite int8 kind: dynamic (int8 weights, float32 I/O) or static (full integer, int8 inputs/outputs)."
JSON_HELP = "Print one JSON object instead of a table."


@app.command("model")
def model(
    model_dir: Annotated[Path, typer.Option("--model", "-m", help="Model artifact directory (from `edgedistill train`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New export directory (never overwritten).")],
    formats: Annotated[str, typer.Option(help=FORMATS_HELP)] = "onnx,tflite",
    int8: Annotated[bool, typer.Option("--int8/--no-int8", help="Also write int8 files (needs --calibration).")] = False,
    calibration: Annotated[Optional[Path], typer.Option(help="Calibration data for int8: a coreset, generator or feature-cache "
                                                        "artifact with the model's features (the distilled data is the intended source).")] = None,
    calibration_max: Annotated[int, typer.Option(help="At most this many calibration examples (drawn with the model's seed).")] = 256,
    eval_data: Annotated[Optional[Path], typer.Option("--eval", help="Feature cache to validate on: accuracy of every file "
                                                      "on its --split (default: validate on the calibration data, or random inputs).")] = None,
    split: Annotated[str, typer.Option(help="Split of --eval to validate on.")] = "test",
    tflite_int8: Annotated[str, typer.Option(help=TFLITE_INT8_HELP)] = "dynamic",
    with_frontend: Annotated[bool, typer.Option("--with-frontend", help="Put the feature front-end in the graph: the files take "
                                                "raw audio (B, clip_samples) at the feature config's rate; validated against the "
                                                "numpy front-end on seeded noise clips. fp32 only.")] = False,
    min_int8_agreement: Annotated[float, typer.Option(help="Refuse an int8 file whose top-1 agrees with torch on fewer "
                                                      "validation examples than this fraction.")] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Export a trained classifier; every file is run in onnxruntime / LiteRT and compared with torch."""
    from edgedistill.export.api import export_model

    path = export_model(model_dir, out, formats=formats, int8=int8, calibration=calibration, eval_data=eval_data,
                        eval_split=split, calibration_max=calibration_max, tflite_int8=tflite_int8,
                        min_int8_agreement=min_int8_agreement, with_frontend=with_frontend, progress=_progress)
    _report(path, as_json)


@app.command("generator")
def generator(
    generator_dir: Annotated[Path, typer.Option("--generator", "-g", help="Generator artifact directory (from `edgedistill distill gan`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New export directory (never overwritten).")],
    formats: Annotated[str, typer.Option(help=FORMATS_HELP)] = "onnx,tflite",
    int8: Annotated[bool, typer.Option("--int8/--no-int8", help="Also write int8 files, calibrated on the generator's own "
                                       "latent/one-hot inputs.")] = False,
    samples: Annotated[int, typer.Option(help="Latent samples used for calibration and validation.")] = 64,
    tflite_int8: Annotated[str, typer.Option(help=TFLITE_INT8_HELP)] = "dynamic",
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Export a GAN generator: inputs z (B, z_dim) and label_onehot (B, C), output features (B, F, T)."""
    from edgedistill.export.api import export_generator

    path = export_generator(generator_dir, out, formats=formats, int8=int8, calibration_samples=samples,
                            tflite_int8=tflite_int8, progress=_progress)
    _report(path, as_json)


@app.command("random-features")
def random_features(
    coreset: Annotated[Path, typer.Option("--coreset", "-c", help="RFAD coreset artifact (from `edgedistill distill rfad`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New export directory (never overwritten).")],
    formats: Annotated[str, typer.Option(help=FORMATS_HELP)] = "onnx,tflite",
    int8: Annotated[bool, typer.Option("--int8/--no-int8", help="Also write int8 files, calibrated on the coreset.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the random nets (default: the coreset's seed).")] = None,
    tflite_int8: Annotated[str, typer.Option(help=TFLITE_INT8_HELP)] = "dynamic",
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Export an RFAD coreset's random-feature nets (features (B, F, T) -> phi (B, D)) for the device krr mode."""
    from edgedistill.export.api import export_coreset_nets

    path = export_coreset_nets(coreset, out, formats=formats, int8=int8, seed=seed, tflite_int8=tflite_int8, progress=_progress)
    _report(path, as_json)


@app.command("formats")
def formats_(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
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
def bundle(
    run: Annotated[Path, typer.Argument(help="A model artifact trained on a coreset (from `edgedistill train --coreset`) or a quickstart run folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New bundle folder (never overwritten).")],
    coreset: Annotated[Optional[Path], typer.Option(help="Coreset to ship (default: the one the model was trained on).")] = None,
    formats: Annotated[str, typer.Option(help="onnx (ORT files are always converted from it) and optionally tflite.")] = "onnx,tflite",
    int8: Annotated[bool, typer.Option("--int8/--no-int8", help="Also int8 feature classifiers, calibrated on the coreset.")] = True,
    epochs: Annotated[int, typer.Option(help="Epochs of the on-device training loop the bundle describes.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Batch size of that loop.")] = 32,
    lr: Annotated[float, typer.Option(help="Adam learning rate of that loop.")] = 3e-3,
    seed: Annotated[int, typer.Option(help="Seed of the initial weights and the reference shuffling order.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Write a device bundle an Android app (or any ONNX Runtime / LiteRT user) ships: models in ONNX, ORT format
    and TFLite, train-step graph, coreset arrays and bundle.json describing all of it."""
    from edgedistill.export.bundle import BundleConfig, read_bundle, write_bundle

    config = BundleConfig(formats=tuple(f.strip() for f in formats.split(",") if f.strip()), int8=int8, epochs=epochs,
                          batch_size=batch_size, lr=lr, seed=seed)
    path = write_bundle(run, out, coreset=coreset, config=config, progress=_progress)
    files = read_bundle(path)["files"]
    rows = [[name, entry["size_bytes"]] for name, entry in files.items()]
    log.print(f"wrote {path}")
    emit({"out": str(path), "files": files}, as_json, title=f"bundle {path.name}", rows=rows, columns=("file", "size_bytes"))
