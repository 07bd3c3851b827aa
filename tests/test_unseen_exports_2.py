"""Exports as other tools write them, second sweep: every file here is written by hand, its XML text
(or its binary records, or its CSV bytes) spelled out below, not by the demo's generator nor by
openpyxl: inline and rich-text strings, ISO date cells, Strict Open XML, macro workbooks, an
OpenDocument spreadsheet, an Excel Binary Workbook, a workbook under another name or with its
sheet in another folder, headers over two rows or with line breaks, CSV in old and odd shapes.
Each is read as Excel shows it, or refused with a finding that says what it is and what to do."""

from __future__ import annotations

import struct
import zipfile
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import contract_for
from transforms import limits as limits_check
from transforms.contract_draft import DraftError, read_grids
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import DeliveryRejected, read_source
from tests.test_unseen_exports import _compound_file

ROTTERDAM, UTRECHT, EINDHOVEN = contract_for("rotterdam"), contract_for("utrecht"), contract_for("eindhoven")
HEADER = ["Kenmerk", "V-nr", "Achternaam", "Voornaam", "Geboortedatum", "Instroom", "Uitstroom", "Resultaat"]
ROWS = [["K1", "0312345678", "A", "B", "01-01-1990", "01-09-2019", "02-03-2020", "Terugkeer"],
        ["K2", "0312345679", "C", "D", "02-01-1990", "03-09-2019", None, None],
        ["K3", "0312345680", "E", "F", "03-01-1990", "04-09-2019", "05-05-2020", "Gedwongen beëindiging"]]
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
STRICT = ("http://purl.oclc.org/ooxml/spreadsheetml/main", "http://purl.oclc.org/ooxml/officeDocument/relationships")
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"


# ------------------------------------------------------------------ files written by hand
def _letters(index: int) -> str:
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value) -> str:
    """A text as an inline string (t="inlineStr"); ('xml', text): the cell's XML as written, REF
    standing for its reference; None: no cell."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return value[1].replace("REF", ref)
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'


def sheet_xml(rows: list, namespace: str = MAIN, after: str = "") -> str:
    """A worksheet part: each row a list of cells (_cell), or a row's XML as written."""
    body = "".join(row if isinstance(row, str) else
                   f'<row r="{r}">' + "".join(_cell(f"{_letters(i)}{r}", v) for i, v in enumerate(row)) + "</row>"
                   for r, row in enumerate(rows, 1))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{namespace}">'
            f"<sheetData>{body}</sheetData>{after}</worksheet>")


def workbook(path: Path, sheets: list[tuple[str, str, str | None]], shared: list[str] | None = None,
             strict: bool = False, folder: str = "worksheets") -> Path:
    """An .xlsx of (name, worksheet XML, state or None) sheets, its parts written out here: content
    types, relationships, the workbook, shared strings (each an <si> as written) when given.
    strict: the Strict Open XML namespaces; folder: where under xl/ the worksheet parts stand."""
    main, relations = STRICT if strict else (MAIN, RELATIONS)
    kinds = "http://purl.oclc.org/ooxml/officeDocument/relationships" if strict else RELATIONS
    listed = "".join(f'<sheet name="{escape(n)}" sheetId="{i}"{f" state={chr(34)}{s}{chr(34)}" if s else ""} '
                     f'r:id="rId{i}"/>' for i, (n, _, s) in enumerate(sheets, 1))
    links = "".join(f'<Relationship Id="rId{i}" Type="{kinds}/worksheet" Target="{folder}/sheet{i}.xml"/>'
                    for i in range(1, len(sheets) + 1))
    if shared is not None:
        links += f'<Relationship Id="rId99" Type="{kinds}/sharedStrings" Target="sharedStrings.xml"/>'
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                               'package/2006/content-types"><Default Extension="rels" ContentType="application/'
                               'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                               'ContentType="application/xml"/></Types>',
        "_rels/.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE}"><Relationship '
                       f'Id="rId1" Type="{kinds}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{relations}">'
                           f"<sheets>{listed}</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE}">'
                                      f"{links}</Relationships>",
    }
    parts.update({f"xl/{folder}/sheet{i}.xml": xml for i, (_, xml, _) in enumerate(sheets, 1)})
    if shared is not None:
        parts["xl/sharedStrings.xml"] = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}">{"".join(shared)}</sst>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


