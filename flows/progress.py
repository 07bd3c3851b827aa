"""Progress of a run's long steps, shown by whoever runs the flow in a terminal.

The flow calls `step` and `advance`; nothing happens unless a reporter was installed with `show`
(the `lvv` command line installs a Rich one). A flow run started by a worker shows its progress
in its logs only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

#: Prefect's console handler, overridable from the environment (its logging.yml: handlers.console.level)
CONSOLE_LEVEL_ENV = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"
#: the log file of runs started from the command line, under data/curated/
LOG_FILE = "runs/prefect.log"


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


# --- where the logs go --------------------------------------------------------------------------

def quiet_console(verbose: bool = False) -> None:
    """Prefect's terminal handler shows warnings and errors only; every level with `verbose`.

    Call before Prefect is imported (its logging.yml reads the level from the environment, and a
    later incremental set-up, as the temporary server's, keeps it); handlers that already exist
    are set too. The flow's and tasks' log records still go to the Prefect API at every level.
    """
    level = "NOTSET" if verbose else "WARNING"
    os.environ[CONSOLE_LEVEL_ENV] = level
    for handler in console_handlers():
        handler.setLevel(level)


def console_handlers() -> list[logging.Handler]:
    """Prefect's console handlers that exist so far (none before Prefect is imported)."""
    import sys

    if "prefect" not in sys.modules:
        return []
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]
    return [handler for logger in loggers for handler in getattr(logger, "handlers", [])
            if isinstance(handler, PrefectConsoleHandler)]


@contextmanager
def log_file(curated_dir: Path) -> Iterator[Path]:
    """Append Prefect's log records (INFO and up: flow, tasks, server) to curated_dir/runs/prefect.log."""
    from prefect.logging.configuration import ensure_logging_setup

    ensure_logging_setup()  # Prefect's set-up first (later ones are incremental): it drops handlers added before
    path = curated_dir / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(_RunFormatter("%(asctime)s | %(levelname)-7s | %(run)s - %(message)s"))
    logger = logging.getLogger("prefect")
    logger.addHandler(handler)
    try:
        yield path
    finally:
        logger.removeHandler(handler)
        handler.close()


class _RunFormatter(logging.Formatter):
    """Names the flow or task run a record came from (Prefect adds the names to its run loggers)."""

    def format(self, record: logging.LogRecord) -> str:
        task, flow = getattr(record, "task_run_name", None), getattr(record, "flow_run_name", None)
        record.run = f"task run {task}" if task else f"flow run {flow}" if flow else record.name
        return super().format(record)
