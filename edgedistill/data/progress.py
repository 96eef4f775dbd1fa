"""Progress bars and messages on stderr for long data work (prepare, synth, download).

Both are no-ops when disabled, so library calls can run silently (progress=False).
Must not import torch.
"""

from __future__ import annotations


def say(enabled: bool, message: str) -> None:
    """Print one plain line on stderr when enabled."""
    if enabled:
        from edgedistill.cli.output import log

        log.print(message, highlight=False, markup=False)


class progress_bar:
    """`with progress_bar(enabled, total, description) as advance: advance(n)`: a rich bar on stderr."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self.enabled, self.total, self.description = enabled, total, description

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        from edgedistill.cli.output import log

        self.bar = Progress(console=log, transient=True)
        self.bar.start()
        task = self.bar.add_task(self.description, total=self.total or None)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()
