"""The `lvv` command line. Commands that need no orchestration never import Prefect."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
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
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    # the temporary server needs more than the default 20 s to start on a cold 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _run_flow(data_dir: Path | None, reference_date: date | None = None) -> dict:
    from lvv.settings import DataPaths, has_deliveries, pseudonym_key

    paths = DataPaths.resolve(data_dir)
    if not has_deliveries(paths.raw):
        raise UserError(f"no deliveries under {paths.raw}: put each export in "
                        "raw/<municipality>/<YYYY-MM>/, or run `lvv demo`")
    pseudonym_key(paths.raw)  # refuse before starting Prefect: real data needs the secret key
    _prefect_env()
    from flows.monthly_outflow import RunParameters, monthly_outflow

    params = RunParameters(data_dir=str(data_dir) if data_dir else None, reference_date=reference_date)
    return monthly_outflow(params)


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
    with _flow_output(paths.curated, verbose):
        summary = _run_flow(paths.root, SEED_REFERENCE_DATE)
    _print_summary(summary, paths.root)
    _print_outflow_comparison(paths.database, SEED_REFERENCE_DATE)


@app.command()
def run(data_dir: DataDirOption = None,
        reference_date: Annotated[Optional[str], typer.Option(
            "--reference-date", help="peildatum YYYY-MM-DD (default: last day of previous month)")] = None,
        verbose: VerboseOption = False) -> None:
    """Run the monthly flow over data/raw: only new or changed deliveries are processed.

    Example: lvv run --reference-date 2022-06-30
    """
    from lvv.settings import DataPaths

    paths = DataPaths.resolve(data_dir)
    with _flow_output(paths.curated, verbose):
        summary = _run_flow(paths.root, _date(reference_date, "--reference-date"))
    _print_summary(summary, paths.root)


@contextmanager
def _flow_output(curated_dir: Path, verbose: bool) -> Iterator[None]:
    """While a flow runs: progress bars; Prefect's logs to the API and runs/prefect.log, and to
    the terminal only when verbose (warnings and errors always)."""
    from flows.progress import RichReporter, log_file, quiet_console, show

    quiet_console(verbose)
    with show(RichReporter()), log_file(curated_dir):
        yield


def _print_summary(summary: dict, data_root: Path) -> None:
    from transforms.monthly_report import report_dir
    from transforms.runs import summary_line

    run_record = summary["run"]
    out.print(summary_line(run_record))
    out.print(f"monthly report: {report_dir(data_root, run_record['reference_date'])}; "
              f"logs: {data_root / 'curated' / 'runs' / 'prefect.log'}", soft_wrap=True)


@app.command(name="outflow")
def outflow_cmd(
    ref_date: Annotated[str, typer.Option("--ref-date", help="reference date (peildatum) YYYY-MM-DD")],
    definition: Annotated[str, typer.Option(help="counting rule")] = "programme",
    known_at: Annotated[Optional[str], typer.Option("--known-at", help="as known at YYYY-MM-DD")] = None,
    by: Annotated[Optional[str], typer.Option(help="'municipality' for a row per municipality")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, csv or json")] = Format.table,
    data_dir: DataDirOption = None,
) -> None:
    """Outflow per reporting line at a reference date, under a counting rule, as known at a date.

    Example: lvv outflow --ref-date 2020-11-01 --definition evaluation-2021 --format csv
    """
    from lvv.settings import DataPaths
    from transforms.queries import connect, line_labels, outflow

    if by not in (None, "municipality"):
        raise UserError(f"--by takes 'municipality', not {by!r}")
    con = connect(DataPaths.resolve(data_dir).database)
    try:
        frame = outflow(con, _date(ref_date, "--ref-date"), definition,
                        _date(known_at, "--known-at"), by_municipality=by == "municipality")
    finally:
        con.close()
    title = f"Outflow at {ref_date}, rule {definition}" + (f", as known at {known_at}" if known_at else "")
    _emit(frame, fmt, title, labels=line_labels())


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
    from transforms.queries import connect
    from transforms.reconcile import export_series, series

    if output.suffix.lower() not in (".csv", ".xlsx"):
        raise UserError(f"--output: {output.name} must end in .csv or .xlsx")
    con = connect(DataPaths.resolve(data_dir).database)
    try:
        frame = series(con, _date(from_date, "--from"), _date(to_date, "--to"), definition,
                       _date(known_at, "--known-at"))
    finally:
        con.close()
    export_series(frame, output)
    out.print(f"{len(frame)} rows ({frame['month_end'].nunique()} months with data) written to {output}")


class Lang(str, Enum):
    nl = "nl"
    en = "en"


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="the export to check (.xlsx or .csv)")],
    municipality: Annotated[str, typer.Option(help="whose layout the file is in, e.g. utrecht")],
    period: Annotated[Optional[str], typer.Option(help="delivery month YYYY-MM (default: from the file)")] = None,
    report: Annotated[Optional[Path], typer.Option(
        help="write a copy of the workbook with every problem marked, plus a summary sheet")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    lang: Annotated[Lang, typer.Option(help="language of the messages")] = Lang.nl,
) -> None:
    """Check an export before delivering it: exit 0 deliverable, 1 errors, 2 unreadable.

    Example: lvv validate export_oktober.xlsx --municipality utrecht --period 2020-10 --report controle.xlsx
    """
    import secrets

    from lvv.settings import KEY_ENV
    from schemas.contracts import contract_for
    from transforms.delivery import check_delivery, parse_period
    from transforms.protect import Pseudonymiser

    contract = contract_for(municipality)
    if period is not None and parse_period(period) is None:
        raise UserError(f"--period: {period!r} is not a month; write it as YYYY-MM")
    if not file.is_file():
        raise UserError(f"{file}: no such file")
    key = os.environ.get(KEY_ENV) or secrets.token_hex(16)
    result = check_delivery(file, contract, period or parse_period(file.parent.name),
                              Pseudonymiser(key), display_name=file.name, infer_period=True)
    rows = [f.as_row(lang.value) for f in result.findings]
    d = result.delivery
    if fmt is Format.json:
        summary = {k: v for k, v in d.items() if k != "layout"}
        sys.stdout.write(json.dumps({"delivery": summary, "findings": rows}, default=str, indent=1) + "\n")
    elif fmt is Format.csv:
        _write_csv(rows)
    else:
        _print_findings(d, rows, lang.value)
    if report is not None:
        from transforms.steward_report import write_steward_report

        written = write_steward_report(file, contract, result.findings, report, lang.value, d)
        err.print(f"{'rapport' if lang is Lang.nl else 'report'}: {escape(str(written))}", soft_wrap=True)
    severities = {r["severity"] for r in rows}
    raise typer.Exit(2 if "fatal" in severities else 1 if "error" in severities else 0)


def _write_csv(rows: list[dict]) -> None:
    import csv

    from schemas.checks import FINDING_COLUMNS

    writer = csv.DictWriter(sys.stdout, fieldnames=FINDING_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)


def _print_findings(delivery: dict, findings: list[dict], lang: str) -> None:
    """A rejected file: one line per fatal finding on stderr. Otherwise the counts and a table."""
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
    table = Table(title="Bevindingen" if nl else "Findings")
    for col in ("cel" if nl else "cell", "code", "ernst" if nl else "severity", "waarde" if nl else "value",
                "melding" if nl else "message"):
        table.add_column(col, no_wrap=col in ("cel", "cell", "code"))
    for row in shown:
        table.add_row(row["cell_ref"] or (str(row["excel_row"]) if row["excel_row"] else ""), row["code"],
                      row["severity"], escape(str(row["value"])), escape(row["message"]))
    out.print(table)


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


def _emit(frame, fmt: Format, title: str, labels: dict[str, str] | None = None) -> None:
    if fmt is Format.csv:
        sys.stdout.write(frame.to_csv(index=False))
    elif fmt is Format.json:
        sys.stdout.write(json.dumps(frame.to_dict("records"), default=str, indent=1) + "\n")
    else:
        table = Table(title=title)
        for col in frame.columns:
            table.add_column(col, justify="right" if frame[col].dtype.kind in "iuf" else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v) for v in row))
        if "persons" in frame.columns:
            total = [""] * (len(frame.columns) - 1) + [str(int(frame["persons"].sum()))]
            total[0] = "total"
            table.add_row(*total, style="bold")
        out.print(table)


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option}: {text!r} is not a date; write it as YYYY-MM-DD") from None


def main() -> None:
    """Entry point: domain errors become one clean line on stderr, never a traceback."""
    from lvv.errors import known_errors

    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(exc.code)
    except known_errors() as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # the last guard: a user never sees a traceback
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        err.print(f"[red]unexpected error:[/] {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        err.print("Please report this with the command you ran.")
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
