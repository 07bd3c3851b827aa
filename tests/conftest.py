"""Shared fixtures: tiny deliveries written in a contract's layout, and the demo publication."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from schemas.contracts import SourceContract, contract_for
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.publish import publish
from transforms.store import save_result

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Every `lvv`, `python -c` and `make demo` the suite starts is a new interpreter. Where the
# environment forbids writing bytecode beside the sources (PYTHONDONTWRITEBYTECODE, as this sandbox
# and many CI images set), each one compiled the project's modules again, about 0.4 CPU s a process
# (the installed packages are compiled at install: pyproject.toml's compile-bytecode). Set here, in
# the process that starts the xdist workers, so they and every process they start keep the
# project's bytecode under one prefix outside the tree instead.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ.setdefault("PYTHONPYCACHEPREFIX",
                          str(Path(tempfile.gettempdir()) / f"lvv-tests-pycache-{os.getuid()}"))

# hypothesis: in CI (CI=true, as CI services and .ci/run set it) the same examples every run, so a
# red build is reproducible; locally random, to find new ones. No deadline: the machine is shared.
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("local", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "local")

#: The files that take longest, longest first (measured with `pytest --durations=120`, summed per file,
#: 2026-12-02). With `--dist loadfile` a file runs whole on one worker, and xdist hands files out in
#: the order collected (`--no-loadscope-reorder` in pyproject.toml): started first, the long ones do
#: not leave one worker running alone at the end. A file missing here only runs later, nothing else.
SLOW_FILES = ("test_kill_points.py", "test_cli_run_exit.py", "test_monthly_report.py", "test_incremental_history.py",
              "test_key_and_repair.py", "test_benchmarks.py", "test_terminal.py", "test_dask.py", "test_deployment.py",
              "test_gate.py", "test_suppression.py", "test_revision_gate.py", "test_publish_atomic.py",
              "test_browser.py", "test_store_hostile.py", "test_run_steward_states.py",
              "test_hostile_cli.py", "test_sql_lint.py", "test_cli.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first, the rest in their usual order (a stable sort)."""
    rank = {name: position for position, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))


def write_sheet(path: Path, contract: SourceContract, rows: list[dict[str, Any]],
                stand_per: date | None = None, extra_rows: list[list[Any]] | None = None,
                headers: dict[str, str] | None = None) -> Path:
    """A minimal delivery in `contract`'s layout; rows are {field: cell value}."""
    header_map = headers or contract.columns
    fields = list(header_map)
    path.parent.mkdir(parents=True, exist_ok=True)
    if contract.file.type == "csv":
        with path.open("w", encoding=contract.file.encoding, newline="") as handle:
            writer = csv.writer(handle, delimiter=contract.file.delimiter)
            writer.writerow([header_map[f] for f in fields])
            for row in rows:
                writer.writerow(["" if row.get(f) is None else row.get(f) for f in fields])
            for extra in extra_rows or []:
                writer.writerow(extra)
        return path
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = contract.file.sheet
    if contract.file.header_row > 1:
        sheet.cell(1, 1, f"LVV {contract.display_name}")
        if contract.file.stand_per and stand_per:
            sheet.cell(2, 1, contract.file.stand_per.label)
            sheet.cell(2, 2, stand_per)
    for col, field_name in enumerate(fields, start=1):
        sheet.cell(contract.file.header_row, col, header_map[field_name])
    r = contract.file.header_row
    for r, row in enumerate(rows, start=contract.file.header_row + 1):
        for col, field_name in enumerate(fields, start=1):
            if row.get(field_name) is not None:
                sheet.cell(r, col, row[field_name])
    for extra in extra_rows or []:
        r += 1
        for col, value in enumerate(extra, start=1):
            sheet.cell(r, col, value)
    workbook.save(path)
    return path


def good_row(n: int = 1, **overrides: Any) -> dict[str, Any]:
    row = {
        "record_id": f"R{n:04d}", "person_id": f"{1000000000 + n}", "family_name": "Testnaam",
        "given_name": "Test", "birth_date": date(1990, 1, 1), "intake_date": date(2019, 9, 1),
        "exit_date": None, "outcome": None, "follow_up": None,
    }
    row.update(overrides)
    return row


@pytest.fixture
def published(tmp_path) -> Path:
    """Two Amsterdam deliveries: in the second, one exit is registered late and one MOB corrected."""
    ams = contract_for("amsterdam")
    october = [good_row(1, exit_date=date(2020, 10, 20), outcome="MOB"), good_row(2),
               good_row(3, exit_date=date(2020, 10, 1), outcome="Vreemdelingenbewaring", follow_up="Uitgezet"),
               good_row(4, exit_date=date(2020, 10, 2), outcome="Gedwongen vertrek")]
    november = [good_row(1, exit_date=date(2020, 10, 20), outcome="Zelfstandig vertrek"),
                good_row(2, exit_date=date(2020, 10, 30), outcome="Art. 64"),
                october[2], october[3], good_row(5, intake_date=date(2020, 11, 3))]
    staged = tmp_path / "curated" / "staged"
    for period, rows, stand_per in (("2020-10", october, date(2020, 10, 31)),
                                    ("2020-11", november, date(2020, 11, 30))):
        path = write_sheet(tmp_path / "raw" / period / "a.xlsx", ams, rows, stand_per=stand_per)
        save_result(staged, process_delivery(path, ams, period, Pseudonymiser("test-key")))
    publish(tmp_path / "curated", curated_tables(staged))
    return tmp_path / "curated" / "lvv.duckdb"


@pytest.fixture
def amsterdam() -> SourceContract:
    return contract_for("amsterdam")


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every test that runs a whole flow (about 15 s to start)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def demo_published(tmp_path_factory, prefect_harness):
    """The synthetic demo written and run through the monthly-outflow flow, once per session, and a
    copy of its data made right then (pristine: before any test runs again on the run's own tree,
    as test_end_to_end does)."""
    from flows.monthly_outflow import RunParameters, monthly_outflow
    from lvv.demo import write_demo
    from lvv.settings import DataPaths

    paths = DataPaths.resolve(tmp_path_factory.mktemp("demo") / "data")
    demo = write_demo(paths.raw)
    summary = monthly_outflow(RunParameters(data_dir=str(paths.root), reference_date=date(2020, 11, 1)))
    pristine = DataPaths.resolve(tmp_path_factory.mktemp("demo-pristine") / "data")
    shutil.copytree(paths.root, pristine.root, symlinks=True)
    return paths, demo, summary, pristine


@pytest.fixture(scope="session")
def demo_run(demo_published):
    """The demo's data, its generator's record and the run's summary (tests may run on this tree)."""
    paths, demo, summary, _ = demo_published
    return paths, demo, summary


@pytest.fixture(scope="session")
def demo_pristine(demo_published):
    """The demo's data as its run left it: copy it to run on it, never write into it. A module that
    needs the demo published at 2020-11-01 takes a copy instead of running the flow again."""
    return demo_published[3]


@pytest.fixture(scope="session")
def demo_db(demo_run):
    """The demo's publication, opened read-only once per session."""
    import duckdb

    paths, _, _ = demo_run
    connection = duckdb.connect(str(paths.database), read_only=True)
    yield connection
    connection.close()
