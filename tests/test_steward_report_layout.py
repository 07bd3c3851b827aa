"""The steward's report keeps the whole source: a hand-made workbook of odd layout, streamed.

The report is written a row at a time (openpyxl read-only in, write-only out), so what a workbook
states outside its cells (column widths, merged ranges, a frozen pane) is what the limits' pass over
the worksheet parts noted (transforms.limits, `Checked(layout=True)`): no part is streamed again. Each workbook here is made by hand: title rows above the header, a
merged title, a hidden sheet of formulas, a text that looks like a formula, an error value, dates
in a format of their own, a stated dimension smaller than the sheet, a merged range over cells
that still hold values.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Font, PatternFill
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms import limits as limits_check
from transforms.delivery import check_delivery
from transforms.limits import Checked
from transforms.protect import Pseudonymiser
from transforms.steward_report import FILLS, write_steward_report

OCT = date(2020, 10, 31)
DATA = "Cliënten LVV"


def _report(source: Path, out: Path):
    contract = contract_for("amsterdam")
    result = check_delivery(source, contract, "2020-10", Pseudonymiser("test-key"))
    write_steward_report(source, contract, result.findings, out, "nl", result.delivery)
    return openpyxl.load_workbook(out), result


def _odd_workbook(folder: Path) -> Path:
    rows = [good_row(1), good_row(2, intake_date="onbekend"), good_row(3, exit_date=date(2020, 5, 1), outcome="MOB")]
    source = write_sheet(folder / "2020-10" / "export.xlsx", contract_for("amsterdam"), rows, stand_per=OCT)
    book = openpyxl.load_workbook(source)
    data = book[DATA]
    data["A3"] = "Uitgedraaid door de afdeling"   # a second title row; the header stays on row 5
    data.merge_cells("A1:D1")
    data["A1"].font = Font(bold=True, size=14)
    data["B2"].number_format = "d mmmm yyyy"      # a date in a format of its own
    for cell in data[5]:
        cell.font = Font(bold=True)
    data["F6"].fill = PatternFill(fill_type="solid", start_color="FFFF00", end_color="FFFF00")
    data.column_dimensions["A"].width = 31
    data.column_dimensions["C"].hidden = True
    data.freeze_panes = "A6"
    notes = book.create_sheet("Toelichting")
    notes.sheet_state = "hidden"
    notes.append(["aantal", "=COUNTA('Cliënten LVV'!A6:A8)", "=SUM(1,2)"])
    notes.append(["tekst", "=1+1", "#N/A"])
    notes["B2"].data_type = "s"                    # typed as text ('=1+1), not a formula
    notes.append(["datum", datetime(2020, 10, 31, 14, 5), 0.25])
    notes["B3"].number_format = "dd-mm-yyyy hh:mm"
    notes["C3"].number_format = "0%"
    notes.append(["gat", None, None, "na het gat"])  # cells missing between two
    book.create_sheet("Leeg")                     # an empty sheet
    book.save(source)
    return source


def test_the_report_keeps_every_sheet_and_cell_of_an_odd_workbook(tmp_path):
    source = _odd_workbook(tmp_path)
    report, result = _report(source, tmp_path / "report.xlsx")
    original = openpyxl.load_workbook(source)
    assert report.sheetnames == ["Samenvatting", *original.sheetnames]
    assert [s.sheet_state for s in report.worksheets] == ["visible", "visible", "hidden", "visible"]
    for name in original.sheetnames:
        kept, was = report[name], original[name]
        assert (kept.max_row, kept.max_column) == (was.max_row, was.max_column), name
        for row in was.iter_rows():
            for cell in row:
                copy = kept[cell.coordinate]
                assert (copy.value, copy.data_type) == (cell.value, cell.data_type), (name, cell.coordinate)
                assert copy.number_format == cell.number_format, (name, cell.coordinate)
    data, notes = report[DATA], report["Toelichting"]
    assert notes["B1"].value == "=COUNTA('Cliënten LVV'!A6:A8)" and notes["B1"].data_type == "f"
    assert notes["B2"].value == "=1+1" and notes["B2"].data_type == "s" and notes["C2"].data_type == "e"
    assert {str(r) for r in data.merged_cells.ranges} == {"A1:D1"}
    assert data.column_dimensions["A"].width == 31 and data.column_dimensions["C"].hidden
    assert data.freeze_panes == "A6"
    assert data["A1"].font.bold and data["A1"].font.size == 14 and data["C5"].font.bold
    # the problem cell's colour is the only one: the source's own yellow gives way to the error's
    assert ("date-unparseable", "F7") in {(f.code, f.cell_ref) for f in result.findings}
    assert data["F7"].value == "onbekend" and data["F7"].fill.start_color.rgb.endswith(FILLS["error"])
    assert "date-unparseable" in data["F7"].comment.text
    assert data["F6"].fill.fill_type is None and data["F6"].value == original[DATA]["F6"].value
    links = {c.value: c.hyperlink.location for c in report["Samenvatting"]["A"] if c.hyperlink is not None}
    assert links["F7"] == f"'{DATA}'!F7"


def _patched(path: Path, part: str, old: bytes, new: bytes) -> None:
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts[part], n = re.subn(old, new, parts[part], count=1)
    assert n == 1, old
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def test_a_dimension_smaller_than_the_sheet_loses_no_row(tmp_path):
    rows = [good_row(1), good_row(2), good_row(3, intake_date="onbekend")]
    source = write_sheet(tmp_path / "2020-10" / "export.xlsx", contract_for("amsterdam"), rows, stand_per=OCT)
    _patched(source, "xl/worksheets/sheet1.xml", rb'<dimension ref="[A-Z0-9:]+"\s*/>', b'<dimension ref="A1:B2"/>')
    report, result = _report(source, tmp_path / "report.xlsx")
    data = report[DATA]
    assert data.max_row == 8 and data["I8"].value == rows[2]["follow_up"] and data["A8"].value == "R0003"
    assert "date-unparseable" in data["F8"].comment.text


def test_a_merged_range_over_cells_with_values_shows_its_top_left_cell_only(tmp_path):
    """As Excel shows it (and as openpyxl reads the source): the covered cells are empty in the copy."""
    source = write_sheet(tmp_path / "2020-10" / "export.xlsx", contract_for("amsterdam"), [good_row(1)],
                         stand_per=OCT)
    book = openpyxl.load_workbook(source)
    extra = book.create_sheet("Notities")
    extra.append(["links", "rechts", "daarnaast"])
    book.save(source)
    _patched(source, "xl/worksheets/sheet2.xml", b"</sheetData>",
             b'</sheetData><mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>')
    _report(source, tmp_path / "report.xlsx")
    # read-only: the cells as the report stores them (a full load would empty the covered ones itself)
    stored = openpyxl.load_workbook(tmp_path / "report.xlsx", read_only=True)["Notities"]
    assert next(stored.iter_rows(values_only=True)) == ("links", None, "daarnaast")
    assert openpyxl.load_workbook(source)["Notities"]["B1"].value is None  # as the source reads


def test_a_sheet_damaged_past_its_first_rows_gets_a_summary_not_an_unexpected_error(tmp_path):
    """openpyxl reads a sheet as the copy asks for its rows: XML broken at row 7 shows only there."""
    rows = [good_row(1), good_row(2), good_row(3)]
    source = write_sheet(tmp_path / "2020-10" / "export.xlsx", contract_for("amsterdam"), rows, stand_per=OCT)
    _patched(source, "xl/worksheets/sheet1.xml", rb'<row r="7"', b'<row r="7"><c r="A7"><v>1</c></row><row r="99"')
    report, result = _report(source, tmp_path / "report.xlsx")
    assert report.sheetnames == ["Samenvatting"]
    assert any(f.severity == "fatal" for f in result.findings)


# ------------------------------------------------------------------ the layout from the limits' one pass
SHEET = "xl/worksheets/sheet1.xml"


def _copy_of(source: Path, checked_file: Path, out: Path):
    """The report's copy of `source`'s data sheet, written with what the check's pass over
    `checked_file` noted (`lvv validate` checks and reports the same file)."""
    contract = contract_for("amsterdam")
    checked = Checked(layout=True)
    result = check_delivery(checked_file, contract, "2020-10", Pseudonymiser("test-key"), checked=checked)
    write_steward_report(source, contract, result.findings, out, "nl", result.delivery, checked)
    return openpyxl.load_workbook(out)[DATA]


def test_the_copys_layout_is_what_the_checks_one_pass_noted_no_part_is_read_again(tmp_path):
    """Two workbooks the same but for the data sheet's layout: the copy of either has the layout of
    the one the check's limits pass went over. A report that read the part again for its layout
    would give the copy of the laid-out file its own layout, and one that ignored the check's notes
    would give the plain file's copy none."""
    laid_out = _odd_workbook(tmp_path)
    plain = shutil.copy(laid_out, tmp_path / "plain.xlsx")
    for element in (rb"<cols>.*?</cols>", rb"<mergeCells .*?</mergeCells>", rb"<pane [^>]*/>"):
        _patched(plain, SHEET, element, b"")
    kept = _copy_of(plain, laid_out, tmp_path / "kept.xlsx")
    assert {str(r) for r in kept.merged_cells.ranges} == {"A1:D1"} and kept.freeze_panes == "A6"
    assert kept.column_dimensions["A"].width == 31 and kept.column_dimensions["C"].hidden
    assert kept["F7"].fill.start_color.rgb.endswith(FILLS["error"])
    none = _copy_of(laid_out, plain, tmp_path / "none.xlsx")
    assert not none.merged_cells.ranges and none.freeze_panes is None
    assert none.column_dimensions["A"].width != 31 and not none.column_dimensions["C"].hidden
    assert none["A1"].value == "LVV Amsterdam" and none["F7"].fill.start_color.rgb.endswith(FILLS["error"])


