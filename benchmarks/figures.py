"""Each benchmark figure, measured on a Dataset (see docs/performance.md for what each means)."""

from __future__ import annotations

import csv
import inspect
import io
import json
import shutil
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.datasets import Dataset, from_scratch, hold_back_last_month, protection_files, put_back, reports_dir
from benchmarks.measure import ROOT, PrefectServer, Stat, base_env, run_lvv, run_python, timed

#: the definitions the flow reports (the flow's default)
DEFINITIONS = ["programme", "evaluation-2021", "evaluation-2022"]
#: the size of the steward's workbook
STEWARD_ROWS = 5000


def _contracts():
    from schemas.contracts import contracts

    return contracts()


def _files(dataset: Dataset):
    from transforms.discover import discover

    found, _ = discover(dataset.raw, _contracts())
    return found


# --- read floor -----------------------------------------------------------------------------------

def parse_only(path: Path, contract) -> int:
    """Parse one raw file with the fastest reader alone: python-calamine, or the csv module."""
    if contract.file.type == "csv":
        text = path.read_bytes().decode(contract.file.encoding)
        return sum(1 for _ in csv.reader(io.StringIO(text, newline=""), delimiter=contract.file.delimiter))
    import python_calamine

    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    return len(workbook.get_sheet_by_index(0).to_python(skip_empty_area=False))


def read_floor(dataset: Dataset, repeat: int, cpu: Stat | None = None) -> Stat:
    """Seconds to parse every file with python-calamine or the csv module alone (cpu: also their
    CPU seconds, added to it)."""
    contracts = _contracts()
    items = [(f.path, contracts[f.municipality]) for f in _files(dataset)]
    return timed(lambda: [parse_only(path, contract) for path, contract in items], repeat, cpu=cpu)


#: what the flow imports beyond Prefect to do its work (reading, frames, validation, Parquet, SQL)
STACK = ("python_calamine", "pandas", "pandera.pandas", "pyarrow.parquet", "duckdb")


def stack_import(repeat: int) -> Stat:
    """Seconds to import the data stack in a new process: a cost every full rebuild pays on top of
    the flow start-up (which imports Prefect alone), before it reads a single cell."""
    code = ("import time; t = time.perf_counter(); import " + ", ".join(STACK)
            + "; print(time.perf_counter() - t)")
    stat = Stat()
    for _ in range(repeat):
        _, result = run_python(["-c", code], base_env())
        stat.add(float(result.stdout.split()[-1]))
    return stat


# --- the plain functions, phase by phase ----------------------------------------------------------

def phases(dataset: Dataset, workdir: Path) -> dict[str, float]:
    """One full rebuild with the plain transforms functions in this process, timed per phase."""
    from lvv.settings import DEMO_PSEUDONYM_KEY, DataPaths
    from transforms import publish as publishing
    from transforms.curate import curated_tables
    from transforms.delivery import DeliveryInput, process_deliveries
    from transforms.protect import Pseudonymiser
    from transforms.read import read_source
    from transforms.store import save_result

    root = workdir / "phases"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "raw").symlink_to(dataset.raw, target_is_directory=True)
    paths = DataPaths(root)
    contracts = _contracts()
    found = _files(dataset)
    pseudo = Pseudonymiser(DEMO_PSEUDONYM_KEY)
    out: dict[str, float] = {}

    started = time.perf_counter()
    for item in found:
        read_source(item.path, contracts[item.municipality], item.relative)
    out["reading_s"] = time.perf_counter() - started

    started = time.perf_counter()
    by_municipality: dict[str, list] = {}
    for item in found:
        by_municipality.setdefault(item.municipality, []).append(item)
    for municipality, items in by_municipality.items():  # as the flow's task per municipality does
        batch = [DeliveryInput(item.path, item.period, item.relative) for item in items]
        for result in process_deliveries(batch, contracts[municipality], pseudo):
            save_result(paths.staged, result)
    out["processing_s"] = time.perf_counter() - started
    out["validation_s"] = max(out["processing_s"] - out["reading_s"], 0.0)

    started = time.perf_counter()
    takes_raw = "raw_dir" in inspect.signature(curated_tables).parameters
    tables = curated_tables(paths.staged, paths.raw) if takes_raw else curated_tables(paths.staged)
    out["history_s"] = time.perf_counter() - started

    started = time.perf_counter()
    publishing.publish(paths.curated, tables)
    out["publishing_s"] = time.perf_counter() - started

    started = time.perf_counter()
    _report(paths, dataset)
    out["report_s"] = time.perf_counter() - started
    out["plain_total_s"] = sum(out[k] for k in ("processing_s", "history_s", "publishing_s", "report_s"))
    shutil.rmtree(root)
    return out


