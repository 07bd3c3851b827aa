"""The monthly flow fanned out over a local Dask cluster publishes what the default runner does."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet

pytestmark = pytest.mark.flow

PERIODS = (("2019-10", date(2019, 10, 31)), ("2019-11", date(2019, 11, 30)), ("2019-12", date(2019, 12, 31)))
EXITS = {  # row -> (first delivery that states the exit, exit date, label per municipality)
    1: ("2019-11", date(2019, 11, 5), {"amsterdam": "MOB", "rotterdam": "MOB", "eindhoven": "Onbekend vertrokken"}),
    2: ("2019-12", date(2019, 12, 2), {"amsterdam": "Zelfstandig vertrek", "rotterdam": "Terugkeer",
                                       "eindhoven": "Vertrek HL"}),
    3: ("2019-12", date(2019, 10, 20), {"amsterdam": "Vreemdelingenbewaring", "rotterdam": "Vreemdelingenbewaring, uitgezet",
                                        "eindhoven": "VB - uitgezet"}),
}


def _cell(contract, day: date):
    return day if contract.dates.stored_as == "date" else day.strftime(contract.dates.formats[0])


def write_network(root: Path) -> None:
    """Three pilots' layouts (two workbooks and a CSV), three months, exits stated late, a bad row."""
    for offset, municipality in enumerate(("amsterdam", "rotterdam", "eindhoven")):
        contract = contract_for(municipality)
        for period, stand_per in PERIODS:
            rows = []
            for n in range(1, 7):
                row = good_row(100 * offset + n, intake_date=_cell(contract, date(2019, 9, n)))
                first, exit_date, labels = EXITS.get(n, ("9999", None, {}))
                if period >= first:
                    row.update(exit_date=_cell(contract, exit_date), outcome=labels[municipality])
                    if municipality == "amsterdam" and n == 3:
                        row["follow_up"] = "Uitgezet"
                rows.append(row)
            if period == "2019-11":
                rows.append(good_row(100 * offset + 9, intake_date="onbekend"))  # quarantined
            folder = root / "raw" / municipality / period
            write_sheet(folder / f"lvv_{municipality}_{period}.{contract.file.type}", contract, rows, stand_per)


def figures(database: Path) -> dict:
    con = duckdb.connect(str(database), read_only=True)
    try:
        query = {
            "outflow": "select * from outflow(date '2019-12-31', definition := '{d}') order by all",
            "known_then": "select * from outflow(date '2019-12-31', known_at := date '2019-11-30') order by all",
            "occupancy": "select * from occupancy(date '2019-12-31') order by all",
            "deliveries": "select delivery_id, status, rows_read, rows_curated, rows_quarantined "
                          "from deliveries order by all",
            "versions": "select episode_id, version, person_id, exit_date, outcome_code, follow_up_code, "
                        "known_from, known_to from episode_versions order by all",
        }
        out = {name: con.execute(sql.format(d="programme")).fetchall() for name, sql in query.items()}
        out["evaluation-2021"] = con.execute(query["outflow"].format(d="evaluation-2021")).fetchall()
        return out
    finally:
        con.close()


KEY = "dask-test-key-not-secret"


def _published_bytes(curated: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(curated.glob("*.parquet"))}


def _child_runs(run_id) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id])))


@pytest.fixture(scope="module")
def threads_run(tmp_path_factory, prefect_harness) -> dict:
    """The network written once and published once by the threads runner (the reference both
    tests compare with): the files, what it published and stored, and what it asked and started."""
    import flows.monthly_outflow as module
    from flows.monthly_outflow import RunParameters, monthly_outflow

    base = tmp_path_factory.mktemp("dask")
    write_network(base / "network")  # the same files for every runner (a workbook keeps when it was written)
    root = base / "threads"
    shutil.copytree(base / "network", root)
    asked: list[str] = []
    size = module._size
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LVV_PSEUDONYM_KEY", KEY)
        patch.setattr(module, "_size", lambda item: asked.append(item.relative) or size(item))
        summary = monthly_outflow(RunParameters(data_dir=str(root), reference_date=date(2019, 12, 31),
                                                task_runner="threads"))
    return {"network": base / "network", "summary": summary, "asked": asked,
            "children": _child_runs(summary["run"]["run_id"]),
            "published": _published_bytes(root / "curated"),
            "stored": _stored_bytes(root), "figures": figures(root / "curated" / "lvv.duckdb")}


def _stored_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted((root / "curated" / "staged").glob("*/*/*.parquet"))}


