"""The `edgedistill` command: one Typer sub-app per command group.

Heavy libraries (torch, librosa, onnx) are imported inside commands, so `edgedistill --help` and
every `edgedistill device` command work where torch is not installed. User errors (ValueError
and its subclasses: bad input, unknown names, artifact mismatches) print one red line and exit
with status 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from edgedistill import __version__
from edgedistill.cli import compare, data, device, distill, evaluate, export, features, inspect, models, quickstart, sample, select, train

app = typer.Typer(
    name="edgedistill",
    help="Distil a labelled audio dataset into a tiny coreset or a generator, train small keyword, "
    "sound and emotion classifiers from it, export them to ONNX/TFLite and run them on the device.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.add_typer(device.app, name="device")
app.command("quickstart")(quickstart.quickstart)
app.command("inspect")(inspect.inspect)
app.command("train")(train.train)
app.command("crossval")(train.crossval)
app.command("evaluate")(evaluate.evaluate)
app.command("models")(models.models)
app.add_typer(distill.app, name="distill")
app.command("krr-score")(distill.krr_score)
app.command("select")(select.select)
app.command("compare")(compare.compare)
app.command("sample")(sample.sample)
app.add_typer(export.app, name="export")


def _version(value: bool) -> None:
    if value:
        print(f"edgedistill {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """edgedistill: dataset distillation for on-device audio classifiers."""


def main() -> None:
    """Console entry point: run the app, turning user errors into one clear line on stderr."""
    try:
        app()
    except ValueError as err:  # bad input, unknown names, ArtifactError, AudioError
        from edgedistill.cli.output import log

        log.print(f"[bold red]error:[/] {err}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
