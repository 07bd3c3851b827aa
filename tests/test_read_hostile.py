"""Reading a delivery that python-calamine reads wrong without a word (hostile review, round 22).

Each file is made here by hand: with openpyxl, or by editing the XML of a workbook openpyxl wrote
for what openpyxl cannot write (a formula without a cached value, an error value, a merged range
to the end of the sheet, two sheets whose names differ only in capitals). Each must either be read
right or give a located finding: a 1904 workbook's dates read 1,462 days early, a formula cell or
an error cell read as an empty one, the rest of a CSV swallowed by an unclosed quote were all
silent wrong answers that `lvv validate` called deliverable.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904
from typer.testing import CliRunner

from lvv.cli import app
from schemas.checks import limits
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms import limits as limits_check
from transforms.contract_draft import DraftError, read_grids
from transforms.delivery import check_delivery, process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import DeliveryRejected, read_source

PSEUDO = Pseudonymiser("test-key")
UTRECHT, AMSTERDAM, EINDHOVEN = contract_for("utrecht"), contract_for("amsterdam"), contract_for("eindhoven")
OCT = date(2020, 10, 31)
runner = CliRunner()


def validate(path: Path, municipality: str) -> tuple[int, str]:
    done = runner.invoke(app, ["validate", str(path), "--municipality", municipality, "--period", "2020-10",
                               "--lang", "en", "--format", "csv"])
    return done.exit_code, done.output


def _utrecht(tmp_path: Path) -> Path:
    """Row 3: closed on 01-09-2020 'Eigen netwerk' (G3 exit date, H3 outcome); rows 4, 5 open."""
    rows = [good_row(1, exit_date=date(2020, 9, 1), outcome="Eigen netwerk"), good_row(2), good_row(3)]
    return write_sheet(tmp_path / "utrecht.xlsx", UTRECHT, rows, stand_per=OCT)


def edited(source: Path, out: Path, change: Callable[[bytes], bytes], part: str = "xl/worksheets/sheet1.xml") -> Path:
    """A copy of a workbook with one of its XML parts changed (and checked to be changed)."""
    with zipfile.ZipFile(source) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    new = change(parts[part])
    assert new != parts[part], "the edit found nothing to change"
    parts[part] = new
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out


def stays(path: Path, contract=UTRECHT) -> dict[int, tuple]:
    """Sheet row -> (intake, exit, outcome code) of each curated row."""
    result = process_delivery(path, contract, "2020-10", PSEUDO)
    episodes = result.episodes
    return {int(r.excel_row): (r.intake_date, r.exit_date, r.outcome_code) for r in episodes.itertuples()}


# ------------------------------------------------------------------ D4: the 1904 date system
def _as_1904(source: Path, out: Path, general: bool) -> Path:
    """The workbook saved in the 1904 date system; general: its date cells as plain numbers
    ('General' format: python-calamine gives the serial number, not a date)."""
    book = openpyxl.load_workbook(source)
    book.epoch = CALENDAR_MAC_1904
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.is_date and general:
                    cell.number_format = "General"
    book.save(out)
    with zipfile.ZipFile(out) as archive:
        assert b'date1904="1"' in archive.read("xl/workbook.xml")
    return out


@pytest.mark.parametrize("general", [False, True], ids=["date-format", "plain-numbers"])
def test_a_1904_workbook_reads_the_dates_it_shows(tmp_path, general):
    source = _utrecht(tmp_path)
    mac = _as_1904(source, tmp_path / "mac.xlsx", general)
    expected = stays(source)
    assert expected[3][:2] == (date(2019, 9, 1), date(2020, 9, 1))
    assert stays(mac) == expected  # not 1,462 days early: 31-08-2015 and 31-08-2016
    assert validate(mac, "utrecht") == validate(source, "utrecht")
    assert validate(mac, "utrecht")[0] == 0


def test_a_1904_workbook_reads_a_serial_typed_as_text_and_its_stand_per_date(tmp_path):
    rows = [good_row(1, intake_date=str((date(2019, 9, 1) - date(1904, 1, 1)).days)), good_row(2)]
    source = write_sheet(tmp_path / "a.xlsx", AMSTERDAM, rows, stand_per=OCT)
    mac = _as_1904(source, tmp_path / "mac.xlsx", general=True)
    raw = read_source(mac, AMSTERDAM)
    assert raw.stand_per == OCT  # 'Stand per' B2, a plain number 42,673 in the 1904 system
    assert [intake for intake, _, _ in stays(mac, AMSTERDAM).values()] == [date(2019, 9, 1)] * 2


def test_a_number_outside_the_dates_of_a_1904_workbook_is_an_error_on_its_cell(tmp_path):
    """1,000 and 73,000 are no plausible dates in the 1904 system (1906, 2103): never a stay's date."""
    rows = [good_row(1, exit_date=73000, outcome="Eigen netwerk"), good_row(2, intake_date=1000)]
    source = write_sheet(tmp_path / "u.xlsx", UTRECHT, rows)
    mac = _as_1904(source, tmp_path / "mac.xlsx", general=True)
    result = process_delivery(mac, UTRECHT, "2020-10", PSEUDO)
    located = {f.cell_ref for f in result.findings if f.severity == "error"}
    assert {"G3", "F4"} <= located and sorted(result.quarantine["excel_row"]) == [3, 4]