def _report(paths, dataset: Dataset) -> None:
    try:
        from transforms import monthly_report
    except ImportError:  # before the monthly report existed: the headline figures only
        from transforms.queries import connect, outflow

        con = connect(paths.database)
        try:
            for definition in DEFINITIONS:
                outflow(con, dataset.ref_date, definition)
        finally:
            con.close()
        return
    data = monthly_report.gather(paths.database, dataset.ref_date, DEFINITIONS)
    monthly_report.write_monthly_report(data, monthly_report.report_dir(paths.curated, dataset.ref_date))


# --- the whole flow, in new processes -------------------------------------------------------------

def flow_env(dataset: Dataset, home: Path, api_url: str | None) -> dict[str, str]:
    env = base_env({**dataset.env, "PREFECT_HOME": str(home)})
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def startup(env: dict[str, str], repeat: int, warm_up: bool = True) -> Stat:
    """Wall seconds of a new process running an empty flow (see benchmarks/noop_flow.py)."""
    if warm_up:  # the first run of a new PREFECT_HOME also creates its database
        run_python(["-m", "benchmarks.noop_flow"], env, cwd=ROOT)
    stat = Stat()
    for _ in range(repeat):
        stat.add(run_python(["-m", "benchmarks.noop_flow"], env, cwd=ROOT)[0])
    return stat


#: the flow's task runner in the flow figures ("auto", the default, runs `lvv run` itself)
TASK_RUNNER = {"name": "auto"}


def run_args(dataset: Dataset, reference_date: date | None = None) -> list[str]:
    """The monthly run's command on the dataset, reporting at reference_date (None: the dataset's)."""
    day = (reference_date or dataset.ref_date).isoformat()
    if TASK_RUNNER["name"] != "auto":
        return ["flow", str(dataset.root), day, TASK_RUNNER["name"]]
    return ["run", "--data-dir", str(dataset.root), "--reference-date", day]


def flow_figures(dataset: Dataset, workdir: Path, repeat: int, temporary_repeat: int) -> dict[str, Any]:
    """Start-up, full rebuild, monthly increment and a run with nothing new, against a running
    server (as a deployment runs); start-up also with a temporary server per run."""
    out: dict[str, Any] = {}
    temporary_home = workdir / "prefect-temporary"
    if temporary_repeat:
        out["flow_startup_temporary_server_s"] = startup(  # the first run also creates its database
            flow_env(dataset, temporary_home, None), temporary_repeat, warm_up=False)
    with PrefectServer(workdir / "prefect-server") as server:
        out["prefect_server_start_s"] = server.startup_s
        env = flow_env(dataset, workdir / "prefect-client", server.api_url)
        out["flow_startup_s"] = startup(env, repeat)
        rebuild, rss = Stat(), []
        for _ in range(repeat):
            from_scratch(dataset)
            measured = run_lvv(run_args(dataset), env)
            rebuild.add(measured["seconds"])
            rss.append(measured["peak_rss_mb"])
        out["full_rebuild_s"] = rebuild
        out["peak_rss_mb"] = max(rss)
        out["increment_s"] = increment(dataset, env, repeat)
        out["nothing_new_s"] = Stat([run_lvv(run_args(dataset, dataset.increment_dates[1]), env)["seconds"]])
    return out


def month_run(dataset: Dataset, env: dict[str, str], aside: Path) -> tuple[dict[str, Any], int]:
    """The month's run, timed: the measured run (run_lvv) and the protection files it wrote.

    First, untimed, last month's run: the report caches removed, the last month's raw files moved
    aside and the flow run at the month end before (Dataset.increment_dates): it drops those
    deliveries from the store, publishes the history without them and leaves its report caches.
    With the files back, the timed run processes exactly those deliveries and, the inputs having
    changed, merges them into the history, publishes a release and writes the report at the month
    just ended (a new series point and reference date to protect). (Taking the deliveries out of
    the store alone is not enough: reprocessed, they give the same inputs as the current release,
    and the run then publishes nothing.) Checks the run published the month's deliveries."""
    moves = last_month_published(dataset, env, aside)
    kept = protection_files(dataset)
    measured = run_lvv(run_args(dataset, dataset.increment_dates[1]), env)
    check_last_run(dataset, "published", len(moves))
    return measured, len(protection_files(dataset) - kept)


