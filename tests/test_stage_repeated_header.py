"""A header row repeated below the data: two exports joined into one file (a CSV appended to
another with its own header line, a sheet's rows pasted under another's). Every file here is
written by hand, its CSV bytes or worksheet XML spelled out (tests/test_unseen_exports_2.py's
helpers), not by the demo's generator.

The row is one located warning, `row-header-repeated`, and skipped as no data (as a totals or
notes line is): nothing else of the file reads otherwise. Before, it was quarantined with four
findings that named its cells as a date, a V-number and a label ("'Startdatum' is not a date")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import contract_for, normalise_label
from tests.test_unseen_exports_2 import EXPORT, HEADER, ROWS, sheet_xml, workbook
from transforms import stage
from transforms.delivery import check_delivery, process_delivery
from transforms.protect import Pseudonymiser

EINDHOVEN, ROTTERDAM = contract_for("eindhoven"), contract_for("rotterdam")
PSEUDO = Pseudonymiser("repeated-header-key")
#: the second export: other stays of other people (record numbers, V-numbers of its own)
LATER = [["4201", "0312345601", "Jansen", "01-02-1970", "03-08-2020", "", ""],
         ["4202", "0312345602", "Öztürk", "14-05-1988", "11-08-2020", "30-09-2020", "Herh. aanvraag"]]


def csv_export(path: Path, rows: list[list[str]]) -> Path:
    """A CSV as Eindhoven's export writes it (';', cp1252, CRLF); a row [] is an empty line."""
    path.write_bytes("".join(";".join(r) + "\r\n" for r in rows).encode("cp1252"))
    return path


def located(findings) -> list[tuple]:
    return [(f.code, f.excel_row, f.column_letter, f.value, f.params) for f in findings]


def test_two_exports_joined_are_one_warning_at_the_header_and_nothing_else_reads_otherwise(tmp_path):
    """The same file with an empty line where the second header stands is the reference: the
    same sheet rows, the same stays, the same findings, but for the one warning."""
    joined = csv_export(tmp_path / "joined.csv", EXPORT + [EXPORT[0]] + LATER)
    plain = csv_export(tmp_path / "plain.csv", EXPORT + [[]] + LATER)
    result = process_delivery(joined, EINDHOVEN, "2020-10", PSEUDO)
    reference = process_delivery(plain, EINDHOVEN, "2020-10", PSEUDO)
    header = [f for f in result.findings if f.code == "row-header-repeated"]
    assert [(f.excel_row, f.severity, f.params) for f in header] == [(5, "warning", {"matched": 7, "columns": 7})]
    assert located(f for f in result.findings if f.code != "row-header-repeated") == located(reference.findings)
    assert result.episodes.equals(reference.episodes) and len(result.episodes) == 5 and len(result.quarantine) == 0
    assert result.delivery["rows_skipped"] == 1
    assert {k: v for k, v in result.delivery.items() if k not in ("file", "sha256", "rows_read", "rows_skipped")} == \
        {k: v for k, v in reference.delivery.items() if k not in ("file", "sha256", "rows_read", "rows_skipped")}
    message = header[0].as_row("en")["message"]
    assert "repeats the header" in message and "two exports joined" in message


def test_the_steward_s_check_says_the_same_and_lets_the_file_through(tmp_path):
    """check_delivery (lvv validate) parses row by row, the pipeline column by column: one verdict."""
    joined = csv_export(tmp_path / "joined.csv", EXPORT + [EXPORT[0]] + LATER)
    full, quick = process_delivery(joined, EINDHOVEN, "2020-10", PSEUDO), check_delivery(joined, EINDHOVEN, "2020-10", PSEUDO)
    assert located(quick.findings) == located(full.findings)
    assert quick.delivery["rows_skipped"] == 1 and quick.delivery["rows_quarantined"] == 0
    done = CliRunner().invoke(app, ["validate", str(joined), "--municipality", "eindhoven", "--period", "2020-10",
                                    "--lang", "en", "--all"])
    assert done.exit_code == 0, done.output  # a warning: the file can be delivered
    assert "repeats the header" in done.output and "is not a date" not in done.output


def test_the_stays_the_second_export_repeats_are_told_as_duplicates(tmp_path):
    """The same export twice: the header row is the warning; the stays that stand above and below
    it are the duplicates they are (episode-duplicate, each naming the other row), as the
    warning's fix says; the header row is in none of them."""
    joined = csv_export(tmp_path / "twice.csv", EXPORT + EXPORT)
    result = process_delivery(joined, EINDHOVEN, "2020-10", PSEUDO)
    codes = [(f.code, f.excel_row) for f in result.findings]
    assert codes.count(("row-header-repeated", 5)) == 1
    assert sorted(row for code, row in codes if code == "episode-duplicate") == [2, 3, 4, 6, 7, 8]
    assert {code for code, _ in codes} == {"row-header-repeated", "episode-duplicate"}
    assert sorted(result.quarantine["excel_row"]) == [2, 3, 4, 6, 7, 8]
    assert set(result.quarantine["reasons"]) == {"episode-duplicate"}
    assert "episode-duplicate" in result.findings[0].as_row("en")["fix"]


