"""The `edgedistill` command: one Typer sub-app per command group.

Heavy libraries (torch, librosa, onnx) are imported inside commands, so `edgedistill --help` and
every `edgedistill device` command work where torch is not installed. User errors (ValueError
and its subclasses: bad input, unknown names, artifact mismatches) print one red line and exit
with status 2, never a traceback.
"""

from __future__ import annotations

import sys
import warnings

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


HOST_MODULES = {"torch", "librosa", "soundfile", "soxr", "scipy", "matplotlib", "safetensors", "espeakng_loader"}
EXPORT_MODULES = {"onnx", "onnxscript", "litert_torch"}


def user_error(err: BaseException) -> str | None:
    """The one line a user sees for an error they can fix, or None for a bug (traceback kept)."""
    if isinstance(err, ModuleNotFoundError) and err.name:
        root = err.name.split(".")[0]
        extra = "host" if root in HOST_MODULES else "export" if root in EXPORT_MODULES else None
        if extra:
            return (f"this command needs {root!r}, which is not installed (the device extra alone has no host side): "
                    f"pip install \"edgedistill[{extra}]\" (or [all])")
        return None
    if isinstance(err, OSError) and (err.filename or isinstance(err, (PermissionError, IsADirectoryError,
                                                                       NotADirectoryError, FileNotFoundError))):
        where = f" {err.filename}" if err.filename else ""
        hint = {PermissionError: "choose a folder you can write to, or fix its permissions",
                IsADirectoryError: "give a file there, not a directory",
                NotADirectoryError: "give a directory there, not a file",
                FileNotFoundError: "check the path"}.get(type(err), "check the path and free disk space")
        return f"{err.strerror or type(err).__name__}:{where}: {hint}"
    if isinstance(err, ValueError):  # bad input, unknown names, ArtifactError, AudioError
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return None


def _is_usage_error(err: BaseException) -> bool:
    """A click usage error (typer may vendor its own click, so matched by shape, not class)."""
    return hasattr(err, "format_message") and isinstance(getattr(err, "exit_code", None), int)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings meant for the user (UserWarning and subclasses) as one yellow line; others as Python prints them."""
    if not issubclass(category, UserWarning) or issubclass(category, DeprecationWarning):
        return _default_showwarning(message, category, filename, lineno, file, line)
    from rich.markup import escape

    from edgedistill.progress import console

    console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False, markup=True, soft_wrap=True)


_default_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning user errors into one clear line on stderr (exit 2)."""
    shown, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        _run(argv)
    finally:
        warnings.showwarning = shown


def _run(argv: list[str] | None) -> None:
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except Exception as err:
        if _is_usage_error(err):  # unknown option, missing argument, a path that is not there: one line
            if type(err).__name__ != "NoArgsIsHelpError":  # (no arguments: the help was printed)
                from rich.markup import escape

                from edgedistill.progress import console

                command = err.ctx.command_path if getattr(err, "ctx", None) else "edgedistill"
                console.print(f"[bold red]error:[/] {escape(err.format_message())} (see `{command} --help`)",
                              highlight=False, markup=True, soft_wrap=True)
            sys.exit(err.exit_code)
        if not isinstance(err, (ValueError, OSError, ModuleNotFoundError)):
            raise
        message = user_error(err)
        if message is None:
            raise
        from edgedistill.progress import console

        from rich.markup import escape

        console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
