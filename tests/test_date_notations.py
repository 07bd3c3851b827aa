"""A column of unreadable dates told once, with the notation it is written in (transforms/date_notations.py).

Hand-made files in a layout of their own (a CSV of a municipality no pilot is, its contract written
here): a column of ISO dates, one of day-first dates with a time, a column half in the contract's
notation and half in another, an ambiguous one (day or month first) and one of real garbage. Each
goes through the check a steward runs (check_delivery), the steward report and `lvv validate`."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import load_contract
from schemas.checks import limits
from transforms import stage
from transforms.date_notations import CODES, FIRST_YEAR, NOTATIONS, notation_findings, pattern, written_in
from transforms.delivery import check_delivery, process_delivery
from transforms.protect import Pseudonymiser
from transforms.steward_report import write_steward_report
from transforms.store import load_table, save_result
from transforms.values import notation

CONTRACT = """\
municipality: zeewolde
display_name: Zeewolde
pilot_start: 2019-01-01
grain: one row per stay
file:
  type: csv
  encoding: utf-8
  delimiter: ";"
  header_row: 1
columns:
  record_id: Dossier
  person_id: Vnr
  intake_date: Begin opvang
  exit_date: Einde opvang
  outcome: Reden einde
dates:
  stored_as: text
  formats: ["%d-%m-%Y"]
outcomes:
  Terug naar land: return_independent
  Vergunning: permit_granted
"""
PSEUDO = Pseudonymiser("notation-test-key")


def days(n: int, start: date = date(2019, 3, 2), step: int = 11) -> list[date]:
    """n days spread over the months and over days of the month above and below 12."""
    return [start + timedelta(days=step * i) for i in range(n)]


def write_export(folder: Path, intakes: list[str], exits: list[str] | None = None) -> tuple[Path, object]:
    """A hand-made CSV export (one row per intake text; the exit column as given, else empty)
    and its contract."""
    (folder / "contracts").mkdir(parents=True, exist_ok=True)
    (folder / "contracts" / "zeewolde.yaml").write_text(CONTRACT, encoding="utf-8")
    exits = exits or [""] * len(intakes)
    lines = ["Dossier;Vnr;Begin opvang;Einde opvang;Reden einde"]
    for i, (intake, exit_) in enumerate(zip(intakes, exits)):
        lines.append(f"Z-{i:04d};{4000000000 + 7919 * i};{intake};{exit_};{'Vergunning' if exit_ else ''}")
    path = folder / "2020-10" / "uitvoer.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, load_contract(folder / "contracts" / "zeewolde.yaml")


def notes_of(folder: Path, intakes: list[str], exits: list[str] | None = None):
    path, contract = write_export(folder, intakes, exits)
    result = check_delivery(path, contract, "2020-10", PSEUDO)
    return notation_findings(result.findings), result


# ------------------------------------------------------------------ one cell
@pytest.mark.parametrize(("text", "read_by"), [
    ("2019-07-25", ("%Y-%m-%d",)),
    ("25-07-2019 00:00:00", ("%d-%m-%Y %H:%M:%S",)),
    ("2019-07-25T08:30", ("%Y-%m-%dT%H:%M",)),
    ("25/07/2019", ("%d/%m/%Y",)),
    ("07/25/2019", ("%m/%d/%Y",)),
    ("07/08/2019", ("%d/%m/%Y", "%m/%d/%Y")),  # both read it: the cell alone does not say which
    ("20190725", ("%Y%m%d",)),
    ("25.07.19", ("%d.%m.%y",)),
    ("31-02-2020", ()),  # no day in any notation
    ("2019-13-45", ()),
    ("onbekend", ()),
    ("2019-07-25" * 4, ()),  # longer than a date with its time: not looked at
])
def test_a_cell_is_read_by_the_notations_that_take_it(text, read_by):
    assert written_in(text) == read_by


def strptime_reads(text: str) -> set[str]:
    """The notations the contract's own parse (strptime) would read `text` by, from FIRST_YEAR."""
    found = set()
    for fmt in NOTATIONS:
        try:
            if datetime.strptime(text, fmt).year >= FIRST_YEAR:
                found.add(fmt)
        except ValueError:
            pass
    return found


def digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=low, max_size=high)


#: texts of a date's shape (digit groups, a separator, a time or not), most near a real date
date_like = st.one_of(
    digits(8, 8),
    st.builds(lambda a, s, b, c, t: f"{a}{s}{b}{s}{c}{t}", digits(1, 4), st.sampled_from("-/."), digits(1, 2),
              digits(1, 4), st.one_of(st.just(""), st.builds(
                  lambda sep, h, m, rest: f"{sep}{h}:{m}{rest}", st.sampled_from(" T"), digits(1, 2), digits(2, 2),
                  st.one_of(st.just(""), st.builds(lambda sec, f: f":{sec}{f}", digits(2, 2),
                                                   st.one_of(st.just(""), digits(1, 6).map(lambda x: "." + x))))))),
    st.builds(lambda d, fmt: d.strftime(fmt), st.datetimes(datetime(1890, 1, 1), datetime(2100, 12, 31)),
              st.sampled_from(NOTATIONS)),
)


@settings(max_examples=600, deadline=None)
@given(date_like)
def test_a_date_shaped_text_is_read_by_the_notations_strptime_reads_it_by(text):
    """written_in works the answer out from the digits; strptime, which the contract's parse uses
    once a notation is among its formats, gives the same one."""
    assert set(written_in(text)) == strptime_reads(text)


@settings(max_examples=300, deadline=None)
@given(st.text(" 0123456789-/.:Tx", max_size=24))
def test_a_notation_named_is_one_strptime_reads_the_text_by(text):
    assert set(written_in(text)) <= strptime_reads(text.strip())


def test_a_number_cell_has_no_notation():
    """A contract's formats are for text: 20190725 as a number would not be read by '%Y%m%d'."""
    assert written_in(20190725) == () and written_in(20190725.0) == ()


def test_a_pattern_is_written_as_a_steward_writes_it():
    assert pattern("%d-%m-%Y %H:%M:%S", "nl") == "dd-mm-jjjj uu:mm:ss"
    assert pattern("%Y-%m-%d", "en") == "yyyy-mm-dd"


# ------------------------------------------------------------------ one column, once
def test_a_column_of_iso_dates_is_told_once_with_its_notation(tmp_path):
    texts = [d.isoformat() for d in days(30)]
    notes, result = notes_of(tmp_path, texts)
    assert [f.code for f in result.findings].count("date-unparseable") == 30
    [note] = notes
    assert note.code == "date-notation-other"
    assert (note.field, note.column_letter, note.column_header, note.excel_row) == (
        "intake_date", "C", "Begin opvang", None)
    assert note.params["format"] == "%Y-%m-%d" and (note.params["count"], note.params["cells"]) == (30, 30)
    row = note.as_row("nl")
    assert "jjjj-mm-dd" in row["message"] and "'%Y-%m-%d'" in row["fix"] and "dates.formats" in row["fix"]
    assert note.as_row("en")["message"].count("yyyy-mm-dd") == 1
    # no value, no date of the column: only where, how many and the pattern
    shown = " ".join(str(v) for v in row.values())
    assert row["value"] == "" and not any(t in shown for t in texts)


def test_nothing_is_accepted_that_the_contract_does_not_list(tmp_path):
    """The notation is told, not taken: every row stays quarantined, as without the note."""
    _, result = notes_of(tmp_path, [d.isoformat() for d in days(12)])
    assert (result.delivery["rows_curated"], result.delivery["rows_quarantined"]) == (0, 12)


def test_day_first_with_a_time(tmp_path):
    [note], _ = notes_of(tmp_path, [f"{d:%d-%m-%Y} 00:00:00" for d in days(20)])
    assert note.code == "date-notation-other" and note.params["format"] == "%d-%m-%Y %H:%M:%S"
    assert note.params["pattern_nl"] == "dd-mm-jjjj uu:mm:ss"