def ods(path: Path, rows: list[list], repeated: int = 0) -> Path:
    """An OpenDocument spreadsheet (LibreOffice's .ods): its mimetype, manifest and content.xml,
    one table 'LVV' of text cells; repeated: a last row of one text cell repeated that many times
    by table:number-rows-repeated (a few bytes, as many rows)."""
    table = "".join("<table:table-row>" + "".join(
        f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p></table:table-cell>'
        if v is not None else "<table:table-cell/>" for v in row) + "</table:table-row>" for row in rows)
    if repeated:
        table += (f'<table:table-row table:number-rows-repeated="{repeated}"><table:table-cell '
                  'office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row>')
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
               f'<office:spreadsheet><table:table table:name="LVV">{table}</table:table></office:spreadsheet>'
               "</office:body></office:document-content>")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                         'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
                         'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                         "</manifest:manifest>")
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def _record(kind: int, data: bytes = b"") -> bytes:
    """One BIFF12 record: its type and size as 7-bit variable-length numbers, then its data."""
    def number(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
            n >>= 7
            if not n:
                return bytes(out)
    return number(kind) + number(len(data)) + data


def _wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def xlsb(path: Path, rows: list[list], text_record: int = 0x06) -> Path:
    """An Excel Binary Workbook (.xlsb) of one sheet 'LVV', its BIFF12 records written here: the
    workbook's sheet list and the sheet's rows of text cells (record 0x06, a text in the cell;
    0x07 says a shared string's number instead, of a table this file does not have)."""
    book = _record(0x83) + _record(0x8F) + _record(0x9C, struct.pack("<II", 0, 1) + _wide("rId1") + _wide("LVV")) \
        + _record(0x90) + _record(0x84)
    cells = b"".join(_record(0x00, struct.pack("<IIHHBBI", r, 0, 0, 0, 0, 0, 0)) + b"".join(
        _record(text_record, struct.pack("<II", c, 0) + _wide(v)) for c, v in enumerate(row) if v is not None)
        for r, row in enumerate(rows))
    sheet = _record(0x81) + _record(0x94, struct.pack("<IIII", 0, len(rows) - 1, 0, 7)) + _record(0x91) + cells \
        + _record(0x92) + _record(0x82)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                         'openxmlformats.org/package/2006/content-types"/>')
        archive.writestr("_rels/.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PACKAGE}">'
                         f'<Relationship Id="rId1" Type="{RELATIONS}/officeDocument" Target="xl/workbook.bin"/>'
                         "</Relationships>")
        archive.writestr("xl/workbook.bin", book)
        archive.writestr("xl/_rels/workbook.bin.rels", f'<?xml version="1.0" encoding="UTF-8"?><Relationships '
                         f'xmlns="{PACKAGE}"><Relationship Id="rId1" Type="{RELATIONS}/worksheet" '
                         'Target="worksheets/sheet1.bin"/></Relationships>')
        archive.writestr("xl/worksheets/sheet1.bin", sheet)
    return path


def rotterdam(path: Path, rows: list | None = None, **options) -> Path:
    return workbook(path, [("LVV", sheet_xml([HEADER] + (ROWS if rows is None else rows)), None)], **options)


def stays(path: Path, contract=ROTTERDAM) -> list[tuple]:
    """(sheet row, intake, exit, outcome code) of each curated row, and nothing quarantined."""
    result = process_delivery(path, contract, "2020-10", Pseudonymiser("k"))
    assert result.delivery["status"] == "accepted" and len(result.quarantine) == 0, result.findings
    return [(int(r.excel_row), r.intake_date, r.exit_date, r.outcome_code) for r in result.episodes.itertuples()]


def refused(path: Path, contract=ROTTERDAM) -> list[tuple]:
    with pytest.raises(DeliveryRejected) as rejected:
        read_source(path, contract)
    return [(f.code, f.params) for f in rejected.value.findings]