def test_dask_runner_publishes_the_same_figures_as_the_default_runner(tmp_path, monkeypatch, threads_run):
    from flows.monthly_outflow import RunParameters, monthly_outflow

    monkeypatch.setenv("LVV_PSEUDONYM_KEY", KEY)
    root = tmp_path / "dask"
    shutil.copytree(threads_run["network"], root)
    summary = monthly_outflow(RunParameters(data_dir=str(root), reference_date=date(2019, 12, 31),
                                            task_runner="dask", dask_workers=2))
    threads_summary = threads_run["summary"]
    assert threads_summary["published"] and len(threads_summary["processed"]) == 9
    assert summary["published"] and len(summary["processed"]) == 9
    threads, dask = threads_run["figures"], figures(root / "curated" / "lvv.duckdb")
    assert threads["outflow"] and threads["occupancy"] and len(threads["deliveries"]) == 9
    assert sum(row[4] for row in threads["deliveries"]) == 3  # one quarantined row per municipality
    assert dask == threads


def test_choose_runner_takes_worker_processes_only_for_much_work_on_several_cores():
    from flows.monthly_outflow import AUTO_PROCESSES_BYTES, AUTO_WORKERS, choose_runner

    half = AUTO_PROCESSES_BYTES // 2
    assert choose_runner([half, half], cores=8) == ("processes", AUTO_WORKERS)
    assert choose_runner([half, half], cores=8, processes=6) == ("processes", 6)
    assert choose_runner([half, half], cores=1) == ("threads", None)  # one core: the workers' imports lost
    assert choose_runner([half, half - 1], cores=8) == ("threads", None)  # a month, the demo
    assert choose_runner([3 * AUTO_PROCESSES_BYTES], cores=8) == ("threads", None)  # one municipality: one task
    assert choose_runner([], cores=8) == ("threads", None)


def test_worker_processes_publish_byte_for_byte_what_threads_publish(tmp_path, monkeypatch, threads_run):
    """task_runner="auto" on much work (the threshold lowered, two cores): each municipality's task
    in a worker process (Prefect's ProcessPoolTaskRunner, a new interpreter each), which takes the
    key from its environment, never from a task parameter; the tables published are the bytes the
    threads runner publishes. Each file's size is asked once (to choose the runner and to submit the
    largest batch first), and not at all by the threads runner."""
    from prefect import get_client

    import flows.monthly_outflow as module
    from flows.monthly_outflow import RunParameters, monthly_outflow

    monkeypatch.setenv("LVV_PSEUDONYM_KEY", KEY)
    monkeypatch.setattr(module, "AUTO_PROCESSES_BYTES", 1)
    monkeypatch.setattr(module, "cores", lambda: 2)
    asked: list[str] = []
    size = module._size
    monkeypatch.setattr(module, "_size", lambda item: asked.append(item.relative) or size(item))
    # the threads runner (threads_run, the same files and key): no size asked, no subflow
    assert threads_run["summary"]["published"] and len(threads_run["summary"]["processed"]) == 9
    assert threads_run["asked"] == [] and not threads_run["children"]
    root = tmp_path / "processes"
    shutil.copytree(threads_run["network"], root)
    summary = monthly_outflow(RunParameters(data_dir=str(root), reference_date=date(2019, 12, 31),
                                            task_runner="auto"))
    assert summary["published"] and len(summary["processed"]) == 9
    assert (len(asked), len(set(asked))) == (9, 9)
    children = _child_runs(summary["run"]["run_id"])
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs()
    # the subflow on the process pool, its tasks' parameters without a key; its own parameters do not
    # list the files (Prefect refuses a flow run's parameters past 512 KB: 3,000 files pass it)
    assert len(children) == 1
    assert set(children[0].parameters) == {"paths", "run_id", "sizes"}
    mine = [t for t in task_runs if t.flow_run_id == children[0].id and t.name.startswith("process-")]
    assert sorted(t.name for t in mine) == ["process-amsterdam", "process-eindhoven", "process-rotterdam"]
    assert all(set(t.task_inputs) == {"municipality", "items", "paths", "run_id"} for t in mine)
    published = {"threads": threads_run["published"], "processes": _published_bytes(root / "curated")}
    stored = {"threads": threads_run["stored"], "processes": _stored_bytes(root)}
    assert set(published["threads"]) == {"deliveries.parquet", "episode_versions.parquet",
                                         "quarantined_rows.parquet", "validation_issues.parquet"}
    assert published["processes"] == published["threads"]
    assert len(stored["threads"]) >= 9 and stored["processes"] == stored["threads"]
    assert figures(root / "curated" / "lvv.duckdb") == threads_run["figures"]