# ------------------------------------------------------------------ D3: formulas without a value
def _no_values(data: bytes) -> bytes:
    """G3 (the exit date) a formula with no <v> at all, H3 (the outcome) one with an empty <v/>
    (openpyxl's way), as a tool writes them that does not calculate."""
    return (data.replace(b'<c r="G3" s="1" t="n"><v>44075</v></c>', b'<c r="G3" s="1"><f>DATE(2020,9,1)</f></c>')
            .replace(b'<c r="H3" t="inlineStr"><is><t>Eigen netwerk</t></is></c>',
                     b'<c r="H3"><f>"Eigen "&amp;"netwerk"</f><v /></c>'))


def test_a_formula_without_a_calculated_value_is_an_error_on_its_cell_not_an_open_stay(tmp_path):
    path = edited(_utrecht(tmp_path), tmp_path / "formulas.xlsx", _no_values)
    result = process_delivery(path, UTRECHT, "2020-10", PSEUDO)
    found = [f for f in result.findings if f.code == "cell-formula-no-value"]
    assert [(f.cell_ref, f.field, f.sheet) for f in found] == [("G3", "exit_date", "Export"), ("H3", "outcome", "Export")]
    assert "Cell Export!G3 holds a formula without a calculated value" in found[0].as_row("en")["message"]
    assert sorted(result.episodes["excel_row"]) == [4, 5]  # row 3 is quarantined, never curated as open
    assert list(result.quarantine["excel_row"]) == [3]
    code, output = validate(path, "utrecht")
    assert code == 1 and "cell-formula-no-value" in output and "No errors" not in output


def test_an_empty_text_a_formula_calculated_and_a_formula_outside_the_contract_are_no_error(tmp_path):
    """Excel writes '=IF(..;"";..)' that gave "" as t="str" with an empty value: calculated. A
    formula without a value in a column the contract does not read loses nothing of a stay."""
    def change(data: bytes) -> bytes:
        return (data.replace(b'<c r="H4" t="inlineStr"><is><t>x</t></is></c>', b'<c r="H4" t="str"><f>""</f><v></v></c>')
                .replace(b"</row>", b'<c r="K3"><f>1+1</f></c></row>', 1))
    rows = [good_row(1), good_row(2, outcome="x"), good_row(3)]
    source = write_sheet(tmp_path / "u.xlsx", UTRECHT, rows, extra_rows=[])
    path = edited(source, tmp_path / "calculated.xlsx", change)
    codes = {f.code for f in check_delivery(path, UTRECHT, "2020-10", PSEUDO).findings}
    assert "cell-formula-no-value" not in codes and "outcome-without-exit" not in codes


