"""Exports as other tools write them, third sweep (round 28): every file here is written by hand,
its XML text (or its bytes) spelled out below, not by the demo's generator nor by openpyxl.

- Excel's bloated used range: columns formatted whole make Excel write a dimension 'A1:Z1048576'
  and styled rows and empty cells down to row 1,048,576 for a few hundred rows of values. Such a
  file was refused as 1,048,576 rows with advice to raise the limit; python-calamine reads it as
  the rows holding values, and so do the limits now (a value far down is still refused unparsed).
- An inline string written with a <v> (PHPExcel): python-calamine reads the cell as empty; it is
  told like a formula without its value, never lost without a word.
- A workbook delivered where the contract says CSV: told what it is and what to do, not 'not an
  Excel workbook or CSV file'."""

from __future__ import annotations

from pathlib import Path

import pytest
import python_calamine

from schemas.checks import limits
from transforms import limits as limits_check
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import DeliveryRejected, read_source
from tests.test_unseen_exports import _compound_file
from tests.test_unseen_exports_2 import EINDHOVEN, HEADER, MAIN, ROTTERDAM, ROWS, _cell, _letters, ods, rotterdam, \
    workbook

EXCEL_LAST_ROW = 1_048_576


def _value_rows(rows: list[list]) -> str:
    """The rows holding values, as Excel writes a sheet with formatted columns: each row styled."""
    return "".join(f'<row r="{r}" spans="1:26">' + "".join(_cell(f"{_letters(i)}{r}", v) for i, v in enumerate(row))
                   + "</row>" for r, row in enumerate(rows, 1))


def bloated(path: Path, last: int, styled: int = 2, tail: str = "", rows: list[list] | None = None) -> Path:
    """A Rotterdam export whose columns A:Z were formatted whole: the dimension Excel states, the rows
    holding values, then every row down to `last` written styled (s="1" customFormat="1") with
    `styled` empty styled cells (<c r=".." s="3"/>), the XML Excel writes for them; tail: XML after them."""
    values = [HEADER] + (ROWS if rows is None else rows)
    empty = "".join(f'<row r="{r}" spans="1:26" s="1" customFormat="1">'
                    + "".join(f'<c r="{_letters(i)}{r}" s="3"/>' for i in range(styled)) + "</row>"
                    for r in range(len(values) + 1, last + 1))
    xml = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">'
           f'<dimension ref="A1:Z{last}"/><sheetData>{_value_rows(values)}{empty}{tail}</sheetData></worksheet>')
    return workbook(path, [("LVV", xml, None)])


def _small(**changes) -> limits_check.Limits:
    return limits().model_copy(update=changes)


def _calamine_rows(path: Path) -> int:
    return len(python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python())


# ------------------------------------------------------------------ 1. Excel's bloated used range
def test_a_sheet_formatted_down_to_excel_s_last_row_is_read_as_the_rows_holding_values(tmp_path):
    """Excel's used range of formatted columns (dimension A1:Z1048576, styled rows, empty styled
    cells to row 1,048,576): read as the four rows it holds, as python-calamine reads it."""
    path = bloated(tmp_path / "export.xlsx", EXCEL_LAST_ROW, styled=0)
    assert _calamine_rows(path) == 4
    assert limits_check.check_workbook(path, "export.xlsx") is None
    raw = read_source(path, ROTTERDAM)
    assert raw.excel_rows == [2, 3, 4] and not raw.findings


def test_empty_styled_cells_past_the_limits_count_for_nothing_a_value_past_them_is_refused(tmp_path):
    """Rows, and empty styled cells, past the row and column limits hold nothing python-calamine
    puts in its range; a value past them does, and is refused before the file is parsed: placed
    by its own reference, or (written without one) after the row before it, however empty."""
    small = _small(rows=1000)
    wide = '<row r="1001"><c r="ZZ1001" s="3"/><c r="AB1001" s="3"></c></row>'
    path = bloated(tmp_path / "styled.xlsx", 3000, tail=wide.replace("1001", "3001"))
    assert _calamine_rows(path) == 4 and limits_check.check_workbook(path, "styled.xlsx", small) is None
    for tail, limit, found in [('<row r="3001"><c r="B3001" s="3"><v>7</v></c></row>', "rows", "3001"),
                               ("<row r='3001'><c s='3' r='B3001'><f>1</f><v>7</v></c></row>", "rows", "3001"),
                               ('<row r="3001"><c r="B3001" t="inlineStr"><is><t>x</t></is></c></row>', "rows", "3001"),
                               ('<row r="5"><c r="ZZ5"><v>7</v></c></row>', "columns", "702"),
                               ('<row><c><v>7</v></c></row>', "rows", "3001")]:
        path = bloated(tmp_path / "far.xlsx", 3000, tail=tail)
        assert _calamine_rows(path) >= (5 if limit == "columns" else 3001), tail
        assert limits_check.check_workbook(path, "far.xlsx", small).params == {
            "limit": f"limits.{limit} (sheet1.xml)", "found": found, "maximum": "200" if limit == "columns" else "1000"}


