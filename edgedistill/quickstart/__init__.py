"""`run_quickstart`: the main job end to end on keywords synthesised offline with espeak-ng.

synthesise -> features -> distill (RFAD) -> train cnn4 on the coreset, on as many random real
clips and on the full train split -> export (ONNX/TFLite, fp32/int8) -> train on the device
from the coreset (`krr`, `full`) -> latency benchmark -> report.md with plots.

Each stage's figures are stored in OUT/stages/NAME.json once it finishes; a rerun on the same
OUT skips finished stages (and reuses finished artifacts inside an unfinished one), so an
interrupted run continues where it stopped. Must not import torch at module level.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from edgedistill.artifacts import check_run_folder, write_json_atomic
from edgedistill.quickstart import deploy, learn, report
from edgedistill.quickstart.config import QuickstartConfig, Run

__all__ = ["QuickstartConfig", "run_quickstart", "STAGES"]

STAGES: list[tuple[str, str, Callable[[Run], dict[str, Any]]]] = [
    ("synthesise", "synthesise keywords with espeak-ng", learn.synthesise),
    ("features", "extract MFCC features (kws preset)", learn.features),
    ("distill", "distil an RFAD coreset", learn.distill),
    ("train", "train the classifier: coreset vs random vs full data", learn.train),
    ("export", "export to ONNX and TFLite, fp32 and int8", deploy.export),
    ("device", "train on the device from the coreset (krr, full)", deploy.device_train),
    ("bench", "benchmark latency of every exported file", deploy.bench),
    ("report", "write report.md and plots", report.write),
]


def run_quickstart(out: str | Path, config: QuickstartConfig | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the quickstart in `out` and return every stage's figures."""
    from edgedistill.progress import console as log

    config = config or QuickstartConfig()
    out = Path(out)
    settings = out / "quickstart.json"
    check_run_folder(out, settings.name, "quickstart run")
    if settings.exists():
        previous = json.loads(settings.read_text())
        if previous != _jsonable(config.to_dict()):
            raise ValueError(f"{out} holds a quickstart run with other settings ({settings}); choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(settings, _jsonable(config.to_dict()))
    run = Run(out=out, config=config, progress=progress)
    started = time.perf_counter()
    for number, (name, title, stage) in enumerate(STAGES, 1):
        done = out / "stages" / f"{name}.json"
        if done.exists():
            run.results[name] = json.loads(done.read_text())
            if progress:
                log.print(f"[dim][{number}/{len(STAGES)}] {title}: done earlier, reused[/]")
            continue
        if progress:
            log.rule(f"[bold][{number}/{len(STAGES)}] {title}")
        begun = time.perf_counter()
        figures = stage(run)
        figures["seconds"] = round(time.perf_counter() - begun, 2)
        run.results[name] = _jsonable(figures)
        done.parent.mkdir(exist_ok=True)
        write_json_atomic(done, run.results[name])
    run.results["total_seconds"] = round(time.perf_counter() - started, 2)
    return run.results


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
