"""`edgedistill inspect`: show any artifact's meta.json as a table. Torch-free."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgedistill.cli.output import emit


def inspect(
    artifact: Annotated[Path, typer.Argument(help="An artifact directory (features, coreset, generator, run, export).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Print what an artifact is, how it was made and its metrics."""
    from edgedistill.artifacts import read_meta

    meta = read_meta(artifact)
    emit(meta.to_dict(), as_json, title=f"{artifact} ({meta.schema} v{meta.schema_version})")
