"""How commands report: a readable table on stdout, or exactly one JSON object with `--json`.

Progress and logs go to stderr through the library's one progress path (`edgedistill.progress`;
`log` is its console), so `--json` output can be piped into scripts. Must not import torch.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from edgedistill.progress import console as log

out = Console()


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN to None, paths to text."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def emit(data: dict[str, Any], as_json: bool, title: str = "", rows: Iterable[Iterable[Any]] | None = None,
         columns: Iterable[str] = ("field", "value")) -> None:
    """Print `data` as one JSON object (as_json) or a table of `rows` (default: data's items)."""
    if as_json:
        print(json.dumps(_plain(data), indent=None, sort_keys=False))
        return
    table = Table(title=title or None, show_header=True, header_style="bold")
    for column in columns:
        table.add_column(str(column))
    for row in rows if rows is not None else data.items():
        table.add_row(*[_format(v) for v in row])
    out.print(table)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(_plain(value))
    return str(value)
