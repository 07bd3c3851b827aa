"""`lvv run` and `lvv demo` print no traceback: an error logged inside the flow (a task that
failed, the publication lock still busy) reaches the terminal as its one message line, while
runs/prefect.log keeps the traceback. Found by two `lvv run`s at once, the second with
--lock-wait 0 (/work/tmp/debt21-repro/s3_concurrent.py): 25 lines of Python traceback above the
clean `error: another run is publishing ...`."""

from __future__ import annotations

import io
import logging

from prefect.logging.handlers import PrefectConsoleHandler

from lvv.cli import _tracebacks_to_the_log_only


def _busy(logger: logging.Logger) -> None:
    try:
        raise RuntimeError("another run is publishing to /srv/lvv/data/curated")
    except RuntimeError:
        logger.error("Encountered exception during execution", exc_info=True)


def test_the_terminal_gets_the_message_line_and_the_log_file_the_traceback():
    terminal, log = io.StringIO(), io.StringIO()
    logger = logging.getLogger("prefect.flow_runs.debt21")
    console, file = PrefectConsoleHandler(stream=terminal), logging.StreamHandler(log)
    logger.addHandler(file)        # the log file's handler first: it caches the traceback's text
    logger.addHandler(console)
    logger.propagate = False
    try:
        with _tracebacks_to_the_log_only(verbose=False):
            _busy(logger)
        assert "Encountered exception during execution" in terminal.getvalue()
        assert "Traceback" not in terminal.getvalue() and "RuntimeError" not in terminal.getvalue()
        assert "Traceback" in log.getvalue() and "another run is publishing" in log.getvalue()
        before = console.formatter
        with _tracebacks_to_the_log_only(verbose=True):  # -v: everything, as Prefect prints it
            _busy(logger)
        assert terminal.getvalue().count("Traceback") == 1 and console.formatter is before
    finally:
        logger.removeHandler(console)
        logger.removeHandler(file)
