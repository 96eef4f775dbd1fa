"""`edgedistill models`: the classifier registry with parameters and multiply-accumulates for a
feature preset's input shape. torch is imported inside the command.
"""

from __future__ import annotations

from typing import Annotated

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit


def models(
    preset: Annotated[str, typer.Option(help="Feature preset whose (features, frames) shape sizes the models.")] = "kws",
    n_classes: Annotated[int, typer.Option("--classes", help="Number of classes of the classifier head.")] = 10,
    as_json: opt.Json = False,
) -> None:
    """List the models with their default sizes (parameters, MACs per clip)."""
    from edgedistill.features import get_preset
    from edgedistill.models import MODELS, build_model, describe_model

    shape = get_preset(preset).shape
    data = {name: describe_model(build_model(name, n_classes, shape), shape) for name in MODELS.names()}
    rows = [(name, f"{d['params']:,}", f"{d['macs'] / 1e6:.2f} M") for name, d in data.items()]
    emit({"preset": preset, "input_shape": list(shape), "n_classes": n_classes, "models": data}, as_json,
         title=f"Models for {preset} features {shape[0]}x{shape[1]}, {n_classes} classes", rows=rows,
         columns=("model", "parameters", "MACs"))