def validate(path: Path, municipality: str = "rotterdam") -> tuple[int, str]:
    done = CliRunner().invoke(app, ["validate", str(path), "--municipality", municipality, "--period", "2020-10",
                                    "--lang", "en"])
    return done.exit_code, done.output


# ------------------------------------------------------------------ other packages than .xlsx
def test_an_ods_is_refused_as_what_it_is_before_python_calamine_expands_its_rows(tmp_path):
    """python-calamine reads an .ods (by its name), but the limits' pass streams only an .xlsx's
    sheet parts: 883 bytes repeating a row a million times were read as a million rows (240 MB),
    past every limit. Now refused from the zip's directory, and named, also under an .xlsx name
    (before: 'damaged or truncated (File not found _rels/.rels)')."""
    bomb = ods(tmp_path / "export.ods", [HEADER] + ROWS, repeated=1_000_000)
    renamed = tmp_path / "export.xlsx"
    renamed.write_bytes(ods(tmp_path / "plain.ods", [HEADER] + ROWS).read_bytes())
    for path in (bomb, renamed, tmp_path / "plain.ods"):
        (code, params), = refused(path)
        assert code == "file-not-spreadsheet" and "OpenDocument spreadsheet (.ods" in params["detail"]
        assert "xlsx" in params["detail"]
        with pytest.raises(DraftError, match="OpenDocument spreadsheet"):
            read_grids(path)
    exit_code, output = validate(bomb)
    assert exit_code == 2 and "OpenDocument spreadsheet" in output


def test_an_xlsb_is_refused_as_what_it_is_not_read_past_the_limits(tmp_path):
    """An Excel Binary Workbook: python-calamine reads its rows (this one's three stays), but its
    sheets are binary records no limit counts, and its date system and error cells go unseen."""
    path = xlsb(tmp_path / "export.xlsb", [HEADER] + ROWS)
    for name in ("export.xlsb", "renamed.xlsx"):
        (tmp_path / name).write_bytes(path.read_bytes())
        (code, params), = refused(tmp_path / name)
        assert code == "file-not-spreadsheet" and "Excel Binary Workbook (.xlsb)" in params["detail"]
        with pytest.raises(DraftError, match=r"\.xlsb"):
            read_grids(tmp_path / name)


def test_a_zip_that_holds_no_workbook_is_not_called_damaged(tmp_path):
    """A Word document (or any zip) named .xlsx is not 'damaged or truncated': the steward would
    export the register again, and send the same document."""
    path = tmp_path / "export.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    assert refused(path) == [("file-not-spreadsheet", {"detail": "a Word document"})]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("export.csv", "Kenmerk;V-nr\n")
    assert refused(path) == [("file-not-spreadsheet",
                              {"detail": "a zip archive without a workbook in it (no xl/workbook.xml)"})]


@pytest.mark.parametrize("name", ["export.ods", "export.xlsb", "export.xls", "export.txt", "export", "EXPORT.XLSX"])
def test_a_workbook_under_another_name_is_read_as_the_workbook_it_is(tmp_path, name):
    """python-calamine picks its reader by the file's name: an .xlsx named .ods, .xlsb or .xls was
    'damaged or truncated' ('mimetype' file not found). Read by its content, it is the workbook."""
    plain = stays(rotterdam(tmp_path / "plain.xlsx"))
    path = tmp_path / name
    path.write_bytes((tmp_path / "plain.xlsx").read_bytes())
    assert stays(path) == plain and len(plain) == 3
    grid, = read_grids(path)  # and so does the contract draft
    assert grid.sheet == "LVV" and grid.rows[0] == HEADER and len(grid.rows) == 4


