"""The one progress and log path of the library: a rich bar on a terminal, plain lines in a log file.

Long loops (RFAD, GAN, training, data preparation, compare, quickstart) report through
`progress(total, name)`; messages go through `say(message)`. On a terminal the bar is a rich
progress bar on stderr. When stderr is not a terminal (a background run, a job scheduler, a CI
log) a plain line is written at a steady cadence (every `EDGEDISTILL_PROGRESS_EVERY` seconds,
default 10, plus the first and the last step): name, step/total, the loop's own fields (loss,
validation score), elapsed time and ETA. So a log file always shows where a run is.

The CLI renders nothing itself: it only imports `console` from here. Must not import torch or
`edgedistill.cli`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from rich.console import Console

console = Console(stderr=True)


def say(message: str, enabled: bool = True) -> None:
    """One plain line on stderr (no markup), when enabled."""
    if enabled:
        console.print(message, highlight=False, markup=False, soft_wrap=True)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class progress:
    """`with progress(total, "rfad", start=0) as bar: bar.update(step, loss=0.1, valid=0.5)`.

    `update(completed, **fields)` sets the position (absolute) and the fields shown after it;
    `advance(n, **fields)` moves it by n. Disabled (`enabled=False`) it does nothing.
    """

    def __init__(self, total: int | None, name: str, start: int = 0, enabled: bool = True,
                 every: float | None = None) -> None:
        self.total, self.name, self.enabled = total, name, enabled
        self.completed = start
        self.start_step = start
        self.fields: dict[str, Any] = {}
        self.every = every if every is not None else float(os.environ.get("EDGEDISTILL_PROGRESS_EVERY", "10"))
        self.plain = not console.is_terminal
        self._bar = None
        self._last_line = -1.0
        self._printed: int | None = None

    def __enter__(self) -> "progress":
        if not self.enabled:
            return self
        self.t0 = time.monotonic()
        if self.plain:
            self._line(force=True)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=console, transient=False)
            self._task = self._bar.add_task(self.name, total=self.total, completed=self.completed, info="")
            self._bar.start()
        return self

    def update(self, completed: int, **fields: Any) -> None:
        self.completed = completed
        self.fields.update(fields)
        if not self.enabled:
            return
        if self._bar is not None:
            info = "  ".join(f"{k} {_format(v)}" for k, v in self.fields.items())
            self._bar.update(self._task, completed=completed, info=info)
        else:
            self._line(force=self.total is not None and completed >= self.total)

    def advance(self, n: int = 1, **fields: Any) -> None:
        self.update(self.completed + n, **fields)

    def log(self, message: str) -> None:
        """A line printed above the bar (or in the log)."""
        if self.enabled:
            say(message)

    def _line(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_line < self.every:
            return
        self._last_line = now
        self._printed = self.completed
        elapsed = now - self.t0
        done = self.completed - self.start_step
        where = f"{self.completed}/{self.total}" if self.total else str(self.completed)
        parts = [self.name, where] + [f"{k} {_format(v)}" for k, v in self.fields.items()]
        parts.append(f"elapsed {_clock(elapsed)}")
        if self.total and done > 0 and self.completed < self.total:
            parts.append(f"eta {_clock(elapsed / done * (self.total - self.completed))}")
        print("  ".join(parts), file=sys.stderr, flush=True)

    def __exit__(self, *exc: Any) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
        elif self._printed != self.completed:
            self._line(force=True)
