"""The attributes the limits' pass reads, in every spelling XML allows (round 27).

XML lets an attribute's value stand in single or double quotes, with space (newlines and tabs too)
around its '=', and an element's name carry a namespace prefix; writers other than Excel and
openpyxl (LibreOffice, Go, JS and R libraries, hand-made exports) use them. python-calamine reads
them all alike; the limits' pass (transforms.limits) read most attributes only as 'name="value"'.
A 1904 workbook written date1904='1' had its dates read 1,462 days early without a word; a sheet
named name='Registratie' lost its formula and error cells' findings (read as blanks: an open stay);
a merged range past the limits, spelled so, was not refused; a steward report's copy
lost its column widths and frozen pane.

Every workbook here is written by hand, part by part (zipfile and XML text), in a layout and with
values the demo's generator never writes; what python-calamine itself reads from it is the yardstick.
"""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import python_calamine

from schemas.contracts import contract_for
from transforms import limits as limits_check
from transforms.delivery import check_delivery, process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import read_source

PSEUDO = Pseudonymiser("test-key")
GRONINGEN = contract_for("groningen")  # sheet 'Registratie', header row 3, dates as serial numbers
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKSHEET = RELATIONSHIPS + "/worksheet"
STAND_PER = date(2021, 3, 15)
#: sheet row -> (intake, exit, outcome code) of the stays below
STAYS = {4: (date(2020, 2, 3), date(2020, 12, 24), "own_network"), 5: (date(2020, 6, 17), None, None)}


def serial(day: date, date1904: bool = True) -> int:
    return (day - (date(1904, 1, 1) if date1904 else date(1899, 12, 30))).days