def test_lvv_validate_report_streams_each_worksheet_part_once_for_the_limits(tmp_path, monkeypatch):
    """The command's check and its report share one limits pass: each worksheet part is checked
    once (then read once more, by openpyxl, for its cells), and the copy keeps the layout."""
    passes: Counter[str] = Counter()
    check_sheet = limits_check._check_sheet

    def counted(archive, member, *args, **kwargs):
        passes[member.filename] += 1
        return check_sheet(archive, member, *args, **kwargs)

    monkeypatch.setattr(limits_check, "_check_sheet", counted)
    source, out = _odd_workbook(tmp_path), tmp_path / "rapport.xlsx"
    done = CliRunner().invoke(app, ["validate", str(source), "--municipality", "amsterdam", "--period", "2020-10",
                                    "--report", str(out)])
    assert done.exit_code == 1, done.output  # the error on F7: a report, no traceback
    assert passes == {f"xl/worksheets/sheet{i}.xml": 1 for i in (1, 2, 3)}
    data = openpyxl.load_workbook(out)[DATA]
    assert {str(r) for r in data.merged_cells.ranges} == {"A1:D1"} and data.freeze_panes == "A6"
    assert data.column_dimensions["A"].width == 31 and data.column_dimensions["C"].hidden


def test_a_sheet_named_with_a_character_reference_keeps_its_layout_and_its_error_cells(tmp_path):
    """'Cli&#235;nten LVV' in xl/workbook.xml is the sheet 'Cliënten LVV' to every XML reader
    (openpyxl, python-calamine): the limits' pass names it so too, or what it noted of the sheet
    (the copy's layout, the cells python-calamine reads as empty) would be filed under another name."""
    source = _odd_workbook(tmp_path)
    _patched(source, "xl/workbook.xml", 'name="Cliënten LVV"'.encode(), b'name="Cli&#235;nten LVV"')
    _patched(source, SHEET, rb'<c r="G8" s="1" t="n"><v>\d+</v></c>', b'<c r="G8" t="e"><v>#N/A</v></c>')
    kept = _copy_of(source, source, tmp_path / "report.xlsx")
    assert {str(r) for r in kept.merged_cells.ranges} == {"A1:D1"} and kept.freeze_panes == "A6"
    assert kept.column_dimensions["A"].width == 31
    result = check_delivery(source, contract_for("amsterdam"), "2020-10", Pseudonymiser("test-key"))
    assert ("cell-error-value", "G8") in {(f.code, f.cell_ref) for f in result.findings}
    assert kept["G8"].value == "#N/A" and "cell-error-value" in kept["G8"].comment.text


