"""A quiet terminal: progress, a summary and the answer; Prefect's logs in the API and a file.

`make demo` is run as a user runs it (its real output, counted); the levels are checked on a tiny
flow run in this process, under the session's Prefect test harness.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from flows.progress import CONSOLE_LEVEL_ENV, log_file, quiet_console

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.flow
def test_make_demo_prints_fewer_than_40_lines_with_the_answer(tmp_path):
    # the user's shell: not inside the project's environment (pytest runs in it via `uv run`)
    venv_bin = str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", CONSOLE_LEVEL_ENV)}
    env.update(PATH=path, LVV_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(["make", "demo"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) < 40, "\n".join(lines)
    text = "\n".join(lines)
    assert "537" in text and "processing deliveries" in text and "published:" in text
    assert "Finished in state" not in text and "INFO" not in text
    log = (tmp_path / "data" / "curated" / "runs" / "prefect.log").read_text(encoding="utf-8")
    assert "Beginning flow run" in log and "Finished in state Completed()" in log
    assert "task run find-deliveries" in log


def test_prefect_info_goes_to_the_log_file_and_to_the_terminal_only_when_verbose(
        prefect_harness, tmp_path, monkeypatch):
    """What Prefect's console handlers print, read from a console of our own (the handlers made
    earlier in the session hold whatever stream was stderr then)."""
    import io

    from prefect import flow, get_run_logger
    from rich.console import Console

    from flows.progress import console_handlers

    @flow(name="quiet-terminal-probe")
    def probe() -> None:
        get_run_logger().info("probe: routine progress")
        get_run_logger().warning("probe: something to look at")

    def printed(verbose: bool, logs: Path | None = None) -> str:
        quiet_console(verbose)
        terminal = io.StringIO()
        for handler in console_handlers():
            monkeypatch.setattr(handler, "console", Console(file=terminal, width=200))
        if logs is None:
            probe()
        else:
            with log_file(logs):
                probe()
        return terminal.getvalue()

    monkeypatch.setenv(CONSOLE_LEVEL_ENV, "NOTSET")  # restored afterwards
    try:
        quiet = printed(False, tmp_path)
        loud = printed(True)
    finally:
        quiet_console(verbose=True)
    assert console_handlers(), "Prefect's console handler is set up"
    assert "probe: something to look at" in quiet and "probe: routine progress" not in quiet
    assert "probe: routine progress" in loud
    written = (tmp_path / "runs" / "prefect.log").read_text(encoding="utf-8")
    assert "INFO    | flow run" in written and "probe: routine progress" in written
    assert "WARNING | flow run" in written