def test_a_sheet_part_in_another_folder_is_held_to_the_limits_and_its_cells_noted(tmp_path):
    """python-calamine reads a sheet wherever the workbook's relationships put it ('xl/data/..');
    the limits' pass streamed only xl/worksheets/*.xml: a cell at row 900,000 in such a part made
    calamine fill 900,000 rows past the 250,000-row limit, and a formula without a value there
    was read as an empty cell (an open stay)."""
    far = '<row r="900000"><c r="A900000" t="inlineStr"><is><t>x</t></is></c></row>'
    path = workbook(tmp_path / "far.xlsx", [("LVV", sheet_xml([HEADER] + ROWS + [far]), None)], folder="data")
    assert refused(path) == [("limit-exceeded", {"limit": "limits.rows (sheet1.xml)", "found": "900000",
                                                 "maximum": "250000"})]
    rows = [list(r) for r in ROWS]
    rows[0][6] = ("xml", '<c r="REF"><f>TODAY()</f></c>')
    path = workbook(tmp_path / "formula.xlsx", [("LVV", sheet_xml([HEADER] + rows), None)], folder="Data")
    result = process_delivery(path, ROTTERDAM, "2020-10", Pseudonymiser("k"))
    assert ("cell-formula-no-value", 2, "G") in [(f.code, f.excel_row, f.column_letter) for f in result.findings]
    assert len(result.quarantine) == 1 and len(result.episodes) == 2


@pytest.mark.parametrize("spelling", [lambda name: name.replace("/", "\\"), str.upper])
def test_a_workbook_whose_part_names_are_spelled_otherwise_is_read_and_held_to_the_limits(tmp_path, spelling):
    """Some Windows tools write a zip's names with '\\' ('xl\\worksheets\\sheet1.xml'), or in
    capitals; python-calamine finds the parts all the same. The limits' pass did not (no sheet
    streamed: a cell at row 900,000 was read past the 250,000-row limit), and then took the
    package for no workbook at all. Both now find the parts as python-calamine does."""
    def respelled(source: Path, out: Path) -> Path:
        with zipfile.ZipFile(source) as archive, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy:
            for name in archive.namelist():
                copy.writestr(spelling(name) if name.startswith("xl/") else name, archive.read(name))
        return out
    assert stays(respelled(rotterdam(tmp_path / "a.xlsx"), tmp_path / "b.xlsx")) == stays(tmp_path / "a.xlsx")
    far = '<row r="900000"><c r="A900000" t="inlineStr"><is><t>x</t></is></c></row>'
    path = respelled(rotterdam(tmp_path / "c.xlsx", ROWS + [far]), tmp_path / "d.xlsx")
    (code, params), = refused(path)
    assert code == "limit-exceeded" and params["found"] == "900000"


def test_a_panic_of_python_calamine_is_an_unreadable_file_not_a_traceback(tmp_path, monkeypatch):
    """python-calamine panics on some damaged parts (here an .xlsb cell naming a shared string of a
    table the file lacks); the panic reaches Python as a BaseException that `except Exception`
    let through: a traceback from `lvv validate` and `lvv contract draft`. Should any file the
    limits let through do so, it is 'cannot be read'. (The .xlsb itself is refused before it is
    parsed: let through here, as a file calamine panics on.)"""
    monkeypatch.setattr(limits_check, "other_package", lambda members: None)
    path = xlsb(tmp_path / "export.xlsb", [HEADER] + ROWS, text_record=0x07)
    (code, params), = refused(path)
    assert code == "file-unreadable" and "index out of bounds" in params["detail"]
    with pytest.raises(DraftError, match="cannot be read"):
        read_grids(path)


# ------------------------------------------------------------------ headers as stewards make them
def test_a_line_break_in_a_header_is_shown_on_the_one_line_of_its_finding(tmp_path):
    """'V-nr' typed with Alt+Enter after 'V-' is a header 'V-\\nnr'; its finding quoted it with the
    break, splitting the steward's line in two. Shown as 'V-↵nr', the break stays seen. (Whether
    such a header should be taken for 'V-nr' is the contract's to say: not decided here.)"""
    header = list(HEADER)
    header[1], header[2] = "V-\nnr", "Achter\r\nnaam "  # a column the contract reads, and one it need not
    path = workbook(tmp_path / "a.xlsx", [("LVV", sheet_xml([header] + ROWS), None)])
    assert refused(path) == [("column-missing", {"expected": "V-nr", "closest": "V-↵nr"})]
    exit_code, output = validate(path)
    assert exit_code == 2 and "looks like it: V-↵nr." in output and "V-\nnr" not in output


