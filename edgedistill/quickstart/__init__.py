"""`run_quickstart`: the product's story end to end on keywords synthesised offline with espeak-ng.

synthesise -> features -> distill (one RFAD coreset per budget: 2, 5, 10 per class) -> train
(the learning curve: cnn4 on each coreset vs as many random real clips vs the full train split,
and an active-learning trajectory through the same budgets) -> export (the model trained on the
largest coreset: `--target onnx,tflite` fp32/int8 and the device bundle) -> device (train from the
coreset with onnxruntime only: `krr`, `full`) -> listen (the exported model detects keywords in a
generated stream) -> learn (the device model learns a new word from a new voice) -> bench
(latency) -> report (report.md, plots).

STAGES is the registry: one `Stage` per step, run in order. Each stage's figures are stored in
OUT/stages/NAME.json once it finishes; a rerun on the same OUT skips finished stages, and inside
an unfinished one reuses finished jobs and artifacts (RFAD and training continue from their
checkpoints), so an interrupted run continues where it stopped. A new step is one function
taking the `Run` and returning its figures, plus one line here. OUT/report.json gathers the
settings, every stage's figures, timings and the machine's load. Must not import torch at
module level.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgedistill.artifacts import check_run_folder, write_json_atomic
from edgedistill.quickstart import deploy, learn, listening, new_word, report
from edgedistill.quickstart.config import QuickstartConfig, Run

__all__ = ["QuickstartConfig", "run_quickstart", "STAGES", "Stage"]

REPORT_SCHEMA = "edgedistill.quickstart-report"


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    run: Callable[[Run], dict[str, Any]]


STAGES: tuple[Stage, ...] = (
    Stage("synthesise", "synthesise keywords with espeak-ng", learn.synthesise),
    Stage("features", "extract MFCC features (kws preset)", learn.features),
    Stage("distill", "distil one RFAD coreset per budget", learn.distill),
    Stage("train", "learning curve: coreset vs random vs full data, and active learning", learn.train),
    Stage("export", "export the chosen model (--target onnx,tflite fp32/int8) and the device bundle", deploy.export),
    Stage("device", "train on the device from the coreset (onnxruntime: krr, full)", deploy.device_train),
    Stage("listen", "listen: detect keywords in a generated stream on the device (onnxruntime)", listening.listen),
    Stage("learn", "learn a new word from a few clips of an unseen voice on the device (krr, coreset replay)", new_word.learn),
    Stage("bench", "benchmark latency of every exported file", deploy.bench),
    Stage("report", "write report.md and plots", report.write),
)


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
    run.results["config"] = _jsonable(config.to_dict())
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    started = time.perf_counter()
    reused = []
    for number, stage in enumerate(STAGES, 1):
        done = out / "stages" / f"{stage.name}.json"
        if done.exists():
            run.results[stage.name] = json.loads(done.read_text())
            if stage.name == "report":
                run.results["machine"] = run.results["report"].get("machine")
            reused.append(stage.name)
            if progress:
                log.print(f"[dim][{number}/{len(STAGES)}] {stage.title}: done earlier, reused[/]")
            continue
        if progress:
            log.rule(f"[bold][{number}/{len(STAGES)}] {stage.title}")
        begun, cpu = time.perf_counter(), _cpu_seconds()
        if stage.name == "report":
            run.results["machine"] = {**machine, "reused": reused}
        figures = stage.run(run)
        figures["seconds"] = round(time.perf_counter() - begun, 2)
        figures["cpu_seconds"] = round(_cpu_seconds() - cpu, 2)  # this process and its finished workers
        figures["load_average"] = [round(v, 2) for v in os.getloadavg()]  # what else ran: 1, 5, 15 min
        run.results[stage.name] = _jsonable(figures)
        done.parent.mkdir(exist_ok=True)
        write_json_atomic(done, run.results[stage.name])
    run.results["total_seconds"] = round(time.perf_counter() - started, 2)
    write_json_atomic(out / "report.json", {"schema": REPORT_SCHEMA, "version": 1, **run.results})
    return run.results


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have exited: a stage's
    work, which unlike its wall time hardly depends on what else the machine runs."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