@pytest.mark.parametrize("intake", ["Instroom", "Datum instroom"])
def test_a_header_written_otherwise_is_the_header_as_the_contract_matches_it(tmp_path, intake):
    """A workbook with the second part's header in capitals, with spaces nobody sees, a trailing
    dot, and a column or two named otherwise (the intake date's too): its cells are the header's
    names as the contract compares names (normalise_label), most of them; the row is skipped."""
    again = ["KENMERK ", "v-nr", "\u00a0Achternaam", "Voornaam.", "Geboorte datum", intake, "UITSTROOM",
             "Resultaat"]
    later = [["K9", "0312345699", "G", "H", "09-09-1991", "01-10-2020", None, None]]
    path = workbook(tmp_path / "a.xlsx", [("LVV", sheet_xml([HEADER] + ROWS + [again] + later), None)])
    result = process_delivery(path, ROTTERDAM, "2020-10", PSEUDO)
    assert [(f.code, f.excel_row, f.params) for f in result.findings] == [
        ("row-header-repeated", 5, {"matched": 7 if intake == "Instroom" else 6, "columns": 8})]
    assert sorted(result.episodes["excel_row"]) == [2, 3, 4, 6] and len(result.quarantine) == 0


def _row_with_names(fields: list[str]) -> list:
    """A Rotterdam data row whose cells of `fields` hold their column's name instead."""
    row = ["K7", "0312345677"] + list(ROWS[1][2:])
    for f in fields:
        row[ROTTERDAM_POSITIONS[f]] = ROTTERDAM.columns[f]
    return row


ROTTERDAM_POSITIONS = {f: HEADER.index(name) for f, name in ROTTERDAM.columns.items()}


@pytest.mark.parametrize("named, header", [
    (["intake_date"], False),                                              # one coincidental cell
    (["intake_date", "outcome", "exit_date", "family_name"], False),       # half of the 8: not most
    (["intake_date", "outcome", "exit_date", "family_name", "given_name"], True),  # most
])
def test_a_row_is_the_header_only_when_most_of_its_cells_are_the_names(tmp_path, named, header):
    row = _row_with_names(named)
    path = workbook(tmp_path / "a.xlsx", [("LVV", sheet_xml([HEADER] + ROWS + [row]), None)])
    result = process_delivery(path, ROTTERDAM, "2020-10", PSEUDO)
    codes = {f.code for f in result.findings if f.excel_row == 5}
    if header:
        assert codes == {"row-header-repeated"} and result.delivery["rows_skipped"] == 1
    else:  # a row of data with a cell that is a name: the cell is what it is (no date), the row quarantined
        assert "row-header-repeated" not in codes and "date-unparseable" in codes
        assert list(result.quarantine["excel_row"]) == [5]


def test_only_a_row_whose_intake_is_no_date_has_its_cells_compared(tmp_path, monkeypatch):
    """The cheap test first: a row whose intake cell reads as a date is no header, and its cells
    are never compared with the names; a row of unreadable intake dates (another notation) has
    only its date cells compared, each text of them once (the days repeat), not every cell."""
    compared: list[str] = []

    names = set(EINDHOVEN.columns.values())

    def counting(label: object) -> str:
        if label not in names:  # a cell, not the contract's own names (normalised once per contract)
            compared.append(str(label))
        return normalise_label(label)

    monkeypatch.setattr(stage, "normalise_label", counting)
    good = [[f"40{i:02d}", f"03123456{i:02d}", "N", "01-01-1980", "01-08-2020", "", ""] for i in range(40)]
    path = csv_export(tmp_path / "good.csv", [EXPORT[0]] + good)
    for check in (process_delivery, check_delivery):
        check(path, EINDHOVEN, "2020-10", PSEUDO)
    assert compared == []
    # every cell filled, the dates ISO: each intake and exit unreadable
    other = [row[:4] + ["2020-08-01", "2020-09-01", "Herh. aanvraag"] for row in good]
    path = csv_export(tmp_path / "iso.csv", [EXPORT[0]] + other)
    found = check_delivery(path, EINDHOVEN, "2020-10", PSEUDO).findings
    assert [f.code for f in found].count("date-unparseable") == 2 * len(other)
    assert sorted(compared) == ["2020-08-01", "2020-09-01"]
