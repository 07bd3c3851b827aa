"""The `lvv` command line. Commands that need no orchestration never import Prefect."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="LVV outflow monitor: municipal LVV registers to reproducible figures.")
out = Console()
err = Console(stderr=True)

DataDirOption = Annotated[Optional[Path], typer.Option(
    "--data-dir", help="data location (default: $LVV_DATA_DIR, else ./data)", show_default=False)]
VerboseOption = Annotated[bool, typer.Option(
    "--verbose", "-v", help="also print Prefect's flow and task logs (always in data/curated/runs/prefect.log)")]


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class UserError(Exception):
    """An error the user can act on: printed as one line, exit code 2 unless given."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


def _prefect_env() -> None:
    """lvv's defaults for Prefect's settings (a value set in the environment stays). Only what is
    set before Prefect is imported counts: Prefect reads its settings from the environment once."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    # the temporary server needs more than the default 20 s to start on a cold 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _refuse_before_prefect(data_dir: Path | None, rebuild: bool = False) -> None:
    """What `lvv run` and `lvv demo` refuse before they import Prefect (several CPU seconds, in
    _flow_output) or write anything (runs/prefect.log): no deliveries, real data without the secret
    key, a key other than the store's, a location it cannot write to."""
    from lvv.settings import DataPaths, check_key, has_deliveries, pseudonym_key

    paths = DataPaths.resolve(data_dir)
    if not has_deliveries(paths.raw):
        raise UserError(f"no deliveries under {paths.raw}: put each export in "
                        "raw/<municipality>/<YYYY-MM>/, or run `lvv demo`")
    key, _ = pseudonym_key(paths.raw)  # real data needs the secret key
    if not rebuild:
        check_key(paths, key)  # and the key the store was built with; no delivery is read before
    for folder in (paths.root, paths.curated, paths.staged):  # and a location it cannot write to
        if folder.exists() and not os.access(folder, os.W_OK):
            raise UserError(f"{folder}: {_FS_ADVICE['EROFS']}")


def _run_flow(data_dir: Path | None, reference_date: date | None = None, **options) -> dict:
    """The flow, once _refuse_before_prefect let it start (inside _flow_output)."""
    from lvv.settings import DataPaths

    paths = DataPaths.resolve(data_dir)
    _say_if_waiting(paths, options.get("lock_wait_seconds", 600))
    with _server_not_started_is_a_user_error():
        _temporary_server_dies_with_us()
        from flows.monthly_outflow import RunParameters, monthly_outflow

        params = RunParameters(data_dir=str(data_dir) if data_dir else None, reference_date=reference_date,
                               **options)
        return monthly_outflow(params)


#: how Prefect 3 (3.9) says that its temporary server did not answer within
#: PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: a RuntimeError with this text, from
#: SubprocessASGIServer.start, which lvv calls first (_temporary_server_dies_with_us) and Prefect's
#: get_client calls again at the flow's first API call; it has no exception class of its own
SERVER_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"


@contextmanager
def _server_not_started_is_a_user_error() -> Iterator[None]:
    """Prefect's temporary server not started in time becomes one line and exit 2 (a setting to
    change), not an "unexpected error" (exit 3); nothing has been read or written by then. Any
    other error passes as it is."""
    try:
        yield
    except RuntimeError as exc:
        if not str(exc).startswith(SERVER_TIMEOUT):
            raise
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        seconds = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()  # what Prefect waited
        raise UserError(f"Prefect's temporary server did not start within {seconds} s, so nothing was run: "
                        "on a busy machine set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher "
                        "(e.g. 300), or run `prefect server start` and set PREFECT_API_URL to its API "
                        "(e.g. http://127.0.0.1:4200/api)") from None


def _say_if_waiting(paths, wait_seconds: float) -> None:
    """At once, when another run holds the publication lock: who, since when, how long we wait."""
    from transforms.publish import lock_holder, waiting_message

    holder = lock_holder(paths.curated)
    if holder:
        err.print(f"[yellow]waiting:[/] {escape(waiting_message(holder, wait_seconds))}", soft_wrap=True)


