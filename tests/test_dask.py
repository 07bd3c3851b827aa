"""The monthly flow fanned out over a local Dask cluster publishes what the default runner does."""

from __future__ import annotations

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


def test_dask_runner_publishes_the_same_figures_as_the_default_runner(tmp_path, monkeypatch, prefect_harness):
    from flows.monthly_outflow import RunParameters, monthly_outflow

    monkeypatch.setenv("LVV_PSEUDONYM_KEY", "dask-test-key-not-secret")
    published = {}
    for runner in ("threads", "dask"):
        root = tmp_path / runner
        write_network(root)
        summary = monthly_outflow(RunParameters(data_dir=str(root), reference_date=date(2019, 12, 31),
                                                task_runner=runner, dask_workers=2))
        assert summary["published"], runner
        assert len(summary["processed"]) == 9
        published[runner] = figures(root / "curated" / "lvv.duckdb")
    threads, dask = published["threads"], published["dask"]
    assert threads["outflow"] and threads["occupancy"] and len(threads["deliveries"]) == 9
    assert sum(row[4] for row in threads["deliveries"]) == 3  # one quarantined row per municipality
    assert dask == threads