def test_formula_cells_across_the_chunks_of_a_large_part_are_each_counted_once(tmp_path):
    """The limits' pass reads a part in 1 MB chunks: a cell over a chunk's end is seen whole once."""
    n = 40_000  # about 2.4 MB of sheet XML: a cell straddles each chunk boundary sooner or later
    cells = b"".join(b'<row r="%d"><c r="A%d"><f>ROW()+%d</f></c><c r="B%d" t="e"><v>#N/A</v></c></row>'
                     % (i, i, i, i) for i in range(1, n + 1))
    path = edited(_utrecht(tmp_path), tmp_path / "many.xlsx",
                  lambda data: data[:data.index(b"<sheetData>")] + b"<sheetData>" + cells + b"</sheetData>"
                  + data[data.index(b"</sheetData>") + len(b"</sheetData>"):])
    checked = limits_check.checked_open(path, path.name, csv=False)
    assert checked.finding is None
    notes = checked.notes["Export"]
    assert notes.formulas == [f"A{i}" for i in range(1, n + 1)]
    assert notes.errors == [(f"B{i}", "#N/A") for i in range(1, n + 1)]


@pytest.mark.parametrize("x", ["", "x:"], ids=["plain", "namespace-prefix"])
def test_formulas_and_errors_are_found_with_or_without_a_namespace_prefix(tmp_path, x):
    row = ('<{x}row r="3"><{x}c r="A3"><{x}f>1+1</{x}f></{x}c><{x}c r="B3" t="e"><{x}v>#N/A</{x}v></{x}c>'
           '<{x}c r="C3"><{x}f t="shared" si="0"/></{x}c><{x}c r="D3" t="str"><{x}f>""</{x}f><{x}v></{x}v></{x}c>'
           '<{x}c r="E3"><{x}f>2</{x}f><{x}v>2</{x}v></{x}c></{x}row>').format(x=x).encode()
    part = (f'<{x}worksheet xmlns{":x" if x else ""}="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<{x}sheetData>").encode() + row + f"</{x}sheetData></{x}worksheet>".encode()
    path = edited(_utrecht(tmp_path), tmp_path / "ns.xlsx", lambda data: part)
    notes = limits_check.checked_open(path, path.name, csv=False).notes["Export"]
    assert notes.formulas == ["A3", "C3"] and notes.errors == [("B3", "#N/A")]


@pytest.mark.parametrize("formula", ['<f t="shared" si="0"/>', "<f/>", '<f\tt="shared" si="0" />',
                                     '<x:f t="shared" si="0"/>', "<f>1+1</f>", "<f>1+1</f >", "<x:f>1+1</x:f\n>",
                                     "<f>1+1</f\t><v ></v\r\n>", '<f>1+1</f><v/></c ><c r="B3"><v>1</v>'])
def test_a_formula_written_in_any_form_is_found_alone_in_its_sheet(tmp_path, formula):
    """The one formula of a sheet is found whatever form its element takes, also where no '</f>'
    stands anywhere in the part, and whatever space its end tags hold before their '>' (XML allows
    it; python-calamine reads the cell as empty all the same)."""
    part = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            f'<row r="3"><c r="A3">{formula}</c></row></sheetData></worksheet>').encode()
    path = edited(_utrecht(tmp_path), tmp_path / "alone.xlsx", lambda data: part)
    assert limits_check.checked_open(path, path.name, csv=False).notes["Export"].formulas == ["A3"]


@pytest.mark.parametrize("value", ["<v >#DIV/0!</v >", "<f>1/0</f ><v\t>#DIV/0!</v\n>",
                                   "<x:f>1/0</x:f ><x:v >#DIV/0!</x:v >"])
def test_an_error_value_is_found_whatever_space_its_tags_hold(tmp_path, value):
    part = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            f'<row r="3"><c r="A3" t="e">{value}</c></row></sheetData></worksheet>').encode()
    path = edited(_utrecht(tmp_path), tmp_path / "error.xlsx", lambda data: part)
    assert limits_check.checked_open(path, path.name, csv=False).notes["Export"].errors == [("A3", "#DIV/0!")]



