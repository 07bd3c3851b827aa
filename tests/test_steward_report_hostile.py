"""The steward's report (`lvv validate --report`) of exports no generator of ours writes.

Each file is made here by hand: merged cells over a problem cell, control characters in a CSV,
a UTF-16 export (Excel's 'Unicode text'), and a 60-byte merged range over the whole sheet. The
report must be written (never an "unexpected error"), mark what it can, and cost no more than the
limits allow (openpyxl makes an object of every merged cell: 17 billion for the last file, which
the limits' pass refuses, so the report is a summary only and the workbook is never opened again).
"""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.delivery import check_delivery
from transforms.protect import Pseudonymiser
from transforms.steward_report import FILLS, write_steward_report

OCT = date(2020, 10, 31)
runner = CliRunner()


def _report(source: Path, municipality: str, out: Path):
    contract = contract_for(municipality)
    result = check_delivery(source, contract, "2020-10", Pseudonymiser("test-key"))
    write_steward_report(source, contract, result.findings, out, "en", result.delivery)
    return openpyxl.load_workbook(out), result


def _utrecht(tmp_path: Path) -> Path:
    rows = [good_row(1, exit_date=date(2020, 9, 1), outcome="Eigen netwerk"), good_row(2), good_row(3)]
    return write_sheet(tmp_path / "utrecht.xlsx", contract_for("utrecht"), rows, stand_per=OCT)


def test_a_problem_cell_under_a_merged_range_is_marked_on_the_cell_excel_shows(tmp_path):
    source = _utrecht(tmp_path)
    book = openpyxl.load_workbook(source)
    sheet = book["Export"]
    sheet.merge_cells("G3:H3")   # the exit date over the outcome: H3 (outcome) reads as empty
    sheet.merge_cells("A4:A5")   # one record number over two rows: A5 reads as empty
    book.save(source)
    report, result = _report(source, "utrecht", tmp_path / "report.xlsx")
    codes = {(f.code, f.cell_ref) for f in result.findings}
    assert {("exit-without-outcome", "H3"), ("record-id-missing", "A5")} <= codes
    data = report["Export"]
    assert "exit-without-outcome" in data["G3"].comment.text and data["G3"].fill.start_color.rgb.endswith(FILLS["error"])
    assert "record-id-missing" in data["A4"].comment.text
    assert data["A4"].value == "R0002"  # the merged cell's own value is kept


def test_control_characters_and_nuls_of_a_csv_become_visible_marks_not_a_crash(tmp_path):
    contract = contract_for("eindhoven")
    source = write_sheet(tmp_path / "e.csv", contract, [good_row(1, family_name="Bell\x07Naam",
                                                               intake_date="01-09-2019")])
    report, _ = _report(source, "eindhoven", tmp_path / "report.xlsx")
    assert report.sheetnames[1] == "Data"
    assert report["Data"]["C2"].value == "Bell\ufffdNaam"
    wide = tmp_path / "utf16.csv"   # Excel's "Unicode text": UTF-16 with its byte-order mark, read as such
    wide.write_bytes(source.read_text(encoding=contract.file.encoding).encode("utf-16"))
    done = runner.invoke(app, ["validate", str(wide), "--municipality", "eindhoven", "--period", "2020-10",
                               "--report", str(tmp_path / "r16.xlsx"), "--lang", "en"])
    assert done.exit_code == 0 and (tmp_path / "r16.xlsx").is_file(), done.output
    assert openpyxl.load_workbook(tmp_path / "r16.xlsx")["Data"]["C2"].value == "Bell\ufffdNaam"


def test_a_merged_range_over_the_whole_sheet_gets_a_summary_without_opening_the_workbook(tmp_path):
    source = _utrecht(tmp_path)
    with zipfile.ZipFile(source) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    parts[sheet] = parts[sheet].replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="K100:XFD1048576"/></mergeCells>', 1)
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    report, result = _report(source, "utrecht", tmp_path / "report.xlsx")  # openpyxl would take all the memory
    assert [(f.code, f.params["limit"]) for f in result.findings] == [
        ("limit-exceeded", "limits.rows (sheet1.xml, merged cells)")]
    assert report.sheetnames == ["Summary"]
    texts = [str(c.value) for row in report["Summary"].iter_rows() for c in row if c.value is not None]
    assert any("limits.rows (sheet1.xml, merged cells) is 1048576" in t for t in texts), texts