def last_month_published(dataset: Dataset, env: dict[str, str], aside: Path) -> list[tuple[Path, Path]]:
    """The run before a month's run (untimed): the report caches removed, the last month's raw
    files moved aside (to `aside`), the flow run at the month end before (Dataset.increment_dates),
    the files put back. Returns the moves (one per delivery held back and put back)."""
    shutil.rmtree(reports_dir(dataset), ignore_errors=True)
    moves = hold_back_last_month(dataset, aside)
    try:
        run_lvv(run_args(dataset, dataset.increment_dates[0]), env)
    finally:
        put_back(moves)
    return moves


def check_last_run(dataset: Dataset, status: str, deliveries: int) -> None:
    """The run measured did what its figure says: published the new month, or found nothing new."""
    from transforms.runs import read_runs

    last = read_runs(dataset.curated)[-1]
    if last["status"] != status or len(last["deliveries"]) != deliveries:
        raise RuntimeError(f"expected a run {status} with {deliveries} deliveries, got {last['status']} "
                           f"with {len(last['deliveries'])}")


def increment(dataset: Dataset, env: dict[str, str], repeat: int) -> Stat:
    """One new delivery per municipality on top of the processed history, in a new process: the
    seconds of month_run."""
    stat = Stat()
    aside = dataset.root.parent / "held-back"
    for _ in range(repeat):
        stat.add(month_run(dataset, env, aside)[0]["seconds"])
    shutil.rmtree(aside, ignore_errors=True)
    return stat


# --- the steward's check, the researcher's queries ------------------------------------------------

def validate_cold(workdir: Path, repeat: int) -> tuple[Stat, dict[str, Any]]:
    """`lvv validate` of a 5,000-row workbook (Utrecht's layout) in a new process each time."""
    from lvv.demo.national import register_bytes

    data, period = register_bytes("utrecht", STEWARD_ROWS)
    path = workdir / "steward" / f"LVV_Utrecht_{period}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    args = ["validate", str(path), "--municipality", "utrecht", "--period", period, "--format", "json"]
    env = base_env()
    stat, last = Stat(), {}
    for _ in range(repeat):
        last = run_lvv(args, env)
        stat.add(last["seconds"])
    return stat, {"prefect_imported": last.get("prefect_imported"), "rows": STEWARD_ROWS}


def queries(dataset: Dataset, repeat: int, warm_repeat: int) -> dict[str, Any]:
    """Each question cold (new process and connection) and warm (repeated on an open connection)."""
    from benchmarks.queries import QUERIES, warm_ms

    database = dataset.curated / "lvv.duckdb"
    dates = [dataset.ref_date.isoformat(), dataset.known_at.isoformat(), dataset.series_from.isoformat()]
    env = base_env(dataset.env)
    out: dict[str, Any] = {}
    for name in QUERIES:
        cold = Stat()
        for _ in range(repeat):
            _, result = run_python(["-m", "benchmarks.queries", str(database), name, *dates], env, cwd=ROOT)
            cold.add(float(result.stdout.split()[0]))
        out[f"{name}_cold_ms"] = cold
        out[f"{name}_warm_ms"] = Stat(warm_ms(database, name, dataset.ref_date, dataset.known_at,
                                              dataset.series_from, warm_repeat))
    cli, imported = Stat(), None
    for _ in range(repeat):
        measured = run_lvv(["outflow", "--ref-date", dataset.ref_date.isoformat(), "--data-dir",
                            str(dataset.root), "--format", "csv"], env)
        cli.add(measured["seconds"])
        imported = measured["prefect_imported"]
    out["outflow_cli_s"] = cli
    out["outflow_cli_imports_prefect"] = imported
    return out


# --- the analyst's script -------------------------------------------------------------------------

def pipeline_table_a(dataset: Dataset) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(dataset.curated / "lvv.duckdb"), read_only=True)
    try:
        rows = con.execute("select line, sum(persons)::bigint from outflow($d, definition := "
                           "'evaluation-2021') group by line", {"d": dataset.ref_date}).fetchall()
    finally:
        con.close()
    return {line: int(n) for line, n in rows}


def baseline(dataset: Dataset, repeat: int) -> tuple[Stat, dict[str, int]]:
    """benchmarks/baseline_analyst.py over the same raw files, in a new process each time."""
    stat, table = Stat(), {}
    script = str(ROOT / "benchmarks" / "baseline_analyst.py")
    for _ in range(repeat):
        seconds, result = run_python([script, str(dataset.raw), "--ref-date",
                                      dataset.ref_date.isoformat(), "--json"], base_env())
        stat.add(seconds)
        table = json.loads(result.stdout.strip().splitlines()[-1])["table_a"]
    return stat, table
