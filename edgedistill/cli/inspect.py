"""`edgedistill inspect ART`: what an artifact is, how it was made, its key metrics and files, in
under 30 lines; `--full` prints every meta.json field, `--json` the whole meta.json. Torch-free.

It reads meta.json and checks the payload (`edgedistill.device.payload`): every file the schema
needs is there and readable by its header, no pickles, and a coreset's or feature set's labels
agree with its arrays; a problem ends with one line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit

MAX_METRICS = 10


def inspect(
    artifact: Annotated[Path, typer.Argument(help="An artifact directory (features, coreset, generator, model, export, selection).",
                                             show_default=False)],
    full: Annotated[bool, typer.Option("--full", help="Every meta.json field (history and arrays included).")] = False,
    as_json: opt.Json = False,
) -> None:
    """Print what an artifact is, how it was made, its metrics and files (payload files are checked)."""
    from edgedistill.artifacts import read_meta
    from edgedistill.device.payload import check_payload

    meta = read_meta(artifact)
    checked = check_payload(artifact, meta)
    title = f"{artifact} ({meta.schema} v{meta.schema_version})"
    if as_json or full:
        emit({**meta.to_dict(), "payload_checked": checked} if as_json else meta.to_dict(), as_json, title=title)
        return
    rows = summary_rows(Path(artifact), meta)
    rows.append(("payload", f"checked {len(checked)} item(s): " + "; ".join(checked[:3]) + (" ..." if len(checked) > 3 else "")))
    emit(meta.to_dict(), False, title=title, rows=rows)


def summary_rows(path: Path, meta) -> list[tuple[str, str]]:
    """At most ~25 rows: kind, provenance, method and its key settings, scalar metrics, files."""
    labels = list(meta.labels)
    rows = [("kind", meta.schema.split(".")[-1]),
            ("created", f"{meta.created} by edgedistill {meta.package_version} ({(meta.git_commit or '-')[:10]})"),
            ("features", f"{meta.feature_id} {meta.feature_config.get('kind', '')} "
                         f"{meta.feature_config.get('n_bands', meta.feature_config.get('n_mfcc', ''))}".strip()),
            ("classes", f"{len(labels)}: " + ", ".join(labels[:8]) + (" ..." if len(labels) > 8 else "")),
            ("seed", str(meta.seed))]
    method = meta.method or {}
    if method:
        config = method.get("config") or {}
        keys = [k for k in ("ipc", "steps", "arch", "lr", "init", "time_pool", "n_nets", "width") if k in config]
        rows.append(("method", f"{method.get('name', '?')} " + " ".join(f"{k}={config[k]}" for k in keys)))
    scalars = [(k, v) for k, v in (meta.metrics or {}).items() if isinstance(v, (int, float, str, bool)) or v is None]
    for key, value in scalars[:MAX_METRICS]:
        rows.append((key, f"{value:.4g}" if isinstance(value, float) else str(value)))
    if len(scalars) > MAX_METRICS:
        rows.append(("...", f"{len(scalars) - MAX_METRICS} more metrics (--full)"))
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name != "meta.json") if path.is_dir() else []
    rows.append(("files", ", ".join(f"{p.name} ({_size(p.stat().st_size)})" for p in files[:8])
                 + (f" and {len(files) - 8} more" if len(files) > 8 else "") or "-"))
    return rows


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