@pytest.mark.parametrize("quote", ["'", '"'])
@pytest.mark.parametrize("equals", ["=", " = ", "\t=\n"])
def test_error_and_formula_cells_are_found_whatever_quotes_and_spaces_their_attributes_take(tmp_path, quote,
                                                                                           equals):
    """XML allows an attribute's value in single or double quotes and space around its '='
    (python-calamine reads them all): an error cell written t='e' is an error, and a formula
    cell's reference r='A3' is its place, as with t="e" and r="A3"."""
    def attribute(name: str, value: str) -> str:
        return f"{name}{equals}{quote}{value}{quote}"

    part = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            f'<row {attribute("r", "3")}><c {attribute("r", "A3")}><f>1+1</f></c>'
            f'<c {attribute("r", "B3")} {attribute("t", "e")}><v>#N/A</v></c>'
            f'<c {attribute("t", "e")} {attribute("r", "C3")}><f>1/0</f><v>#DIV/0!</v></c>'
            f'<c {attribute("r", "D3")} {attribute("t", "str")}><f>""</f><v></v></c></row>'
            '</sheetData></worksheet>').encode()
    path = edited(_utrecht(tmp_path), tmp_path / "quotes.xlsx", lambda data: part)
    notes = limits_check.checked_open(path, path.name, csv=False).notes["Export"]
    assert notes.formulas == ["A3"]
    assert notes.errors == [("B3", "#N/A"), ("C3", "#DIV/0!")]

# ------------------------------------------------------------------ D7: error values
def test_an_error_value_is_an_error_on_its_cell_not_a_missing_value(tmp_path):
    def change(data: bytes) -> bytes:
        return (data.replace(b'<c r="G3" s="1" t="n"><v>44075</v></c>',
                             b'<c r="G3" s="1" t="e"><f>VLOOKUP(A3,X!A:B,2,0)</f><v>#N/A</v></c>')
                .replace(b'<c r="A4" t="inlineStr"><is><t>R0002</t></is></c>', b'<c r="A4" t="e"><v>#REF!</v></c>')
                .replace(b'<c r="F5" s="1" t="n"><v>43709</v></c>', b'<c r="F5" t="e"><f>1/0</f><v>#DIV/0!</v></c>'))
    path = edited(_utrecht(tmp_path), tmp_path / "errors.xlsx", change)
    result = process_delivery(path, UTRECHT, "2020-10", PSEUDO)
    found = [(f.cell_ref, f.field, f.value) for f in result.findings if f.code == "cell-error-value"]
    assert found == [("G3", "exit_date", "#N/A"), ("A4", "record_id", "#REF!"), ("F5", "intake_date", "#DIV/0!")]
    assert not len(result.episodes) and sorted(result.quarantine["excel_row"]) == [3, 4, 5]
    code, output = validate(path, "utrecht")
    assert code == 1 and "Cell Export!G3 holds the Excel error value #N/A instead of a value." in output


# ------------------------------------------------------------------ D8: merged ranges within the limits
@pytest.mark.parametrize("ref, limit", [(b"K100:XFD1048576", "limits.rows (sheet1.xml, merged cells)"),
                                        (b"A1:GR60000", "limits.cells (sheet1.xml, merged cells)"),
                                        (b"K1048576:K100", "limits.rows (sheet1.xml, merged cells)"),
                                        (b"GR60000:A1", "limits.cells (sheet1.xml, merged cells)")])
def test_a_merged_range_past_the_limits_is_refused_by_every_reader(tmp_path, ref, limit):
    """200 columns by 60,000 rows is inside the row and column limits, 12 million cells is not;
    a range written backwards ('K1048576:K100') is the same range, as many cells."""
    path = edited(_utrecht(tmp_path), tmp_path / "merged.xlsx", lambda data: data.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="' + ref + b'"/></mergeCells>', 1))
    [finding] = check_delivery(path, UTRECHT, "2020-10", PSEUDO).findings
    assert finding.code == "limit-exceeded" and finding.params["limit"] == limit
    code, output = validate(path, "utrecht")
    assert code == 2 and limit in output
    with pytest.raises(DraftError, match=limit.replace("(", r"\(").replace(")", r"\)")):
        read_grids(path)


def test_merged_ranges_within_the_limits_are_read(tmp_path):
    path = edited(_utrecht(tmp_path), tmp_path / "merged.xlsx", lambda data: data.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="2"><mergeCell ref="C3:D3"/><mergeCell ref="K1:GR20"/>'
                         b"</mergeCells>", 1))
    assert limits_check.checked_open(path, path.name, csv=False).finding is None
    assert validate(path, "utrecht")[0] == 0