def test_a_column_name_in_the_row_below_the_header_is_pointed_at(tmp_path):
    """A header over two rows (merged cells above, the names below): the columns missing from the
    header row were 'missing, look-alike: -', 'add it', though they stand one row down. The
    finding now names the cell they stand in."""
    top = ["Kenmerk", "V-nr", "Naam", None, "Datum", None, None, "Resultaat"]
    below = [None, None, "Achternaam", "Voornaam", "Geboortedatum", "Instroom", "Uitstroom", None]
    merged = '<mergeCells count="3"><mergeCell ref="C1:D1"/><mergeCell ref="E1:G1"/><mergeCell ref="H1:H2"/></mergeCells>'
    path = workbook(tmp_path / "a.xlsx", [("LVV", sheet_xml([top, below] + ROWS, after=merged), None)])
    assert refused(path) == [("column-missing", {"expected": "Instroom", "closest": "Instroom (F2)"}),
                             ("column-missing", {"expected": "Uitstroom", "closest": "Uitstroom (G2)"})]


def test_spaces_nobody_sees_and_a_break_between_words_are_the_header_without_them(tmp_path):
    """Trailing spaces, a non-breaking space (U+00A0, U+202F) in place of a space or around the
    name, a line break between two words: the header Excel shows is the contract's."""
    utrecht = list(UTRECHT.columns.values())
    header = [h + "  " if i % 3 == 0 else ("\u00a0" + h if i % 3 == 1 else h.replace(" ", "\u202f")) for i, h in
              enumerate(utrecht)]
    header[5] = "Begin\nverblijf"
    rows = [["Stand per", ("xml", '<c r="REF" t="d"><v>2020-10-31T00:00:00</v></c>')], header,
            ["ID1", "0312345678", "A", "B", None, ("xml", '<c r="REF" t="d"><v>2019-09-01T00:00:00</v></c>'),
             ("xml", '<c r="REF" t="d"><v>2020-03-02</v></c>'), "Eigen netwerk", None]]
    path = workbook(tmp_path / "a.xlsx", [("Export", sheet_xml(rows), None)])
    raw = read_source(path, UTRECHT)
    assert set(raw.positions) == set(UTRECHT.columns) and not raw.findings
    assert stays(path, UTRECHT) == [(3, date(2019, 9, 1), date(2020, 3, 2), "own_network")]


def test_a_totals_row_s_formula_without_its_value_is_no_error_the_row_is_skipped(tmp_path):
    """A 'Totaal' row below the data, its counts written as formulas without a calculated value (as
    a script writing the export leaves them) or an error value: the contract skips the row as no
    data, so nothing of a stay is unread; it was an error all the same, and `lvv validate` said the
    file could not be delivered. A formula without its value in a stay's row is still one."""
    totals = ["Totaal", ("xml", '<c r="REF"><f>COUNTA(B2:B4)</f></c>'), None, None, None, None,
              ("xml", '<c r="REF" t="e"><f>COUNTA(G2:G4)/0</f><v>#DIV/0!</v></c>'), None]
    path = workbook(tmp_path / "a.xlsx", [("LVV", sheet_xml([HEADER] + ROWS + [[None], totals]), None)])
    result = process_delivery(path, ROTTERDAM, "2020-10", Pseudonymiser("k"))
    assert [(f.code, f.excel_row) for f in result.findings] == [("row-not-data", 6)]
    assert len(result.episodes) == 3 and len(result.quarantine) == 0
    assert validate(path)[0] == 0
    rows = [list(r) for r in ROWS]
    rows[1][6] = totals[1]
    path = workbook(tmp_path / "b.xlsx", [("LVV", sheet_xml([HEADER] + rows + [[None], totals]), None)])
    found = [(f.code, f.excel_row) for f in process_delivery(path, ROTTERDAM, "2020-10", Pseudonymiser("k")).findings]
    assert ("cell-formula-no-value", 3) in found and ("cell-formula-no-value", 6) not in found


# ------------------------------------------------------------------ workbooks as other tools write them
RICH = ['<si><r><rPr><b/></rPr><t>Ken</t></r><r><t>merk</t></r></si>',
        '<si><t>V-nr</t><rPh sb="0" eb="1"><t>ブイ</t></rPh><phoneticPr fontId="1"/></si>',
        '<si><r><t xml:space="preserve">Gedwongen </t></r><r><rPr><i/></rPr><t>beëindiging</t></r></si>',
        '<si><t>Terugkeer</t><rPh sb="0" eb="2"><t>XYZ</t></rPh></si>']