def test_a_mixed_column_tells_of_the_half_the_contract_does_not_list(tmp_path):
    spread = days(40)
    texts = [f"{d:%d-%m-%Y}" if i % 2 else f"{d:%Y-%m-%d}" for i, d in enumerate(spread)]
    [note], result = notes_of(tmp_path, texts)
    assert result.delivery["rows_curated"] == 20  # the contract's half reads as before
    assert note.params["format"] == "%Y-%m-%d" and (note.params["count"], note.params["cells"]) == (20, 20)


def test_most_in_one_notation_and_some_garbage(tmp_path):
    texts = [d.isoformat() for d in days(9)] + ["onbekend", "?", "31-02-2020"]
    [note], _ = notes_of(tmp_path, texts)
    assert (note.params["count"], note.params["cells"]) == (9, 12)
    assert "9 van de 12" in note.as_row("nl")["message"]


def test_real_garbage_tells_of_no_notation(tmp_path):
    notes, result = notes_of(tmp_path, ["onbekend", "n.v.t.", "31-02-2020", "2019-13-45", "volgt", "??"])
    assert [f.code for f in result.findings].count("date-unparseable") == 6 and notes == []


def test_no_notation_when_it_is_not_most_of_the_column(tmp_path):
    """Two ISO dates among four of garbage: not the column's notation, and nothing is told."""
    notes, _ = notes_of(tmp_path, ["2019-07-25", "2019-08-30", "onbekend", "volgt", "??", "n.v.t."])
    assert notes == []


def test_an_ambiguous_column_is_called_ambiguous_not_guessed(tmp_path):
    texts = [f"{d:%d/%m/%Y}" for d in days(10) if d.day <= 12] + ["03/04/2020", "11/12/2019"]
    [note], _ = notes_of(tmp_path, texts)
    assert note.code == "date-notation-ambiguous" and "format" not in note.params
    message = note.as_row("nl")["message"]
    assert "dd/mm/jjjj" in message and "mm/dd/jjjj" in message
    assert "dd/mm/yyyy or mm/dd/yyyy" in note.as_row("en")["message"]


def test_one_cell_that_only_one_order_reads_decides_the_column(tmp_path):
    texts = ["07/08/2019", "03/04/2020", "11/12/2019", "25/08/2019"]
    [note], _ = notes_of(tmp_path, texts)
    assert note.code == "date-notation-other" and note.params["format"] == "%d/%m/%Y"


def test_each_date_column_is_told_on_its_own(tmp_path):
    spread = days(16)
    intakes = [d.isoformat() for d in spread]
    exits = [f"{d + timedelta(days=40):%d-%m-%Y} 00:00:00" for d in spread]
    notes, _ = notes_of(tmp_path, intakes, exits)
    assert {(f.field, f.params["format"]) for f in notes} == {
        ("intake_date", "%Y-%m-%d"), ("exit_date", "%d-%m-%Y %H:%M:%S")}


# ------------------------------------------------------------------ the monthly run
def test_the_monthly_run_stores_the_note_counted_over_every_cell_not_the_kept_ones(tmp_path):
    """process_delivery keeps a bounded number of findings per check (findings_per_check); the
    note is told from all of a column's unreadable cells before that, and stored with the
    delivery's findings (what validation_issues holds) as lvv validate tells it."""
    cells = limits().findings_per_check + 50
    path, contract = write_export(tmp_path, [d.isoformat() for d in days(cells, step=1)])
    result = process_delivery(path, contract, "2020-10", PSEUDO)
    [note] = [f for f in result.findings if f.code in CODES]
    assert note.code == "date-notation-other" and note.params["format"] == "%Y-%m-%d"
    assert (note.params["count"], note.params["cells"]) == (cells, cells)
    kept = [f for f in result.findings if f.code == "date-unparseable"]
    assert len(kept) == limits().findings_per_check < cells  # the cap holds: the note is not counted from these
    [told] = notation_findings(check_delivery(path, contract, "2020-10", PSEUDO).findings)
    assert note.as_row("en") == told.as_row("en")  # what lvv validate tells of the same file
    assert result.delivery["rows_quarantined"] == cells  # told, not accepted
    save_result(tmp_path / "staged", result)
    stored = load_table(tmp_path / "staged", "findings")
    [row] = stored[stored["code"] == "date-notation-other"].to_dict("records")
    assert f"{cells} van de {cells}" in row["message"] and "jjjj-mm-dd" in row["message"]
    assert pd.isna(row["excel_row"]) and row["value"] == "" and row["severity"] == "info"


