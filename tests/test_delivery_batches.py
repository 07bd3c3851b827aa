"""process_deliveries: a municipality's deliveries staged and validated in batches give exactly
what process_delivery gives one delivery at a time, whatever the batch size."""

import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.delivery import DeliveryInput, DeliveryResult, month_end, process_deliveries, process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import read_source
from transforms.stage import ParseMemo, parse_rows

PSEUDO = Pseudonymiser("test-key")


def _deliveries(folder: Path) -> list[DeliveryInput]:
    """Four Amsterdam months: the same rows repeated (with the same mistakes), a duplicate
    record number inside one month, a wrong-period file in the middle, a new exit later."""
    ams = contract_for("amsterdam")
    base = [good_row(1), good_row(2, person_id="12345"),  # malformed V-number, every month
            good_row(3, exit_date=date(2020, 5, 1), outcome="Gedwongen vertrok"),  # unknown label
            good_row(4, intake_date="31-02-2020")]  # no such date
    months = {
        "2020-08": base,
        "2020-09": base + [good_row(5), good_row(5, person_id="1000000099")],  # R0005 twice
        "2020-10": base,  # written with a September stand-per date: rejected
        "2020-11": [good_row(1, exit_date=date(2020, 11, 2), outcome="MOB"), *base[1:], good_row(5)],
    }
    items = []
    for period, rows in months.items():
        stand = date(2020, 9, 30) if period == "2020-10" else month_end(period)
        path = write_sheet(folder / period / f"LVV_{period}.xlsx", ams, rows, stand_per=stand)
        items.append(DeliveryInput(path, period, f"amsterdam/{period}/{path.name}"))
    return items


def _comparable(result: DeliveryResult) -> tuple:
    findings = sorted((f.code, f.excel_row, f.cell_ref, f.value, f.file, str(sorted(f.params.items())))
                      for f in result.findings)
    return (result.delivery, result.episodes.to_dict("records"), result.quarantine.to_dict("records"), findings)


@pytest.mark.parametrize("batch_rows", [1, 7, 10_000])
def test_batches_give_what_one_delivery_at_a_time_gives(tmp_path, batch_rows):
    items = _deliveries(tmp_path)
    ams = contract_for("amsterdam")
    alone = [process_delivery(i.path, ams, i.period, PSEUDO, display_name=i.name) for i in items]
    batched = list(process_deliveries(items, ams, PSEUDO, batch_rows=batch_rows))
    assert [r.delivery["period"] for r in batched] == [i.period for i in items]
    assert [_comparable(r) for r in batched] == [_comparable(r) for r in alone]


def test_each_delivery_keeps_its_own_findings_and_rows(tmp_path):
    items = _deliveries(tmp_path)
    results = {r.delivery["period"]: r for r in process_deliveries(items, contract_for("amsterdam"), PSEUDO)}
    assert results["2020-10"].delivery["status"] == "rejected"
    assert [f.code for f in results["2020-10"].findings] == ["period-inconsistent"]
    for period in ("2020-08", "2020-09", "2020-11"):
        found = {(f.code, f.excel_row) for f in results[period].findings}
        # the repeated rows carry their mistakes in every month, each at its own sheet row
        assert {("person-id-malformed", 7), ("outcome-unknown-label", 8), ("date-unparseable", 9)} <= found
        assert {f.file for f in results[period].findings} == {f"amsterdam/{period}/LVV_{period}.xlsx"}
    # a record number repeated within September is a duplicate there; R0005 again in November is not
    assert sorted(f.excel_row for f in results["2020-09"].findings if f.code == "episode-duplicate") == [10, 11]
    assert not [f for f in results["2020-11"].findings if f.code == "episode-duplicate"]
    assert results["2020-11"].delivery["rows_curated"] == 2 and results["2020-11"].delivery["rows_quarantined"] == 3
    assert set(results["2020-11"].episodes["delivery_id"]) == {"amsterdam/2020-11"}