def test_inline_rich_text_and_phonetic_strings_read_as_the_text_excel_shows(tmp_path):
    """Inline strings (t="inlineStr", as many export libraries write them), and shared strings in
    runs of formatting (<r><rPr/>..) or with a phonetic reading (<rPh>, not part of the text),
    in the header and in the labels: the same stays as plain text."""
    plain = stays(rotterdam(tmp_path / "plain.xlsx"))
    shared = [("xml", f'<c r="REF" t="s"><v>{i}</v></c>') for i in range(4)]
    rows = [shared[:2] + HEADER[2:], ROWS[0][:7] + [shared[3]], ROWS[1], ROWS[2][:7] + [shared[2]]]
    rich = workbook(tmp_path / "rich.xlsx", [("LVV", sheet_xml(rows), None)], shared=RICH)
    assert stays(rich) == plain and plain[2][3] == "stay_terminated"


def test_iso_date_cells_are_dates_and_the_stand_per_date_too(tmp_path):
    """t="d" cells (LibreOffice, several libraries): '2020-10-31T00:00:00' is that date, in a date
    column and after 'Stand per'; a time of day in it is the day's (as a date cell's is)."""
    def iso(text: str) -> tuple[str, str]:
        return "xml", f'<c r="REF" t="d"><v>{text}</v></c>'
    rows = [["Stand per", iso("2020-10-15T00:00:00")], list(UTRECHT.columns.values()),
            ["ID1", "0312345678", "A", "B", iso("1990-01-01T00:00:00"), iso("2019-09-01T13:30:00"),
             iso("2020-03-02"), "Eigen netwerk", None],
            ["ID2", "0312345679", "C", "D", iso("1990-01-02"), iso("2019-09-03T00:00:00"), None, None, None]]
    path = workbook(tmp_path / "iso.xlsx", [("Export", sheet_xml(rows), None)])
    raw = read_source(path, UTRECHT)
    assert raw.stand_per == date(2020, 10, 15) and raw.rows[0][5] == datetime(2019, 9, 1, 13, 30)
    first, second = stays(path, UTRECHT)
    assert first == (3, date(2019, 9, 1), date(2020, 3, 2), "own_network") and second[:2] == (4, date(2019, 9, 3))


@pytest.mark.parametrize("kind", ["strict", "xlsm"])
def test_strict_open_xml_and_a_macro_workbook_are_read(tmp_path, kind):
    """Strict Open XML (Excel's 'Strict Open XML Spreadsheet', other namespaces) and .xlsm (a
    workbook with macros, the same parts): read as the .xlsx."""
    plain = stays(rotterdam(tmp_path / "plain.xlsx"))
    path = rotterdam(tmp_path / "export.xlsm") if kind == "xlsm" else \
        workbook(tmp_path / "strict.xlsx", [("LVV", sheet_xml([HEADER] + ROWS, STRICT[0]), None)], strict=True)
    assert stays(path) == plain


@pytest.mark.parametrize("sheets, warned", [
    ([("Samenvatting", None), ("LVV", None)], False),   # the data sheet not first
    ([("Blad1", None), ("LVV", "hidden")], True),       # hidden, another sheet in front
    ([("Blad1", None), ("LVV", "veryHidden")], True),
    ([("lvv ", None)], False),                          # the contract's name in other capitals, a space after
])
def test_the_data_sheet_is_found_wherever_it_stands_and_a_hidden_one_is_said(tmp_path, sheets, warned):
    other = sheet_xml([["Totaal"], ["Aantal", ("xml", '<c r="REF"><v>3</v></c>')]])
    path = workbook(tmp_path / "a.xlsx", [(n, sheet_xml([HEADER] + ROWS) if n.strip().lower() == "lvv" else other, s)
                                          for n, s in sheets])
    raw = read_source(path, ROTTERDAM)
    assert len(raw.rows) == 3 and [f.code for f in raw.findings] == (["sheet-hidden"] if warned else [])