@pytest.mark.parametrize("x", ["", "x:"], ids=["plain", "namespace-prefix"])
def test_the_limits_pass_notes_the_layout_with_or_without_a_namespace_prefix(tmp_path, x):
    part = (f'<{x}worksheet xmlns{":x" if x else ""}="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<{x}sheetViews><{x}sheetView workbookViewId="0"><{x}pane ySplit="2" topLeftCell="A3" state="frozen"/>'
            f'</{x}sheetView></{x}sheetViews><{x}cols><{x}col min="2" max="3" width="20.5" hidden="1"/>'
            f'<{x}col min="5" max="5" customWidth="1"/><{x}col max="7" width="3"/><{x}col min="16000" max="16385"/>'
            f'</{x}cols>'
            f'<{x}sheetData><{x}row r="1"><{x}c r="A1"><{x}v>1</{x}v></{x}c></{x}row></{x}sheetData>'
            f'<{x}mergeCells count="2"><{x}mergeCell ref="C1:D2"/><{x}mergeCell ref="F9:E8"/></{x}mergeCells>'
            f"</{x}worksheet>").encode()
    source = write_sheet(tmp_path / "export.xlsx", contract_for("amsterdam"), [good_row(1)], stand_per=OCT)
    _patched(source, SHEET, rb"^.*$", part.replace(b"\\", b"\\\\"))
    notes = limits_check.checked_open(source, source.name, csv=False, checked=Checked(layout=True)).notes[DATA]
    # a <col> without its first column, or past XFD (Excel's last; no reader can name it): nothing to copy
    assert notes.columns == {2: (3, 20.5, True), 5: (5, None, False)}
    assert notes.merged == [(3, 1, 4, 2), (5, 8, 6, 9)] and notes.frozen == "A3"  # 'F9:E8' is E8:F9
    # asked for by the report only: a delivery's read holds no layout
    assert DATA not in limits_check.checked_open(source, source.name, csv=False).notes