def test_a_delivery_with_dates_it_reads_stores_no_note(tmp_path):
    path, contract = write_export(tmp_path, [f"{d:%d-%m-%Y}" for d in days(12)])
    assert not any(f.code in CODES for f in process_delivery(path, contract, "2020-10", PSEUDO).findings)


# ------------------------------------------------------------------ the cost of staging
def test_the_accepted_notation_is_worked_out_once_per_contract_not_per_cell(tmp_path, monkeypatch):
    """Each unreadable date's finding names the contract's notations; staging works that text out
    once (ParseMemo), not once per cell (8 microseconds each, at every cell of a column)."""
    worked_out = []

    def counting(formats):
        worked_out.append(formats)
        return notation(formats)

    monkeypatch.setattr(stage, "notation", counting)
    path, contract = write_export(tmp_path, [d.isoformat() for d in days(30)])
    for check in (process_delivery, check_delivery):
        worked_out.clear()
        found = check(path, contract, "2020-10", PSEUDO).findings
        accepted = {f.params["accepted"] for f in found if f.code == "date-unparseable"}
        assert accepted == {"31-10-2020"} and worked_out == [contract.dates.formats]


# ------------------------------------------------------------------ where the steward sees it
def summary_texts(book) -> list[str]:
    return [str(row[0]) for row in book.worksheets[0].iter_rows(values_only=True) if row and row[0] is not None]


def test_the_report_tells_each_column_once_above_the_findings(tmp_path):
    spread = days(16)
    path, contract = write_export(tmp_path, [d.isoformat() for d in spread],
                                  [f"{d + timedelta(days=40):%d-%m-%Y} 00:00:00" for d in spread])
    result = check_delivery(path, contract, "2020-10", PSEUDO)
    out = write_steward_report(path, contract, result.findings, tmp_path / "controle.xlsx", "nl", result.delivery)
    texts = summary_texts(openpyxl.load_workbook(out))
    told = [t for t in texts if t.startswith("Kolom ")]
    assert len(told) == 2 and texts.index("Datums in een andere notatie") < texts.index("Per ernst")
    assert "Kolom C (Begin opvang)" in told[0] and "jjjj-mm-dd" in told[0] and "Wat te doen" in told[0]
    assert "Kolom D (Einde opvang)" in told[1] and "dd-mm-jjjj uu:mm:ss" in told[1]
    assert not any(d.isoformat() in t for t in told for d in spread)


def test_lvv_validate_tells_the_column_once_and_still_fails(tmp_path, monkeypatch):
    texts = [d.isoformat() for d in days(25)]
    path, _ = write_export(tmp_path, texts)
    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "contracts"))
    runner = CliRunner()
    shown = runner.invoke(app, ["validate", str(path), "--municipality", "zeewolde", "--lang", "en"])
    assert shown.exit_code == 1, shown.output  # the errors stand: the notation is told, not accepted
    lines = shown.output.splitlines()
    heading = lines.index("Dates in another notation:")
    told = " ".join(lines[heading + 1:]).split("Findings")[0]  # the note (wrapped) up to the table of cells
    assert "Column C (Begin opvang): 25 of the 25" in told and "yyyy-mm-dd" in told and "'%Y-%m-%d'" in told
    assert shown.output.count("Dates in another notation") == 1
    as_json = json.loads(runner.invoke(app, ["validate", str(path), "--municipality", "zeewolde",
                                             "--format", "json"]).output)
    [note] = [f for f in as_json["findings"] if f["code"] == "date-notation-other"]
    assert (note["column_letter"], note["severity"], note["value"], note["excel_row"]) == ("C", "info", "", None)