def test_a_repeated_row_is_parsed_once_and_located_where_it_stands(tmp_path, amsterdam):
    rows = [good_row(1, intake_date="31-02-2020")]
    first = read_source(write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 9, 30)), amsterdam)
    later = read_source(write_sheet(tmp_path / "b.xlsx", amsterdam, [good_row(2), *rows],
                                    stand_per=date(2020, 10, 31)), amsterdam)
    memo = ParseMemo(amsterdam)
    parse_rows(first, amsterdam, memo=memo)
    seen = sum(len(rows) for rows in memo.rows.values())
    again = parse_rows(later, amsterdam, memo=memo)
    assert sum(len(rows) for rows in memo.rows.values()) == seen + 1  # only good_row(2) was new
    [finding] = [f for f in again.findings if f.code == "date-unparseable"]
    assert (finding.file, finding.excel_row) == ("b.xlsx", first.excel_rows[0] + 1)
    assert [r["excel_row"] for r in again.records] == later.excel_rows


def test_validating_a_delivery_does_not_import_dask(tmp_path, amsterdam):
    """dask is installed for the Dask task runner; a pandera DataFrameModel would import
    dask.dataframe (about a second) in every run that validates (schemas/episodes.py)."""
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1), good_row(1)], stand_per=date(2020, 10, 31))
    script = ("import sys\nfrom schemas.contracts import contract_for\nfrom transforms.delivery import process_delivery\n"
              "from transforms.protect import Pseudonymiser\n"
              f"r = process_delivery(__import__('pathlib').Path({str(path)!r}), contract_for('amsterdam'), '2020-10',"
              " Pseudonymiser('k'))\n"
              "print(sorted(f.code for f in r.findings), 'dask' in sys.modules)")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120)
    assert done.stdout.strip() == "['episode-duplicate', 'episode-duplicate'] False", done.stdout + done.stderr[-500:]


def test_equal_cells_of_different_types_are_not_taken_for_the_same_row(tmp_path, amsterdam):
    """1 and True are equal in Python; a row memo keyed by values alone would show the first
    delivery's cell in the second delivery's finding."""
    first = read_source(write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1, exit_date=date(2020, 5, 1),
                                                                              outcome=1)]), amsterdam)
    later = read_source(write_sheet(tmp_path / "b.xlsx", amsterdam, [good_row(1, exit_date=date(2020, 5, 1),
                                                                              outcome=True)]), amsterdam)
    memo = ParseMemo(amsterdam)
    parse_rows(first, amsterdam, memo=memo)
    [finding] = [f for f in parse_rows(later, amsterdam, memo=memo).findings if f.code == "outcome-unknown-label"]
    assert finding.value == "True"


def test_each_row_gets_its_own_pseudonyms_and_dates_when_they_are_computed_once_per_value(tmp_path, amsterdam):
    """The batch pseudonymises each distinct identifier once and converts each distinct day once:
    every row still gets the pseudonyms of its own identifiers and its own dates; a delivery all of
    whose rows are quarantined gives an empty table of the curated columns."""
    from transforms.delivery import EPISODE_COLUMNS

    rows = [good_row(1), good_row(2, person_id="1000000001"), good_row(3, exit_date=date(2020, 9, 2), outcome="MOB"),
            good_row(4, person_id="0970859557", intake_date=date(2020, 1, 31))]
    items = []
    for period, sheet_rows in (("2020-09", rows), ("2020-10", rows[::-1]), ("2020-11", [good_row(9, person_id="1")])):
        path = write_sheet(tmp_path / period / "a.xlsx", amsterdam, sheet_rows, stand_per=month_end(period))
        items.append(DeliveryInput(path, period, path.name))
    results = list(process_deliveries(items, amsterdam, PSEUDO))
    for result, sheet_rows in zip(results[:2], (rows, rows[::-1])):
        episodes = result.episodes
        assert list(episodes["person_id"]) == [PSEUDO.person(r["person_id"]) for r in sheet_rows]
        assert list(episodes["episode_id"]) == [PSEUDO.episode("amsterdam", r["record_id"]) for r in sheet_rows]
        assert list(episodes["intake_date"]) == [r["intake_date"] for r in sheet_rows]
        assert [None if pd.isna(d) else d for d in episodes["exit_date"]] == [r["exit_date"] for r in sheet_rows]
        assert set(episodes["delivery_id"]) == {result.delivery["delivery_id"]}
    assert results[2].episodes.empty and list(results[2].episodes.columns) == EPISODE_COLUMNS[1:]
    assert results[2].delivery["rows_quarantined"] == 1