# ------------------------------------------------------------------ CSV as old and odd tools write it
EXPORT = [["Clientnr", "Vnr", "Naam", "Geb.datum", "Startdatum", "Einddatum", "Uitstroom"],
          ["4101", "5550306006", "Gonçalves", "10-12-1961", "07-07-2019", "03-02-2020", "Gedwongen beëindigd"],
          ["4102", "0935306123", "Gökçe", "23-11-1967", "17-07-2019", "", ""],
          ["4103", "5949421008", "Traoré", "25-02-1984", "18-07-2019", "27-09-2020", "Herh. aanvraag"]]


@pytest.mark.parametrize("shape", ["cr-only", "embedded-newlines", "trailing-separator", "no-final-newline"])
def test_a_csv_in_old_or_odd_line_shapes_reads_the_same_stays(tmp_path, shape):
    """Old Mac line ends (CR only), a quoted name and label holding line breaks, a separator after
    every line's last cell, no line end after the last line: each row where Excel shows it."""
    plain = tmp_path / "plain.csv"
    plain.write_bytes("\r\n".join(";".join(r) for r in EXPORT).encode("cp1252") + b"\r\n")
    rows = [list(r) for r in EXPORT]
    if shape == "embedded-newlines":
        rows[1][2], rows[3][6] = '"Gon\r\nçalves"', '"Herh.\naanvraag"'
    lines = [";".join(r) + (";" if shape == "trailing-separator" else "") for r in rows]
    text = {"cr-only": "\r".join(lines) + "\r", "no-final-newline": "\r\n".join(lines)}.get(shape, "\r\n".join(lines) + "\r\n")
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("cp1252"))
    assert stays(path, EINDHOVEN) == stays(plain, EINDHOVEN)
    assert read_source(path, EINDHOVEN).excel_rows == [2, 3, 4]


# ------------------------------------------------------------------ the contract draft's first look at a file
def test_the_contract_draft_reads_a_utf16_csv_as_a_delivery_is_read(tmp_path):
    """Excel's 'Unicode text' (UTF-16 with its byte-order mark) is read by the delivery reader; the
    draft refused it as 'neither an .xlsx workbook nor a text (CSV) file' for its NUL bytes."""
    text = "\r\n".join(";".join(r) for r in EXPORT) + "\r\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(("\ufeff" + text).encode(encoding))
        grid, = read_grids(path)
        assert grid.rows[0] == EXPORT[0] and grid.rows[1][2] == "Gonçalves" and grid.delimiter == ";"
        assert read_source(path, EINDHOVEN).rows[0][2] == "Gonçalves"


def test_the_contract_draft_names_the_line_that_is_no_text_instead_of_an_unexpected_error(tmp_path):
    """A byte that is neither UTF-8 nor cp1252 (0x81): the draft ended in 'unexpected error:
    UnboundLocalError'; now it names the line, as the delivery reader does."""
    path = tmp_path / "export.csv"
    path.write_bytes(b"Clientnr;Vnr;Naam\r\n4101;5550306006;G\x81k\r\n")
    with pytest.raises(DraftError, match=r"export.csv: line 2 is not text in utf-8-sig or cp1252"):
        read_grids(path)
    done = CliRunner().invoke(app, ["contract", "draft", str(path), "--municipality", "zwolle"])
    # a user's error (one line, exit 1), no longer a bug's (UnboundLocalError: 'unexpected error')
    assert type(done.exception).__name__ == "UserError" and "line 2 is not text" in str(done.exception)


def test_the_contract_draft_tells_an_old_xls_in_the_delivery_s_words(tmp_path):
    """An .xls was 'neither an .xlsx workbook nor a text (CSV) file' to the draft, though the
    delivery reader says what it is and how to save it."""
    path = tmp_path / "export.xls"
    path.write_bytes(_compound_file(["Workbook", "\x05SummaryInformation"]))
    (code, _), = refused(path, ROTTERDAM)
    with pytest.raises(DraftError, match=r"old Excel workbook \(\.xls.*Save As 'Excel Workbook"):
        read_grids(path)
    assert code == "file-legacy-excel"
