"""`lvv` through its real entry point, lvv.cli.main, without a new interpreter for each command.

main() is what the `lvv` script runs: it parses the arguments, runs the command and turns every
outcome into the exit code the shell sees (sys.exit). `lvv_here` calls it in this process, with
the arguments, environment, stdout and stderr of its own (typer.testing.CliRunner's isolation),
and returns that exit code: the same code path as a shell's `lvv ...`, without paying a Python
start-up and the imports again (Prefect's alone is several CPU seconds). `LvvChild` runs commands
the same way in one child process, fresh when the first starts, for tests that measure a command's
peak memory.

For tests whose subject is a command's answer. What is about the process itself (the exit code as
a shell sees it, signals, a server started and stopped with it, what a fresh interpreter imports)
stays a real `python -m lvv.cli` process in each test file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Done:
    """What a finished command left, named as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


def lvv_here(*args: str, env: dict[str, str | None] | None = None) -> Done:
    """`lvv *args` through lvv.cli.main in this process; env: variables to set (None: unset) for it.

    The output's width is $COLUMNS (of env, else of this process), else 80, as for a process whose
    output is not a terminal. Everything main() changes for the process is put back: the environment
    (`lvv run` sets Prefect's defaults in it), sys.argv, and the level and console of Prefect's
    console handlers (a run quiets them and prints them through its progress display)."""
    from rich.console import Console
    from typer.testing import CliRunner

    from flows.progress import console_handlers
    from lvv import cli

    saved_environ, saved_argv, saved_consoles = dict(os.environ), sys.argv, (cli.out, cli.err)
    handlers = {handler: (handler.level, handler.console) for handler in console_handlers()}
    code: int | str | None = 0
    try:
        with CliRunner().isolation(env=env) as (stdout, stderr, _):
            width = int(os.environ.get("COLUMNS", "") or 80)
            # consoles of this command's own, writing to the isolated streams as the module's would
            cli.out, cli.err = Console(width=width), Console(stderr=True, width=width)
            sys.argv = ["lvv", *args]
            try:
                cli.main()
            except SystemExit as stop:
                code = stop.code
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            out, err = stdout.getvalue().decode(), stderr.getvalue().decode()
    finally:
        cli.out, cli.err = saved_consoles
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_environ)
        for handler, (level, console) in handlers.items():
            handler.setLevel(level)
            handler.console = console
    if code is None:
        code = 0
    elif not isinstance(code, int):  # as the interpreter does with sys.exit("text")
        err, code = err + f"{code}\n", 1
    return Done(code, out, err)


#: seconds one command may take in the child before it is killed (the slowest takes well under a minute)
COMMAND_TIMEOUT = 600


class LvvChild:
    """One child process (`python -m tests._s1_cli`) that runs lvv commands one after another through
    lvv_here and answers each with its exit code, stdout, stderr, its own seconds and the child's peak
    memory so far (MB): the peak of a command in a fresh process is never above it."""

    def __init__(self, env: dict[str, str] | None = None):
        self.process = subprocess.Popen([sys.executable, "-m", "tests._s1_cli"], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        env={**os.environ, **(env or {})})

    def __call__(self, *args: str, env: dict[str, str | None] | None = None, timeout: float = COMMAND_TIMEOUT
                 ) -> dict:
        """The command's answer; a command still running after `timeout` seconds has its child killed
        (the test fails with RuntimeError instead of hanging its module; later calls fail at once)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"args": list(args), "env": env}) + "\n")
        self.process.stdin.flush()
        watchdog = threading.Timer(timeout, self.process.kill)
        watchdog.start()
        try:
            for line in self.process.stdout:
                if line.startswith(_ANSWER):  # anything else a library wrote to the descriptor is passed over
                    return json.loads(line[len(_ANSWER):])
        finally:
            watchdog.cancel()
        code = self.process.wait()
        raise RuntimeError(f"the lvv child process ended (exit {code}) while running {args}"
                           + (f": killed after {timeout:g} s without an answer" if code == -signal.SIGKILL else ""))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)


_ANSWER = "lvv-child-answer: "


def _serve() -> None:
    """The child's loop: one JSON request a line on stdin, one answer a line on stdout."""
    import time

    from benchmarks.measure import peak_rss_mb

    requests, answers = sys.stdin, sys.stdout  # lvv_here isolates the command from both
    for line in requests:
        request = json.loads(line)
        start = time.perf_counter()
        done = lvv_here(*request["args"], env=request["env"])
        seconds = time.perf_counter() - start
        answers.write(_ANSWER + json.dumps({
            "exit": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "seconds": seconds,
            "mb": peak_rss_mb()}) + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve()