def test_a_sheet_of_values_past_the_row_limit_is_still_refused_in_a_part_of_any_spelling(tmp_path):
    """Rows of values past the limit, their references written or not (python-calamine counts
    those without): refused as many rows as it holds, not read."""
    rows = [["K", f"03{i:08d}", "A", "B", "01-01-1990", "01-09-2019", None, None] for i in range(1200)]
    plain = bloated(tmp_path / "plain.xlsx", 0, rows=rows)
    found = limits_check.check_workbook(plain, "plain.xlsx", _small(rows=1000))
    assert found.params["limit"] == "limits.rows (sheet1.xml)" and int(found.params["found"]) > 1000
    unreferenced = "".join("<row>" + f"<c t='inlineStr'><is><t>{i}</t></is></c>" + "</row>" for i in range(1200))
    bare = workbook(tmp_path / "bare.xlsx", [("LVV", f'<worksheet xmlns="{MAIN}"><sheetData>{unreferenced}'
                                                     "</sheetData></worksheet>", None)])
    assert _calamine_rows(bare) == 1200
    found = limits_check.check_workbook(bare, "bare.xlsx", _small(rows=1000))
    assert found.params["limit"] == "limits.rows (sheet1.xml)" and int(found.params["found"]) > 1000


# ------------------------------------------------------------------ 2. an inline string written with <v>
@pytest.mark.parametrize("cell, lost", [
    ('<c r="REF" t="inlineStr"><v>02-03-2020</v></c>', True),  # PHPExcel's TYPE_INLINE
    ("<c r='REF' t = 'inlineStr'><is><t>x</t></is><v>02-03-2020</v></c>", True),  # the last one stands
    ('<c r="REF" t="inlineStr"><v>1</v><is><t>02-03-2020</t></is></c>', False),  # the <is> stands
    ('<c r="REF" t="inlineStr"><is><t>02-03-2020</t></is></c>', False),
])
def test_an_inline_string_written_with_a_value_element_is_told_not_lost(tmp_path, cell, lost):
    """'<c t="inlineStr"><v>text</v></c>' is read by python-calamine as an empty cell: the exit date
    would be gone and the stay read as open. It is an error on that cell, as a formula without
    its value is; where calamine reads the text (its last value element an <is>), nothing is said."""
    rows = [list(ROWS[0]), *ROWS[1:]]
    rows[0][6] = ("xml", cell)
    path = rotterdam(tmp_path / "a.xlsx", rows)
    read = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert (read[1][6] == "") is lost
    result = process_delivery(path, ROTTERDAM, "2020-10", Pseudonymiser("k"))
    told = [(f.code, f.excel_row, f.column_letter) for f in result.findings if f.code == "cell-inline-value"]
    assert told == ([("cell-inline-value", 2, "G")] if lost else [])
    assert (list(result.quarantine["excel_row"]) if len(result.quarantine) else []) == ([2] if lost else [])


# ------------------------------------------------------------------ 3. a workbook where the contract says CSV
def test_a_workbook_delivered_where_the_contract_says_csv_is_named_with_what_to_do(tmp_path):
    """Eindhoven delivers CSV: an .xlsx, an .ods or an .xls in its place (under either name) is told
    as what it is, by its first bytes, not as 'not an Excel workbook or CSV file (binary content)'."""
    xlsx = rotterdam(tmp_path / "export.xlsx").read_bytes()
    kinds = {"export.xlsx": (xlsx, "an Excel workbook (.xlsx)"),
             "export.csv": (xlsx, "an Excel workbook (.xlsx)"),
             "export.ods": (ods(tmp_path / "o.ods", [HEADER] + ROWS).read_bytes(),
                            "an OpenDocument spreadsheet (.ods, LibreOffice)"),
             "export.xls": (_compound_file(["Workbook"]), "an old Excel workbook (.xls, Excel 97-2003)")}
    for name, (content, said) in kinds.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DeliveryRejected) as rejected:
            read_source(tmp_path / name, EINDHOVEN)
        [finding] = rejected.value.findings
        assert (finding.code, finding.params) == ("file-not-csv", {"detail": said}), name
        message, fix = finding.check.render("en", finding.params)
        assert message == f"The file is not a CSV file, as the source contract says, but {said}."
        assert "Export it as CSV" in fix and "source contract changed to xlsx" in fix