def _temporary_server_dies_with_us() -> None:
    """Start Prefect's temporary server (when no PREFECT_API_URL is set) so that it ends with this
    process on every exit path: stopped at exit and on SIGTERM, and killed by the kernel
    (PR_SET_PDEATHSIG) when this process is killed outright, so no orphan server is left.

    Prefect 3 (3.9) has no setting or public API for the last part: its temporary server
    (SubprocessASGIServer, which the client uses when no PREFECT_API_URL is set) is stopped only by
    an atexit hook, which SIGKILL skips, and makes its process in `_run_uvicorn_command` with no way
    to pass a preexec_fn. Starting `prefect server start` ourselves would be public, but the client
    reads PREFECT_API_URL when Prefect is imported, before this runs (`_flow_output` imports it
    first), and costs the CLI's start-up besides. So `_tie_to_us` swaps the `subprocess` name in
    Prefect's server module while that method runs. Fail safe and loud: when that internal is gone
    the server starts untied and a warning says so (tests/test_cli_server_tie.py fails first)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    import signal

    from prefect.server.api import server as prefect_server

    def _terminated(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminated)
    instance = prefect_server.SubprocessASGIServer()
    if instance.running:
        return
    tied = _tie_to_us(prefect_server, instance)
    instance.start()
    if not tied():
        process = getattr(instance, "server_process", None)
        err.print(f"[yellow]warning:[/] this Prefect version starts its temporary server in a way lvv cannot tie "
                  f"to this process: if lvv is killed outright, stop the server (pid "
                  f"{getattr(process, 'pid', '?')}) by hand, or run a Prefect server and set PREFECT_API_URL",
                  soft_wrap=True)


def _tie_to_us(module, instance) -> Callable[[], bool]:
    """Have `instance` (a Prefect SubprocessASGIServer) start its process with this process's death
    signal, by giving `module` (Prefect's server module) a `subprocess` whose Popen adds it while
    `_run_uvicorn_command` runs; only that module's name is swapped, not subprocess.Popen for every
    thread. Returns whether the server's process was started so (False: the internal is gone)."""
    import subprocess

    run = getattr(type(instance), "_run_uvicorn_command", None)
    if run is None or getattr(module, "subprocess", None) is not subprocess:
        return lambda: False
    started = []

    class _Subprocess:
        def __getattr__(self, name: str):
            return getattr(subprocess, name)

        @staticmethod
        def Popen(*args, **kwargs):
            theirs = kwargs.pop("preexec_fn", None)

            def before_exec() -> None:
                _die_with_parent()
                if theirs is not None:
                    theirs()

            started.append(True)
            return subprocess.Popen(*args, preexec_fn=before_exec, **kwargs)

    def start_child():
        module.subprocess = _Subprocess()
        try:
            return run(instance)
        finally:
            module.subprocess = subprocess

    instance._run_uvicorn_command = start_child
    return lambda: bool(started)


def _die_with_parent() -> None:
    """In a child before it execs: the kernel sends it SIGTERM when its parent dies (Linux)."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@app.callback()
def _known_contracts_in_help(ctx: typer.Context) -> None:
    # Runs before the command's own options are parsed (so also before `lvv validate --help`).
    # Listing the known municipalities loads every source contract (a third of a second): only
    # validate, whose help shows them, pays for it, not every command's start-up.
    if ctx.invoked_subcommand != "validate":
        return
    command = ctx.command.get_command(ctx, "validate")
    for param in command.params if command else ():
        if param.name == "municipality" and param.help:
            param.help = param.help.replace("{known}", _known_municipalities())


@app.command()
def demo(data_dir: DataDirOption = None,
         seed: Annotated[int, typer.Option(help="seed of the synthetic history")] = 2020_11_01,
         verbose: VerboseOption = False) -> None:
    """Write the synthetic demo deliveries, run the monthly flow on them, print the outflow at 2020-11-01.

    Example: lvv demo
    """
    from lvv.demo import write_demo
    from lvv.settings import SEED_REFERENCE_DATE, DataPaths

    paths = DataPaths.resolve(data_dir)
    with out.status("writing the synthetic demo deliveries"):
        result = write_demo(paths.raw, seed=seed)
    out.print(f"[bold]demo[/]: {len(result.files)} synthetic deliveries under {paths.raw} "
              "(pseudonymised with the fixed demo key, which is not secret)")
    _refuse_before_prefect(paths.root)
    with _flow_output(paths.curated, verbose):
        summary = _run_flow(paths.root, SEED_REFERENCE_DATE)
    _print_summary(summary, paths.root)
    _print_outflow_comparison(paths.database, SEED_REFERENCE_DATE)


@app.command()
def run(data_dir: DataDirOption = None,
        reference_date: Annotated[Optional[str], typer.Option(
            "--reference-date", help="peildatum YYYY-MM-DD (default: last day of previous month)")] = None,
        accept_revisions: Annotated[bool, typer.Option(
            "--accept-revisions", help="publish although figures already published move beyond the tolerance")] = False,
        republish: Annotated[bool, typer.Option(
            "--republish", help="build and publish a new release from the store even when nothing changed")] = False,
        rebuild: Annotated[bool, typer.Option(
            "--rebuild", help="process every raw delivery again with the current key and code (key rotation; an upgrade that changes what processing stores)")] = False,
        lock_wait: Annotated[float, typer.Option(
            "--lock-wait", help="seconds to wait for a run that holds the lock")] = 600,
        verbose: VerboseOption = False) -> None:
    """Run the monthly flow over data/raw: only new or changed deliveries are processed.

    Exit 0 when the run finished and nothing waits for a steward; 1 when it finished but something
    does: a delivery held by the plausibility gate (and not superseded), a delivery rejected whole
    (every run, until its file is fixed or removed or a later one is in force), lines of a
    corrections file not applied, or a
    release awaiting --accept-revisions (one `needs a steward` line on stderr says which); 2 for usage and settings errors, a busy lock, a file-system problem or Prefect's temporary server not starting in time; 3 for a bug
    (an "unexpected error"). A deployment run in that case ends in a Completed-type state named
    `Needs steward`, with the same line as its message.

    Example: lvv run --reference-date 2022-06-30
    """
    from lvv.settings import DataPaths

    paths = DataPaths.resolve(data_dir)
    day = _date(reference_date, "--reference-date")
    _refuse_before_prefect(paths.root, rebuild)
    with _flow_output(paths.curated, verbose):
        summary = _run_flow(paths.root, day,
                            accept_revisions=accept_revisions, republish=republish, rebuild=rebuild,
                            lock_wait_seconds=lock_wait)
    _print_summary(summary, paths.root)
    waiting = summary["needs_steward"]  # the flow's own verdict, also its final state's name and message
    if waiting:
        err.print(f"[yellow]needs a steward:[/] {escape('; '.join(waiting))}", soft_wrap=True)
        raise typer.Exit(1)


@contextmanager
def _flow_output(curated_dir: Path, verbose: bool) -> Iterator[None]:
    """While a flow runs: progress bars; Prefect's logs to the API and runs/prefect.log, and to
    the terminal only when verbose (warnings and errors always)."""
    from flows.progress import RichReporter, log_file, quiet_console, show

    _prefect_env()  # before show() and log_file() import Prefect: set later, 120 s was never seen (20 s)
    quiet_console(verbose)
    with show(RichReporter()), log_file(curated_dir), _tracebacks_to_the_log_only(verbose):
        yield


@contextmanager
def _tracebacks_to_the_log_only(verbose: bool) -> Iterator[None]:
    """Prefect's terminal handlers print a record's message without its traceback (a task that
    failed, a busy lock raised inside the flow): the user gets that line and main()'s one-line
    error, the traceback stays in runs/prefect.log and the Prefect API. With --verbose, as it was."""
    if verbose:
        yield
        return
    from flows.progress import console_handlers

    handlers = [(handler, handler.formatter) for handler in console_handlers()]
    for handler, formatter in handlers:
        handler.setFormatter(_WithoutTraceback(formatter))
    try:
        yield
    finally:
        for handler, formatter in handlers:
            handler.setFormatter(formatter)


class _WithoutTraceback(logging.Formatter):
    """Formats a record with another formatter, leaving out its traceback and stack."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        kept = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = kept


def _print_summary(summary: dict, data_root: Path) -> None:
    from transforms.monthly_report import report_dir
    from transforms.runs import summary_line

    run_record = summary["run"]
    out.print(escape(summary_line(run_record)), soft_wrap=True)
    if run_record["status"] != "awaiting-acceptance" and run_record.get("message"):
        out.print(escape(run_record["message"]), soft_wrap=True)
    out.print(f"monthly report: {report_dir(data_root, run_record['reference_date'])}; "
              f"logs: {data_root / 'curated' / 'runs' / 'prefect.log'}", soft_wrap=True)


@app.command()
def rekey(data_dir: DataDirOption = None,
          reference_date: Annotated[Optional[str], typer.Option(
              "--reference-date", help="peildatum YYYY-MM-DD (default: last day of previous month)")] = None) -> None:
    """Rotate the pseudonymisation key: process every raw delivery again with $LVV_PSEUDONYM_KEY
    into a new store and publish it as one release (the old store is kept until then).

    Example: LVV_PSEUDONYM_KEY=new-secret lvv rekey
    """
    run(data_dir=data_dir, reference_date=reference_date, accept_revisions=False, republish=False,
        rebuild=True, lock_wait=600, verbose=False)


@app.command()
def verify(data_dir: DataDirOption = None) -> None:
    """Check the current release against its manifest (every file's size and sha256); exit 0 when
    whole, 1 when anything is missing or damaged. Changes nothing.

    Example: lvv verify --data-dir /srv/lvv/data
    """
    from lvv.settings import DataPaths
    from transforms.publish import current_manifest, verify_release

    curated = DataPaths.resolve(data_dir).curated
    problems = verify_release(curated)
    for problem in problems:
        err.print(f"[red]damaged:[/] {escape(problem)}", soft_wrap=True)
    if problems:
        err.print("Run `lvv run` (or `lvv run --republish`) to rebuild the release from the store.")
        raise typer.Exit(1)
    manifest = current_manifest(curated)
    out.print(f"release {manifest['release_id']} is whole: {len(manifest['files'])} files match their "
              "size and sha256")


deliveries_app = typer.Typer(no_args_is_help=True, help="Stored deliveries: list them, release a held one, recheck them after an upgrade.")
app.add_typer(deliveries_app, name="deliveries")


@deliveries_app.command("release")
def release_delivery(
    delivery: Annotated[str, typer.Argument(help="the held delivery, as municipality/YYYY-MM")],
    reason: Annotated[str, typer.Option("--reason", help="why it is right after all (recorded)")],
    data_dir: DataDirOption = None,
) -> None:
    """Put a held delivery in force, recording who (your user name) and why; the next `lvv run`
    publishes it.

    Example: lvv deliveries release utrecht/2022-08 --reason "checked with the register: 170 exits are real"
    """
    from lvv.settings import DataPaths
    from transforms.gate import release_held

    if not reason.strip():
        raise UserError("--reason: say why the delivery is right after all; it is recorded")
    paths = DataPaths.resolve(data_dir)
    decision = release_held(paths.curated, paths.staged, delivery.strip(), reason.strip())
    out.print(f"{decision['delivery_id']} released by {decision['released_by']}: {escape(reason)}\n"
              "It is in force from the next run: `lvv run` publishes it (with `--accept-revisions` when "
              "it moves figures already published beyond the tolerance).", soft_wrap=True)


@deliveries_app.command("list")
def list_deliveries(data_dir: DataDirOption = None,
                    held: Annotated[bool, typer.Option("--held", help="only held or superseded ones")] = False) -> None:
    """The stored deliveries with their status, and why a delivery is held.

    Example: lvv deliveries list --held
    """
    import pandas as pd

    from lvv.settings import DataPaths
    from transforms.gate import with_gate_status
    from transforms.store import load_records

    records = with_gate_status(load_records(DataPaths.resolve(data_dir).staged))
    frame = pd.DataFrame(records, columns=["delivery_id", "status", "rows_read", "rows_quarantined", "status_reason"])
    if held:
        frame = frame[frame["status"].isin(["held", "superseded"])]
    _emit(frame.fillna(""), Format.table, "Deliveries")


@deliveries_app.command("recheck")
def recheck_deliveries(
    data_dir: DataDirOption = None,
    municipality: Annotated[Optional[list[str]], typer.Option(
        "--municipality", help="only this municipality's deliveries (repeat for more)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    all_rows: Annotated[bool, typer.Option("--all", help="list the deliveries that are the same too")] = False,
) -> None:
    """After a code upgrade: which stored deliveries the current code would store otherwise, and
    in what (counts, codes, columns; never a row's values). Processes each raw file again into a
    scratch folder; changes nothing. Exit 0 when none differs, 1 when some do (`lvv run --rebuild`
    stores them as the current code reads them).

    Example: lvv deliveries recheck --municipality utrecht
    """
    import pandas as pd

    from lvv.settings import DataPaths, check_key, pseudonym_key
    from transforms.recheck import DIFFERS, SAME, recheck
    from transforms.store import load_records

    paths = DataPaths.resolve(data_dir)
    stored = {r["municipality"] for r in load_records(paths.staged)}
    if not stored:
        out.print(f"no stored delivery in {paths.staged}: nothing to recheck")
        return
    unknown = sorted(set(municipality or ()) - stored)
    if unknown:
        raise UserError(f"--municipality: no stored delivery of {', '.join(unknown)} in {paths.staged}")
    key, _ = pseudonym_key(paths.raw)
    check_key(paths, key)  # with another key every pseudonym would differ: refused, as `lvv run` does
    rows, last = [], None
    for found in recheck(paths.staged, paths.raw, key, municipality or None):
        where = found.delivery_id.split("/")[0]
        if where != last and fmt is Format.table:
            err.print(f"rechecking {where} ...")
            last = where
        rows.append({"delivery_id": found.delivery_id, "verdict": found.verdict,
                     "differences": "; ".join(found.differences)})
    frame = pd.DataFrame(rows, columns=["delivery_id", "verdict", "differences"])
    counts = frame["verdict"].value_counts()
    shown = frame if all_rows else frame[frame["verdict"] != SAME]
    if fmt is not Format.table or len(shown):
        _emit(shown, fmt, "Stored deliveries the current code reads otherwise")
    if fmt is Format.table:
        out.print(f"{len(frame)} stored deliveries: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
                  + (". `lvv run --rebuild` stores them as the current code reads them." if counts.get(DIFFERS) else "."),
                  soft_wrap=True)
    if counts.get(DIFFERS):
        raise typer.Exit(1)


@app.command(name="outflow")
def outflow_cmd(
    ref_date: Annotated[str, typer.Option("--ref-date", help="reference date (peildatum) YYYY-MM-DD")],
    definition: Annotated[str, typer.Option(help="counting rule")] = "programme",
    known_at: Annotated[Optional[str], typer.Option("--known-at", help="as known at YYYY-MM-DD")] = None,
    by: Annotated[Optional[str], typer.Option(
        help="'municipality' for a row per municipality, 'outcome' for the outcome codes under each line")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    data_dir: DataDirOption = None,
) -> None:
    """Outflow per reporting line at a reference date, under a counting rule, as known at a date.

    Example: lvv outflow --ref-date 2020-11-01 --definition evaluation-2021 --format csv
    """
    from lvv.settings import DataPaths
    from transforms.queries import (connect, outflow_by_outcome_result, outflow_result, quarantine_impact,
                                    quarantine_line)

    if by not in (None, "municipality", "outcome"):
        raise UserError(f"--by takes 'municipality' or 'outcome', not {by!r}")
    day, known = _date(ref_date, "--ref-date"), _date(known_at, "--known-at")
    con = connect(DataPaths.resolve(data_dir).database)
    try:
        if by == "outcome":
            answer = _fetched(outflow_by_outcome_result(con, day, definition, known))
        else:
            answer = _fetched(outflow_result(con, day, definition, known, by_municipality=by == "municipality"))
        impact = quarantine_impact(con, day, known) if fmt is Format.table else None  # a line under the table
        _warn_dates(con, day, known)
    finally:
        con.close()
    title = f"Outflow at {ref_date}, rule {definition}" + (f", as known at {known_at}" if known_at else "")
    _emit_rows(*answer, fmt, title)
    if impact is not None:
        out.print(quarantine_line(impact))


@app.command(name="reconcile")
def reconcile_cmd(
    ref_date: Annotated[str, typer.Option("--ref-date", help="reference date (peildatum) YYYY-MM-DD")],
    definitions: Annotated[tuple[str, str], typer.Option(help="counting rules A and B")],
    known_at: Annotated[Optional[str], typer.Option("--known-at", help="knowledge date for A and B")] = None,
    known_at_a: Annotated[Optional[str], typer.Option("--known-at-a", help="knowledge date of A")] = None,
    known_at_b: Annotated[Optional[str], typer.Option("--known-at-b", help="knowledge date of B")] = None,
    episodes: Annotated[bool, typer.Option("--episodes", help="list every person who moved")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    data_dir: DataDirOption = None,
) -> None:
    """Explain the difference between two figures: A, each effect, B, for every reporting line.

    Example: lvv reconcile --ref-date 2020-11-01 --definitions programme evaluation-2021 --known-at-a 2020-11-30
    """
    from lvv.settings import DataPaths
    from transforms.queries import connect
    from transforms.reconcile import bridge, moved

    day = _date(ref_date, "--ref-date")
    ka = _date(known_at_a, "--known-at-a") or _date(known_at, "--known-at")
    kb = _date(known_at_b, "--known-at-b") or _date(known_at, "--known-at")
    con = connect(DataPaths.resolve(data_dir).database)
    try:
        args = (con, day, definitions[0], definitions[1], ka, kb)
        frame = moved(*args) if episodes else bridge(*args)
        _warn_dates(con, day, *{ka, kb})
    finally:
        con.close()
    if fmt is not Format.table or episodes:
        _emit(frame, fmt, f"Persons who moved between A and B at {ref_date}")
        return
    _print_bridge(frame, definitions, ka, kb, ref_date)


def _print_bridge(frame, definitions: tuple[str, str], ka: date | None, kb: date | None,
                  ref_date: str) -> None:
    from transforms.reconcile import EFFECTS, bridge_wide

    def side(rule: str, known: date | None) -> str:
        return f"{rule}, as known at {known:%Y-%m-%d}" if known else f"{rule}, as known now"

    wide = bridge_wide(frame)
    out.print(f"[bold]Outflow at {ref_date}[/] (persons)\n  A = {side(definitions[0], ka)}\n"
              f"  B = {side(definitions[1], kb)}")
    table = Table()
    table.add_column("line")
    for col in wide.columns[1:]:
        header = "A" if col == "persons_a" else "B" if col == "persons_b" else EFFECTS[col][0]
        table.add_column(header, justify="right")
    for row in wide.itertuples(index=False):
        cells = [str(row[1])] + [f"{v:+d}" if v else "." for v in row[2:-1]] + [str(row[-1])]
        table.add_row(row[0], *cells,
                      style="bold" if row[0] == "total" else None, end_section=row[0] == "other_non_durable")
    out.print(table)
    unexplained = wide["persons_a"] + wide.iloc[:, 2:-1].sum(axis=1) - wide["persons_b"]
    out.print("every difference is explained" if not unexplained.any() else
              f"[red]unexplained: {int(unexplained.abs().sum())} persons[/]")


@app.command(name="series")
def series_cmd(
    from_date: Annotated[str, typer.Option("--from", help="first month YYYY-MM-DD")],
    to_date: Annotated[str, typer.Option("--to", help="last month YYYY-MM-DD")],
    output: Annotated[Path, typer.Option("--output", "-o", help="a .csv or .xlsx file to write")],
    definition: Annotated[str, typer.Option(help="counting rule")] = "programme",
    known_at: Annotated[Optional[str], typer.Option("--known-at", help="as known at YYYY-MM-DD")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export monthly inflow, outflow per line and occupancy per municipality to CSV or Excel.

    Example: lvv series --from 2019-03-01 --to 2022-07-31 --definition evaluation-2022 -o series.xlsx
    """
    from lvv.settings import DataPaths
    from transforms.queries import check_period, connect
    from transforms.reconcile import export_series, series

    if output.suffix.lower() not in (".csv", ".xlsx"):
        raise UserError(f"--output: {output.name} must end in .csv or .xlsx")
    _writable_parent(output, "--output")
    first, last, known = _date(from_date, "--from"), _date(to_date, "--to"), _date(known_at, "--known-at")
    check_period(first, last)
    con = connect(DataPaths.resolve(data_dir).database)
    try:
        # said before the months are counted: a mistyped --to (2202) asks for centuries of months
        _warn_dates(con, last, known)
        frame = series(con, first, last, definition, known)
    finally:
        con.close()
    export_series(frame, output)
    out.print(f"{len(frame)} rows ({frame['month_end'].nunique()} months with data) written to {output}")


#: validate's --municipality help; the known contracts are filled in by _known_contracts_in_help
MUNICIPALITY_HELP = ("whose layout the file is in: a contract in schemas/sources/ or $LVV_SOURCES_DIR "
                     "(known: {known})")


class Lang(str, Enum):
    nl = "nl"
    en = "en"


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="the export to check (.xlsx or .csv)")],
    municipality: Annotated[str, typer.Option(
        help=MUNICIPALITY_HELP)],
    period: Annotated[Optional[str], typer.Option(help="delivery month YYYY-MM (default: from the file)")] = None,
    report: Annotated[Optional[Path], typer.Option(
        help="write a copy of the workbook with every problem marked, plus a summary sheet")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    lang: Annotated[Lang, typer.Option(help="language of the messages")] = Lang.nl,
    data_dir: Annotated[Optional[Path], typer.Option(
        "--data-dir", help="also judge the file against the delivery in force in this data location "
                           "(the plausibility gate): would it be held, and why", show_default=False)] = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="table output: every finding, not the first of each check")] = False,
) -> None:
    """Check an export before delivering it: exit 0 deliverable, 1 errors (or it would be held), 2 unreadable.

    Example: lvv validate export_oktober.xlsx --municipality utrecht --period 2020-10 --data-dir /srv/lvv/data
    """
    import secrets

    from lvv.settings import KEY_ENV
    from schemas.contracts import contract_for
    from transforms.delivery import check_delivery, parse_period
    from transforms.limits import Checked
    from transforms.protect import Pseudonymiser

    contract = contract_for(municipality)
    if period is not None and parse_period(period) is None:
        raise UserError(f"--period: {period!r} is not a month; write it as YYYY-MM")
    if file.is_dir():
        raise UserError(f"{file}: this is a folder; give the export file itself (.xlsx or .csv)")
    if not file.is_file():
        raise UserError(f"{file}: no such file")
    if report is not None:
        _writable_parent(report, "--report")
    key = os.environ.get(KEY_ENV) or secrets.token_hex(16)
    # the report's layout (widths, merged ranges, panes) noted by the check's one pass over the parts
    checked = Checked(layout=True) if report is not None else None
    result = check_delivery(file, contract, period or parse_period(file.parent.name),
                              Pseudonymiser(key), display_name=file.name, infer_period=True, reveal=True,
                              checked=checked)
    rows = [f.as_row(lang.value) for f in result.findings]
    d = result.delivery
    plausibility = _plausibility(file, contract, period, data_dir) if data_dir and result.accepted else None
    if fmt is Format.json:
        summary = {k: v for k, v in d.items() if k != "layout"}
        sys.stdout.write(json.dumps({"delivery": summary, "findings": rows, "plausibility": plausibility},
                                    default=str, indent=1) + "\n")
    elif fmt is Format.csv:
        _write_csv(rows)
    else:
        _print_findings(d, rows, lang.value, show_all)
    if plausibility is not None and fmt is Format.table:
        _print_plausibility(plausibility, lang.value)
    if report is not None:
        from transforms.steward_report import write_steward_report

        written = write_steward_report(file, contract, result.findings, report, lang.value, d, checked)
        err.print(f"{'rapport' if lang is Lang.nl else 'report'}: {escape(str(written))}", soft_wrap=True)
    severities = {r["severity"] for r in rows}
    held = bool(plausibility and plausibility["held"])
    raise typer.Exit(2 if "fatal" in severities else 1 if "error" in severities or held else 0)


def _plausibility(file: Path, contract, period: str | None, data_dir: Path) -> dict | None:
    """The plausibility gate's verdict on the file against the delivery in force in data_dir's
    store (None when the store holds nothing of this municipality). Needs the store's key."""
    from lvv.settings import DataPaths, check_key, pseudonym_key
    from transforms.delivery import parse_period, process_delivery
    from transforms.gate import in_force_before, verdict
    from transforms.protect import Pseudonymiser
    from transforms.store import load_delivery_table, load_records

    paths = DataPaths.resolve(data_dir)
    stored = load_records(paths.staged, contract.municipality)
    if not stored:
        return None
    key, _ = pseudonym_key(paths.raw)
    check_key(paths, key)
    result = process_delivery(file, contract, period or parse_period(file.parent.name), Pseudonymiser(key),
                              display_name=file.name, infer_period=True)
    previous = in_force_before(stored, result.delivery["period"])
    found = verdict(result.delivery, result.episodes, result.quarantine, previous,
                    load_delivery_table(paths.staged, previous, "episodes") if previous else None, contract.gates)
    return {"held": found.held, "compared_with": found.compared_with, "codes": found.codes,
            "reason_nl": found.reason("nl"), "reason_en": found.reason("en"), "measures": found.measures}


def _print_plausibility(verdict: dict, lang: str) -> None:
    nl = lang == "nl"
    against = verdict["compared_with"] or ("geen eerdere levering" if nl else "no earlier delivery")
    title = f"{'Aannemelijkheid' if nl else 'Plausibility'} ({escape(against)}):"
    if verdict["held"]:
        out.print(f"[red]{title}[/] " + ("deze levering zou worden vastgehouden, niet in werking: " if nl else
                                        "this delivery would be held, not in force: ")
                  + escape(verdict["reason_nl" if nl else "reason_en"]), soft_wrap=True)
    else:
        out.print(f"[green]{title}[/] " + ("de levering zou in werking treden." if nl else
                                          "the delivery would be put in force."))


contract_app = typer.Typer(no_args_is_help=True, help="Source contracts: draft one for a new municipality.")
app.add_typer(contract_app, name="contract")


@contract_app.command(name="draft")
def contract_draft_cmd(
    files: Annotated[list[Path], typer.Argument(help="one or more exports of the new municipality (.xlsx or .csv)")],
    municipality: Annotated[str, typer.Option(help="the municipality's name, e.g. 'Zwolle'")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write the draft here (default: print)")] = None,
) -> None:
    """Draft a source contract from a new municipality's export(s), then check the files with it.

    Exit 0 when the draft reads every file without an error, 1 when lines are left to decide or
    rows would be quarantined (both listed on stderr). Review every '# CHECK' comment.

    Example: lvv contract draft export_2021-01.xlsx export_2021-02.xlsx --municipality Zwolle -o schemas/sources/zwolle.yaml
    """
    from transforms.contract_draft import DraftError, check_draft, draft_contract

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    try:
        text = draft_contract(files, municipality)
    except DraftError as exc:
        raise UserError(str(exc), code=1) from None
    if output is None:
        sys.stdout.write(text)
    else:
        from transforms.files import replace_file

        replace_file(output, text)
        err.print(f"draft written to {escape(str(output))}")
    verdict = check_draft(text, files)
    for line in verdict.to_decide:
        err.print(f"[yellow]to decide[/]: {escape(line)}", soft_wrap=True)
    for f in verdict.files:
        errors = ", ".join(f"{n}x {code}" for code, n in f["errors"].items()) or "no errors"
        err.print(f"{escape(f['file'])}: {f['status']}, {f['rows_read']} rows read, {f['rows_curated']} curated, "
                  f"{f['rows_quarantined']} quarantined; {errors}", soft_wrap=True)
    raise typer.Exit(0 if verdict.ok else 1)


def _known_municipalities() -> str:
    try:
        from schemas.contracts import contracts

        return ", ".join(sorted(contracts()))
    except Exception:  # a broken contract is reported when it is used, not in --help
        return "see schemas/sources/"


def _write_csv(rows: list[dict]) -> None:
    import csv

    from schemas.checks import FINDING_COLUMNS

    from transforms.scrub import formula_safe

    writer = csv.DictWriter(sys.stdout, fieldnames=FINDING_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: formula_safe(v) for k, v in row.items()} for row in rows)


#: findings printed as a table at most; more (with --all) are printed as tab-separated lines
TABLE_ROWS = 200


def _print_findings(delivery: dict, findings: list[dict], lang: str, show_all: bool = False) -> None:
    """A rejected file: one line per fatal finding on stderr. Otherwise the counts, the findings
    per check, and a table of the first findings of each check (every one with show_all)."""
    nl = lang == "nl"
    if delivery["status"] == "rejected":
        for row in findings:
            err.print(f"[red]{escape(row['file'])}[/]: {escape(row['message'])} {escape(row['fix'])}",
                      soft_wrap=True)
        return
    counts = Table(title=escape(f"{delivery['file']} ({delivery['municipality']}, {delivery['period']})"))
    for col in ("rijen gelezen" if nl else "rows read", "correct" if nl else "curated",
                "in quarantaine" if nl else "quarantined", "overgeslagen" if nl else "skipped"):
        counts.add_column(col, justify="right")
    counts.add_row(*(str(delivery[k]) for k in ("rows_read", "rows_curated", "rows_quarantined", "rows_skipped")))
    out.print(counts)
    shown = [r for r in findings if r["severity"] != "info"]
    if not shown:
        out.print("[green]Geen fouten: het bestand kan worden geleverd.[/]" if nl
                  else "[green]No errors: the file can be delivered.[/]")
        return
    from schemas.checks import limits

    per_check: dict[tuple[str, str], int] = {}
    for row in shown:
        per_check[(row["code"], row["severity"])] = per_check.get((row["code"], row["severity"]), 0) + 1
    summary = Table(title="Bevindingen per controle" if nl else "Findings per check")
    for col in ("code", "ernst" if nl else "severity", "aantal" if nl else "count"):
        summary.add_column(col, justify="right" if col in ("aantal", "count") else "left")
    for (code, severity), n in per_check.items():
        summary.add_row(code, severity, str(n))
    out.print(summary)
    _print_notations(findings, nl)
    if not show_all:
        first, seen = [], {}
        for row in shown:
            seen[row["code"]] = seen.get(row["code"], 0) + 1
            if seen[row["code"]] <= limits().findings_shown:
                first.append(row)
        hidden = len(shown) - len(first)
        shown = first
    if len(shown) > TABLE_ROWS:  # a table of thousands of rows takes Rich longer than the check: plain lines
        sys.stdout.write("".join(
            "\t".join((row["cell_ref"] or str(row["excel_row"] or ""), row["code"], row["severity"],
                       str(row["value"]), row["message"])) + "\n" for row in shown))
        return
    table = Table(title="Bevindingen" if nl else "Findings")
    for col in ("cel" if nl else "cell", "code", "ernst" if nl else "severity", "waarde" if nl else "value",
                "melding" if nl else "message"):
        table.add_column(col, no_wrap=col in ("cel", "cell", "code"))
    for row in shown:
        table.add_row(row["cell_ref"] or (str(row["excel_row"]) if row["excel_row"] else ""), row["code"],
                      row["severity"], escape(str(row["value"])), escape(row["message"]))
    out.print(table)
    if not show_all and hidden:
        out.print(f"{hidden} bevindingen niet getoond: --all toont ze alle, --format csv of --report zet ze in een bestand."
                  if nl else f"{hidden} findings not shown: --all shows every one, --format csv or --report "
                  "writes them to a file.")


def _print_notations(findings: list[dict], nl: bool) -> None:
    """Each column whose unreadable dates are written in another notation (date_notations), once:
    where, what and what to do, without a value."""
    from transforms.date_notations import CODES

    notes = [row for row in findings if row["code"] in CODES]
    if notes:
        out.print("Datums in een andere notatie:" if nl else "Dates in another notation:")
    for row in notes:
        out.print(f"  {escape(row['message'])} {'Wat te doen' if nl else 'What to do'}: {escape(row['fix'])}",
                  soft_wrap=True)


def _print_outflow_comparison(database: Path, ref_date: date) -> None:
    from transforms.queries import connect, line_labels, outflow

    con = connect(database)
    try:
        frames = {d: outflow(con, ref_date, d) for d in ("evaluation-2021", "programme")}
    finally:
        con.close()
    table = Table(title=f"Outflow at {ref_date:%Y-%m-%d} (persons), as known at the last delivery")
    for col in ("line", "", "evaluation-2021", "programme"):
        table.add_column(col, justify="right" if col.startswith(("eval", "prog")) else "left")
    labels = line_labels()
    programme = frames["programme"].groupby("line", sort=False)["persons"].sum()
    for row in frames["evaluation-2021"].itertuples():
        table.add_row(row.line, labels.get(row.line, ""), str(row.persons), str(programme.get(row.line, 0)))
    table.add_row("total", "", str(frames["evaluation-2021"]["persons"].sum()), str(programme.sum()),
                  style="bold")
    out.print(table)
    out.print("evaluation-2021 is Table A of the interim evaluation; the programme's monitor counts a forced "
              "departure after immigration detention as returned. To explain every difference with the "
              "monitor as it stood in November 2020:\n  lvv reconcile --ref-date 2020-11-01 "
              "--definitions programme evaluation-2021 --known-at-a 2020-11-30")


def _emit(frame, fmt: Format, title: str) -> None:
    if fmt is Format.csv:
        from transforms.scrub import formula_safe

        sys.stdout.write(frame.map(formula_safe).to_csv(index=False))
    elif fmt is Format.json:
        sys.stdout.write(json.dumps(frame.to_dict("records"), default=str, indent=1) + "\n")
    else:
        _print_table(title, list(frame.columns), [frame[col].dtype.kind in "iuf" for col in frame.columns],
                     list(frame.itertuples(index=False)))


#: DuckDB's column types that pandas holds as numbers (printed right-aligned, as _emit does)
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def _fetched(result) -> tuple[list[str], list[bool], list[dict]]:
    """An executed query's column names (also when it has no rows), which are numbers, and rows as
    queries.records fetches them: without pandas, whose import is most of a quick command's start-up."""
    from transforms.queries import records

    numeric = [str(column[1]).split("(")[0] in NUMERIC_TYPES for column in result.description]
    return [column[0] for column in result.description], numeric, records(result)


def _emit_rows(columns: list[str], numeric: list[bool], rows: list[dict], fmt: Format, title: str) -> None:
    """Fetched rows printed as _emit prints the same rows in a frame (pandas' CSV: minimal quoting,
    None an empty field, one newline per row)."""
    if fmt is Format.csv:
        import csv

        from transforms.scrub import formula_safe

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([formula_safe(value) for value in row.values()] for row in rows)
    elif fmt is Format.json:
        sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
    else:
        _print_table(title, columns, numeric, [list(row.values()) for row in rows])


def _print_table(title: str, columns: list[str], numeric: list[bool], rows: list) -> None:
    """A Rich table of rows, numbers right-aligned, and a total row when there is a persons column."""
    table = Table(title=title)
    for col, right in zip(columns, numeric):
        table.add_column(col, justify="right" if right else "left")
    for row in rows:
        table.add_row(*("" if _missing(v) else str(v) for v in row))
    if "persons" in columns:
        at = columns.index("persons")
        total = [""] * (len(columns) - 1) + [str(int(sum(row[at] for row in rows if not _missing(row[at]))))]
        total[0] = "total"
        table.add_row(*total, style="bold")
    out.print(table)


def _missing(value: object) -> bool:
    """None, NaN, NaT or pd.NA: an empty cell in a printed table (a follow-up only after detention)."""
    try:
        return value is None or bool(value != value)
    except TypeError:  # pd.NA cannot be made a bool
        return True


def _warn_dates(con, ref_date: date | None, *known_at: date | None) -> None:
    """A warning line on stderr for each reference or knowledge date outside the deliveries."""
    from transforms.queries import date_warnings

    lines = dict.fromkeys(w for k in (known_at or (None,)) for w in date_warnings(con, ref_date, k))
    for line in lines:
        err.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option}: {text!r} is not a date; write it as YYYY-MM-DD") from None


#: what to do about a file-system error, by errno name
_FS_ADVICE = {
    "ENOENT": "no such file or folder; check the path, or create the folder first",
    "ENOTDIR": "a part of this path is a file, not a folder; check the path",
    "EISDIR": "this is a folder; give a file",
    "EACCES": "permission denied; choose a location you may write to, or ask for access",
    "EPERM": "operation not permitted; choose a location you may write to, or ask for access",
    "EROFS": "the location is read-only; choose a writable --data-dir or output path",
    "ENOSPC": "the disk is full; free some space and run again (nothing was published half-way)",
    "EDQUOT": "the disk quota is used up; free some space and run again",
    "EMFILE": "too many open files; close other programs and run again",
}


def file_system_message(exc: OSError) -> str:
    """One line for a file-system error: the path, what happened, what to do."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    path = exc.filename or ""
    advice = _FS_ADVICE.get(name, (exc.strerror or str(exc) or type(exc).__name__).splitlines()[0])
    return f"{path}: {advice}" if path else advice


def _writable_parent(path: Path, option: str) -> None:
    """Refuse an output path whose folder is missing or is a file, before any work is done."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise UserError(f"{option}: the folder {folder} does not exist; create it or choose another path")
    if not folder.is_dir():
        raise UserError(f"{option}: {folder} is a file, not a folder; choose another path")
    if path.is_dir():
        raise UserError(f"{option}: {path} is a folder; give a file name")


def main() -> None:
    """Entry point: domain errors become one clean line on stderr, never a traceback."""
    from lvv.errors import known_errors

    # Python evaluates an except clause's expression only when the clauses before did not match:
    # known_errors() imports the modules of the domain errors (pandas with them, about a CPU second),
    # so it comes after the clauses of Click's and Typer's own exceptions, which no domain error is
    # (a usage error or Ctrl-C is answered without that import)
    try:
        code = app(standalone_mode=False, prog_name="lvv")
    except UserError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # Click's own usage errors (Typer vendors Click): usage line, exit 2
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))
    except known_errors() as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # the file system said no: name the path and what to do
        err.print(f"[red]error:[/] {escape(file_system_message(exc))}", soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # the last guard: a user never sees a traceback
        err.print(f"[red]unexpected error:[/] {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        err.print("Please report this with the command you ran.")
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