def text(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def number(ref: str, value: float, style: int = 0) -> str:
    return f'<c r="{ref}" s="{style}"><v>{value}</v></c>'


def rows(date1904: bool = True, exit_cells: str | None = None) -> str:
    """A title, 'Stand per' with its date as a plain number (B2) and formatted as a date (C2, which
    python-calamine turns into a date in the system it reads), the header, two stays; exit_cells:
    in place of the first stay's exit date and outcome (G4, H4)."""
    def day(ref: str, value: date) -> str:
        return number(ref, serial(value, date1904))

    headers = ["Registratienummer", "V-nummer", "Naam", "Voornamen", "Geboortedatum", "Instroomdatum",
               "Uitstroomdatum", "Uitstroombestemming", "VB vervolg"]
    return ('<row r="1">' + text("A1", "Overzicht opvang noord") + "</row>"
            '<row r="2">' + text("A2", "Stand per") + day("B2", STAND_PER)
            + number("C2", serial(STAND_PER, date1904), style=1) + "</row>"
            '<row r="3">' + "".join(text(f"{chr(65 + i)}3", h) for i, h in enumerate(headers)) + "</row>"
            '<row r="4">' + text("A4", "N-0417") + text("B4", "3000000417") + text("C4", "Proef") + text("D4", "Een")
            + day("E4", date(1987, 6, 5)) + day("F4", date(2020, 2, 3))
            + (exit_cells if exit_cells is not None else day("G4", date(2020, 12, 24)) + text("H4", "Eigen netwerk"))
            + "</row>"
            '<row r="5">' + text("A5", "N-0418") + text("B5", "3000000418") + text("C5", "Proef") + text("D5", "Twee")
            + day("E5", date(1979, 11, 30)) + day("F5", date(2020, 6, 17)) + "</row>")


def workbook(path: Path, *, workbook_pr: str = "", sheet: str = '<sheet name="Registratie" sheetId="1" r:id="rW1"/>',
             relationship: str = f'<Relationship Id="rW1" Type="{WORKSHEET}" Target="worksheets/data.xml"/>',
             cells: str | None = None, before: str = "", after: str = "", stored: bool = False) -> Path:
    """A workbook written part by part: its workbook.xml's workbookPr and sheet, the relationship
    to the sheet's part, and the sheet's XML (before and after its sheetData); stored: not
    compressed (a part of repeated text compresses past the limits' ratio)."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
            '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
            'main+xml"/><Override PartName="/xl/worksheets/data.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship '
            f'Id="rD" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (f'<workbook xmlns="{MAIN}" xmlns:r="{RELATIONSHIPS}">{workbook_pr}<sheets>{sheet}'
                            "</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' + relationship
            + f'<Relationship Id="rS" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": (f'<styleSheet xmlns="{MAIN}"><numFmts count="1"><numFmt numFmtId="170" '
                          'formatCode="d-m-yyyy"/></numFmts><cellXfs count="2"><xf numFmtId="0"/>'
                          '<xf numFmtId="170" applyNumberFormat="1"/></cellXfs></styleSheet>'),
        "xl/worksheets/data.xml": (f'<worksheet xmlns="{MAIN}">{before}<sheetData>'
                                   f"{rows() if cells is None else cells}</sheetData>{after}</worksheet>"),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def calamine_stand_per(path: Path) -> date:
    """C2 as python-calamine reads it: a date counted in the date system it takes the workbook's to be."""
    grid = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Registratie").to_python()
    return grid[1][2]


def stays(path: Path) -> dict[int, tuple]:
    result = process_delivery(path, GRONINGEN, "2021-03", PSEUDO)
    return {int(r.excel_row): tuple(None if pd.isna(v) else v for v in (r.intake_date, r.exit_date, r.outcome_code))
            for r in result.episodes.itertuples()}


# ------------------------------------------------------------------ the date system (xl/workbook.xml)
#: workbookPr spellings python-calamine reads as the 1904 date system
AS_1904 = ["<workbookPr date1904='1'/>", '<workbookPr date1904 = "true"/>', "<workbookPr\n\tdate1904\n=\n\t'1'\n/>",
           '<workbookPr codeName="a>b" date1904="1" ></workbookPr>', "<workbookPr x='1'date1904='true'/>",
           f'<x:workbookPr xmlns:x="{MAIN}" date1904 =\'1\'/>', "<workbookPr date1904='1'/><!-- <workbookPr/> -->"]
#: and spellings it does not: another attribute's name or value, a value XML does not make '1'
#: for it (an entity, a space, capitals), a later workbookPr that says otherwise, a malformed tag,
#: one within a comment, a processing instruction or a CDATA section (a defined name's text)
AS_1900 = ['<workbookPr x:date1904="1" xmlns:x="urn:other"/>', "<workbookPr codeName='date1904=\"1\"'/>",
           '<workbookPr date1904="&#49;"/>', "<workbookPr date1904=' 1'/>", '<workbookPr date1904="TRUE"/>',
           "<workbookPr date1904='1'/><workbookPr date1904='0'/>", '<workbookPr junk date1904="1"/>',
           "<workbookPr/><!-- <workbookPr date1904='1'/> -->", "<workbookPr/><?x <workbookPr date1904='1'/> ?>",
           "<workbookPr/><definedNames><definedName name='x'><![CDATA[<workbookPr date1904='1'/>]]></definedName>"
           "</definedNames>"]


@pytest.mark.parametrize("spelling", AS_1904 + AS_1900)
def test_the_date_system_is_the_one_python_calamine_reads_whatever_the_spelling(tmp_path, spelling):
    """The numbers written in the date system python-calamine reads the workbook in: the stand-per
    date formatted as a date (C2, which calamine turns into a date itself) and as a plain number
    (B2, which the reader turns into one from the date system the limits' pass noted) are the
    same day. In any other system one of them is 1,462 days off."""
    path = workbook(tmp_path / "g.xlsx", workbook_pr=spelling, cells=rows(date1904=spelling in AS_1904))
    assert calamine_stand_per(path) == STAND_PER
    assert limits_check.checked_open(path, path.name, csv=False).date1904 is (spelling in AS_1904)
    assert read_source(path, GRONINGEN).stand_per == STAND_PER


def test_a_comment_is_left_out_wherever_a_chunk_ends(tmp_path, monkeypatch):
    """A comment read in chunks: what it holds is none of the workbook's, whichever chunk it ends in."""
    commented = "<!-- an old setting: <workbookPr date1904='1'/> <sheet name='Oud' r:id='rW1'/> -->"
    one = workbook(tmp_path / "one.xlsx", workbook_pr="<workbookPr/>" + commented, cells=rows(date1904=False))
    other = workbook(tmp_path / "other.xlsx", workbook_pr="<workbookPr date1904 = '1'/>" + commented.replace("'1'", "'0'"))
    for chunk in range(40, 400, 9):
        monkeypatch.setattr(limits_check, "CHUNK", chunk)
        for path, date1904 in ((one, False), (other, True)):
            checked = limits_check.checked_open(path, path.name, csv=False)
            assert checked.date1904 is date1904 and read_source(path, GRONINGEN).stand_per == STAND_PER, chunk


@pytest.mark.parametrize("spelling", AS_1904)
def test_a_1904_workbook_in_any_spelling_has_its_stays_dates_not_1462_days_early(tmp_path, spelling):
    path = workbook(tmp_path / "g.xlsx", workbook_pr=spelling)
    raw = read_source(path, GRONINGEN)
    assert raw.stand_per == STAND_PER and raw.rows[0][5] == date(2020, 2, 3)
    assert stays(path) == STAYS  # read in 1900, these were 02-02-2016 and 23-12-2016: before the pilot
    result = process_delivery(path, GRONINGEN, "2021-03", PSEUDO)
    assert result.delivery["stand_per"] == STAND_PER and not [f for f in result.findings if f.severity == "error"]


# ------------------------------------------------------------------ sheet names and relationships
SHEETS = ["<sheet name='Registratie' sheetId='1' r:id='rW1'/>", '<sheet name = "Registratie"\nr:id\n=\n"rW1"/>',
          "<sheet sheetId='1' name='Regi&#115;tratie' r:id='rW1'/>", "<sheet name='Registratie' id='rW1'/>",
          f"<x:sheet xmlns:x='{MAIN}' name='Registratie' relationships:id='rW1' xmlns:relationships="
          f"'{RELATIONSHIPS}'/>", "<sheet name='Registratie' r:id='rX' o:id='rW1' xmlns:o='urn:other'/>",
          "<sheet name='Registratie' r:id='rW1'/><!-- <sheet name='Oud' r:id='rW1'/> -->"]
RELATIONS = [f"<Relationship Id='rW1' Type='{WORKSHEET}' Target='worksheets/data.xml'/>",
             f'<Relationship\tTarget = "/xl/worksheets/data.xml" Type="{WORKSHEET}"\nId\n=\n"rW1" />',
             f"<p:Relationship xmlns:p='urn:p' Id = 'rW1' Type='{WORKSHEET}' Target='worksheets/data.xml'>"
             "</p:Relationship>"]


@pytest.mark.parametrize("relationship", RELATIONS)
@pytest.mark.parametrize("sheet", SHEETS)
def test_a_formula_without_a_value_is_found_whatever_the_spelling_of_the_sheet_s_name(tmp_path, sheet, relationship):
    """The exit date and the outcome formulas python-calamine reads as empty (no calculated value):
    the limits' pass notes them by the sheet's name, and the reader looks them up by that name.
    A name or a relationship it did not read left them under the part's path: the row was read
    as an open stay, without a word."""
    cells = rows(exit_cells="<c r='G4'><f>DATE(2020,12,24)</f></c><c r='H4' t='str'><f>\"Eigen netwerk\"</f></c>")
    path = workbook(tmp_path / "g.xlsx", workbook_pr="<workbookPr date1904='1'/>", sheet=sheet,
                    relationship=relationship, cells=cells)
    assert python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names == ["Registratie"]
    result = process_delivery(path, GRONINGEN, "2021-03", PSEUDO)
    assert [(f.code, f.cell_ref) for f in result.findings if f.severity == "error"] == [
        ("cell-formula-no-value", "G4"), ("cell-formula-no-value", "H4")]
    assert list(result.quarantine["excel_row"]) == [4] and stays(path) == {5: STAYS[5]}


# ------------------------------------------------------------------ merged ranges, dimension, layout
@pytest.mark.parametrize("quote", ["'", '"'])
@pytest.mark.parametrize("equals", ["=", " = ", "\n=\t"])
def test_a_merged_range_past_the_limits_is_refused_whatever_its_spelling(tmp_path, quote, equals):
    """A merged range is as many cells as it covers. Spelled otherwise than ref="..", it was not
    refused. (A stated dimension is not read at all: python-calamine allocates nothing by it.)"""
    merge = f"<mergeCells count='1'><x:mergeCell xmlns:x='{MAIN}' ref{equals}{quote}B4:XFD1048576{quote}/>"
    path, limit = workbook(tmp_path / "m.xlsx", after=merge + "</mergeCells>"), "limits.rows (data.xml, merged cells)"
    [finding] = check_delivery(path, GRONINGEN, "2021-03", PSEUDO).findings
    assert (finding.code, finding.params["limit"]) == ("limit-exceeded", limit)


def test_the_layout_is_noted_whatever_the_spelling_of_its_attributes(tmp_path):
    """What the steward report's copy keeps of the source: column widths and hidden columns, the
    frozen pane, merged ranges."""
    before = ("<sheetViews><sheetView workbookViewId='0'><pane ySplit = '3' topLeftCell\n=\n'A4' state='frozen'/>"
              "</sheetView></sheetViews><cols><col min='1' max = '2' width='31.5' customWidth='1'/>"
              "<col hidden='1' min=\"3\"\tmax='4'/></cols>")
    after = "<mergeCells count='1'><mergeCell ref = 'A1:C1'/></mergeCells>"
    checked = limits_check.Checked(layout=True)
    limits_check.checked_open(workbook(tmp_path / "l.xlsx", before=before, after=after), "l.xlsx", csv=False,
                              checked=checked)
    notes = checked.notes["Registratie"]
    assert notes.columns == {1: (2, 31.5, False), 3: (4, None, True)}
    assert (notes.frozen, notes.merged) == ("A4", [(1, 1, 3, 1)])


def test_error_and_formula_cells_whose_other_attribute_holds_a_closing_bracket_are_found(tmp_path):
    """'>' may stand in an attribute's value; python-calamine reads such a cell as any other. A
    't' that is part of another attribute's name ('x:t', 'data-t') is no cell type."""
    cells = rows(exit_cells="<c r='G4' x14:note='a>b' t = 'e' xmlns:x14='urn:x'><v>#N/A</v></c>"
                            "<c r='I4' x:t='e' xmlns:x='urn:x'><v>7</v></c>"
                            "<c x14:note='a>b' r = 'J4' xmlns:x14='urn:x'><f>1+1</f></c>")
    cells = cells.replace("</row><row r=\"5\">", "</row><row r=\"5\"><c r='I5' data-t='e'><v>8</v></c>")
    path = workbook(tmp_path / "e.xlsx", workbook_pr="<workbookPr date1904='1'/>", cells=cells)
    grid = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Registratie").to_python()
    assert (grid[3][6], grid[3][8], grid[4][8]) == ("", 7.0, 8.0)  # G4 read as empty, I4 and I5 as numbers
    assert grid[3][9:] in ([], [""])  # J4 empty
    notes = limits_check.checked_open(path, path.name, csv=False).notes["Registratie"]
    assert (notes.errors, notes.formulas) == ([("G4", "#N/A")], ["J4"])


# ------------------------------------------------------------------ cost
def test_a_tag_of_a_million_bytes_of_attributes_costs_no_more_than_its_length(tmp_path):
    """Runs of attribute-like text inside one tag, each under a chunk: the patterns try a name
    only where one may start and take it whole, so each run is read a few times, not once per
    byte (which would be some 10^11 steps here: this test would not end)."""
    names = "a-" * 400_000  # one attribute name of 800 kB (python-calamine reads no attribute after it)
    pairs = "a-='1' " * 100_000  # 100,000 attributes before the one that counts
    path = workbook(tmp_path / "w.xlsx", workbook_pr=f"<workbookPr {pairs} date1904='1'/>",
                    sheet=f"<sheet {pairs} name='Registratie' r:id='rW1'/>", stored=True)
    checked = limits_check.checked_open(path, path.name, csv=False)
    assert checked.finding is None and checked.date1904 and calamine_stand_per(path) == STAND_PER
    path = workbook(tmp_path / "o.xlsx", workbook_pr="<workbookPr date1904='1'/>" + "<?x <!-- <![CDATA[ ?>" * 40_000,
                    stored=True)  # 40,000 instructions, each holding the start of a comment and of a CDATA
    assert limits_check.checked_open(path, path.name, csv=False).date1904
    path = workbook(tmp_path / "n.xlsx", workbook_pr=f"<workbookPr {names} date1904='1'/>", stored=True)
    assert not limits_check.checked_open(path, path.name, csv=False).date1904
    assert calamine_stand_per(path) == date(2017, 3, 14)
    merge = f"<mergeCells><mergeCell {pairs} ref='B4:XFD1048576'/></mergeCells>"
    found = limits_check.checked_open(workbook(tmp_path / "m.xlsx", after=merge, stored=True), "m.xlsx", csv=False)
    assert found.finding.params["limit"] == "limits.rows (data.xml, merged cells)"
    cells = rows(exit_cells=f"<c r='G4' {pairs} t='e'><v>#REF!</v></c>")
    checked = limits_check.checked_open(workbook(tmp_path / "c.xlsx", cells=cells, stored=True), "c.xlsx", csv=False)
    assert checked.notes["Registratie"].errors == [("G4", "#REF!")]
    cells = rows(exit_cells="<c r='G4' " + "t='e' " * 100_000 + "><v>#N/A</v></c>")  # each place read once
    checked = limits_check.checked_open(workbook(tmp_path / "t.xlsx", cells=cells, stored=True), "t.xlsx", csv=False)
    assert checked.finding is None and checked.notes["Registratie"].errors == [("G4", "#N/A")]
    cells = rows(exit_cells=f"<c r='G4' {names}/><c r='H4'><f>1+1</f></c>")
    checked = limits_check.checked_open(workbook(tmp_path / "n.xlsx", cells=cells, stored=True), "n.xlsx", csv=False)
    assert checked.finding is None and checked.notes["Registratie"].formulas == ["H4"]