# ------------------------------------------------------------------ D9: two sheets of one name
def test_two_sheets_whose_names_differ_in_capitals_only_are_refused_not_guessed(tmp_path):
    book = openpyxl.load_workbook(_utrecht(tmp_path))
    book.create_sheet("EXPORT1", 0)  # an old copy, empty, first: openpyxl refuses the name 'EXPORT' itself
    book.save(tmp_path / "two.xlsx")
    path = edited(tmp_path / "two.xlsx", tmp_path / "two.xlsx", lambda data: data.replace(b'"EXPORT1"', b'"EXPORT"'),
                  "xl/workbook.xml")
    with pytest.raises(DeliveryRejected) as rejected:
        read_source(path, UTRECHT)
    [finding] = rejected.value.findings
    assert finding.code == "sheet-ambiguous" and finding.params["found"] == "'EXPORT', 'Export'"
    code, output = validate(path, "utrecht")
    assert code == 2 and "There is more than one sheet 'Export'" in output


# ------------------------------------------------------------------ D6, D11: CSV
def _eindhoven(tmp_path: Path, n: int = 67) -> Path:
    rows = [good_row(i, intake_date="01-09-2019", birth_date="01-01-1990") for i in range(1, n + 1)]
    return write_sheet(tmp_path / "e.csv", EINDHOVEN, rows)


def test_an_unclosed_quote_in_a_csv_is_a_located_unreadable_file_not_one_long_cell(tmp_path):
    lines = _eindhoven(tmp_path).read_text(encoding=EINDHOVEN.file.encoding).splitlines(keepends=True)
    lines[5] = lines[5].replace("Testnaam", '"Testnaam', 1)  # line 6 (R0005): the quote is never closed
    path = tmp_path / "quote.csv"
    path.write_text("".join(lines), encoding=EINDHOVEN.file.encoding)
    [finding] = check_delivery(path, EINDHOVEN, "2020-10", PSEUDO).findings
    assert finding.code == "file-unreadable" and finding.excel_row == 6
    code, output = validate(path, "eindhoven")
    assert code == 2 and "line 6: a quoted cell is never closed" in output


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_csv_with_its_byte_order_mark_is_read_as_the_text_it_is(tmp_path, encoding):
    source = _eindhoven(tmp_path, 5)
    text = source.read_text(encoding=EINDHOVEN.file.encoding).replace("Testnaam", "Testnaam Ĳsselmeer")
    wide = tmp_path / "wide.csv"
    wide.write_bytes(("\ufeff" + text).encode(encoding))  # Excel's 'Unicode text': UTF-16 LE, with its mark
    assert wide.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    raw = read_source(wide, EINDHOVEN)
    assert raw.rows == [[*r[:2], r[2].replace("Testnaam", "Testnaam Ĳsselmeer"), *r[3:]]
                        for r in read_source(source, EINDHOVEN).rows]
    assert validate(wide, "eindhoven")[0] == 0


# ------------------------------------------------------------------ one checked open for every reader
def test_the_delivery_reader_and_the_contract_draft_refuse_the_same_files_with_the_same_words(tmp_path):
    too_many_lines = tmp_path / "lines.csv"
    too_many_lines.write_bytes(b"a;b\n" * (limits().rows + 1))
    merged = edited(_utrecht(tmp_path), tmp_path / "merged.xlsx", lambda data: data.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A1:B300000"/></mergeCells>', 1))
    for path, contract in ((too_many_lines, EINDHOVEN), (merged, UTRECHT)):
        with pytest.raises(DeliveryRejected) as rejected:
            read_source(path, contract)
        said = rejected.value.findings[0].as_row("en")
        with pytest.raises(DraftError) as drafted:
            read_grids(path)
        assert str(drafted.value) == f"{path.name}: {said['message']} {said['fix']}"
