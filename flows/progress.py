"""Progress of a run's long steps, shown by whoever runs the flow in a terminal.

The flow calls `step` and `advance`; nothing happens unless a reporter was installed with `show`
(the `lvv` command line installs a Rich one). A flow run started by a worker shows its progress
in its logs only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Reporter(Protocol):
    def step(self, description: str, total: int | None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def done(self) -> None: ...


_reporter: Reporter | None = None


@contextmanager
def show(reporter: Reporter) -> Iterator[None]:
    """Send the progress of flows run inside this block to `reporter`."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        reporter.done()
        _reporter = previous


def step(description: str, total: int | None = None) -> None:
    """A new step begins (total: how many units it has, None when unknown)."""
    if _reporter is not None:
        _reporter.step(description, total)


def advance(amount: int = 1) -> None:
    """The current step finished `amount` units."""
    if _reporter is not None:
        _reporter.advance(amount)


class RichReporter:
    """One progress bar per step, on stderr, beneath the flow's log lines."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=False)
        self.task = None
        self.progress.start()

    def step(self, description: str, total: int | None) -> None:
        self._adopt_log_handlers()
        self._finish_current()
        self.task = self.progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, amount)

    def done(self) -> None:
        self._finish_current()
        self.progress.stop()

    def _adopt_log_handlers(self) -> None:
        """Print Prefect's console log lines through the progress display, above the bars."""
        import logging

        from prefect.logging.handlers import PrefectConsoleHandler

        loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]
        for logger in loggers:
            for handler in getattr(logger, "handlers", []):
                if isinstance(handler, PrefectConsoleHandler) and handler.console is not self.progress.console:
                    handler.console = self.progress.console

    def _finish_current(self) -> None:
        if self.task is not None:
            task = self.progress.tasks[self.task]
            self.progress.update(self.task, total=task.total or 1, completed=task.total or 1)
