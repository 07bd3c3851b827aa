"""Exports as other tools and people write them: a CSV in UTF-8 without its byte-order mark where
the contract says cp1252, Excel's separator line ('sep=;'), and header and label cells holding
characters nobody sees. Files written here by hand, not by the demo's generator: it writes none
of these."""

from __future__ import annotations

from datetime import date

import openpyxl
import pytest
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import contract_for
from transforms.contract_draft import read_grids
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import read_source

EINDHOVEN = contract_for("eindhoven")
HEADER = ["Clientnr", "Vnr", "Naam", "Geb.datum", "Startdatum", "Einddatum", "Uitstroom"]
ROWS = [
    ["4101", "5550306006", "Gonçalves", "10-12-1961", "07-07-2019", "03-02-2020", "Gedwongen beëindigd"],
    ["4102", "0935306123", "Gökçe", "23-11-1967", "17-07-2019", "", ""],
    ["4103", "5949421008", "Traoré", "25-02-1984", "18-07-2019", "27-09-2020", "Herh. aanvraag"],
    ["4104", "8007145528", "Ørsted", "15-07-2002", "22-07-2019", "14-08-2020", "VB - uitgezet"],
]


def _csv(rows: list[list[str]], delimiter: str = ";", first_line: str | None = None) -> str:
    lines = ([first_line] if first_line is not None else []) + [delimiter.join(r) for r in [HEADER, *rows]]
    return "\r\n".join(lines) + "\r\n"


def _write(tmp_path, name: str, text: str, encoding: str):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_a_utf8_csv_without_its_mark_is_read_as_the_text_it_is_where_the_contract_says_cp1252(tmp_path):
    """Read as cp1252, every letter beyond ASCII would be two wrong ones and the label
    'Gedwongen beëindigd' unknown (its row quarantined); read as UTF-8 the rows are the cp1252
    file's, with a warning saying how it was read."""
    text = _csv(ROWS)
    as_contract = read_source(_write(tmp_path, "a.csv", text, "cp1252"), EINDHOVEN)
    as_utf8 = read_source(_write(tmp_path, "b.csv", text, "utf-8"), EINDHOVEN)
    assert as_utf8.rows == as_contract.rows and as_utf8.excel_rows == as_contract.excel_rows
    assert as_utf8.rows[0][2] == "Gonçalves" and as_utf8.rows[0][6] == "Gedwongen beëindigd"
    assert [(f.code, f.params) for f in as_contract.findings] == []
    assert [(f.code, f.severity, f.params) for f in as_utf8.findings] == [
        ("csv-encoding-differs", "warning", {"encoding": "cp1252"})]
    result = process_delivery(tmp_path / "b.csv", EINDHOVEN, "2020-10", Pseudonymiser("k"))
    assert len(result.episodes) == 4 and len(result.quarantine) == 0


def test_a_cp1252_csv_stays_cp1252_and_an_ascii_one_needs_no_note(tmp_path):
    """Bytes that are not UTF-8 are the contract's encoding, as before; plain ASCII is both."""
    cp = read_source(_write(tmp_path, "a.csv", _csv(ROWS), "cp1252"), EINDHOVEN)
    assert cp.rows[3][2] == "Ørsted" and not cp.findings
    plain = [[cell.encode("ascii", "replace").decode() for cell in row] for row in ROWS[2:3]]
    ascii_only = read_source(_write(tmp_path, "b.csv", _csv(plain), "utf-8"), EINDHOVEN)
    assert not ascii_only.findings and ascii_only.rows[0][2] == "Traor?"


def test_excels_separator_line_is_not_a_row(tmp_path):
    """'sep=;' as the first line: Excel splits on ';' and shows the header in row 1; so does the
    reader (the same rows and row numbers as without the line), with no note where the line
    names the contract's delimiter, and a warning where it names another (then split on that)."""
    plain = read_source(_write(tmp_path, "a.csv", _csv(ROWS), "cp1252"), EINDHOVEN)
    same = read_source(_write(tmp_path, "b.csv", _csv(ROWS, first_line="sep=;"), "cp1252"), EINDHOVEN)
    assert (same.rows, same.excel_rows, same.headers, same.findings) == (plain.rows, plain.excel_rows,
                                                                        plain.headers, [])
    commas = [[cell.replace(",", " ") for cell in row] for row in ROWS]
    other = read_source(_write(tmp_path, "c.csv", _csv(commas, ",", first_line="sep=,"), "cp1252"), EINDHOVEN)
    assert other.rows == plain.rows and other.excel_rows == plain.excel_rows
    assert [(f.code, f.params) for f in other.findings] == [
        ("csv-separator-line", {"separator": ",", "delimiter": ";"})]


def test_the_steward_report_and_the_contract_draft_read_the_separator_line_as_the_reader_does(tmp_path):
    """The report's copy of the file shows the header in row 1 (as Excel does, and as the findings
    count rows); the contract draft of a new municipality's file finds the header in row 1 and
    the delimiter the line names, so the contract it drafts reads the file."""
    path = _write(tmp_path, "export.csv", _csv(ROWS, first_line="sep=;"), "utf-8")
    report = tmp_path / "report.xlsx"
    outcome = CliRunner().invoke(app, ["validate", str(path), "--municipality", "eindhoven", "--period",
                                       "2020-10", "--report", str(report)])
    assert outcome.exit_code == 0, outcome.output
    book = openpyxl.load_workbook(report, read_only=True)
    copies = [ws for ws in book.worksheets if any(c == "Clientnr" for row in ws.iter_rows(values_only=True)
                                                  for c in row)]
    assert len(copies) == 1
    first = next(copies[0].iter_rows(values_only=True))
    assert list(first[:len(HEADER)]) == HEADER
    assert not any(c == "sep=;" for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row)
    book.close()
    grid, = read_grids(path)
    assert grid.rows[0] == HEADER and grid.delimiter == ";"


AMSTERDAM = contract_for("amsterdam")


def _amsterdam_workbook(path, header: list[str], rows: list[list]) -> None:
    """Amsterdam's layout built cell by cell: the title block with its 'Stand per' date, the header
    in row 5, the data below."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = AMSTERDAM.file.sheet
    sheet["A1"], sheet["A2"], sheet["B2"] = "Registratie LVV", "Stand per", date(2020, 10, 31)
    for column, text in enumerate(header, 1):
        sheet.cell(5, column, text)
    for r, row in enumerate(rows, 6):
        for column, value in enumerate(row, 1):
            sheet.cell(r, column, value)
    book.save(path)


AMSTERDAM_ROWS = [
    ["LVV-2019-0101", "0312345678", "Haverkamp", "Ietje", date(1977, 7, 17), date(2019, 5, 1), date(2020, 3, 2),
     "Zelfstandig vertrek", None],
    ["LVV-2019-0102", "0312345679", "Oosterwijk", "Sem", date(1980, 1, 2), date(2019, 6, 3), None, None, None],
]


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u00ad", "\u2060", "\u200e"])
def test_a_character_nobody_sees_does_not_make_another_header_or_label(tmp_path, invisible):
    """A zero-width space, a byte-order mark, a soft hyphen, a word joiner or a direction mark in
    a header, an outcome label, a record number or a V-number (pasted from a web page or a chat)
    looks the same as without it to the steward; the reader reads the file as the one without it,
    not 'header not found', an unknown label, a malformed V-number or another stay."""
    header = list(AMSTERDAM.columns.values())
    plain, marked = tmp_path / "plain.xlsx", tmp_path / "marked.xlsx"
    _amsterdam_workbook(plain, header, AMSTERDAM_ROWS)
    rows = [list(r) for r in AMSTERDAM_ROWS]
    rows[0][7] = "Zelfstandig" + invisible + " vertrek"
    rows[0][0], rows[1][1] = rows[0][0] + invisible, invisible + rows[1][1]  # a record number, a V-number
    _amsterdam_workbook(marked, [invisible + h if k % 2 else h + invisible for k, h in enumerate(header)], rows)
    read_plain, read_marked = read_source(plain, AMSTERDAM), read_source(marked, AMSTERDAM)
    assert read_marked.positions == read_plain.positions and not read_marked.findings
    expected = process_delivery(plain, AMSTERDAM, "2020-10", Pseudonymiser("k"))
    found = process_delivery(marked, AMSTERDAM, "2020-10", Pseudonymiser("k"))
    assert len(found.quarantine) == 0 and len(found.episodes) == 2
    # the same stays of the same persons: a record number or V-number with the character is the one without
    columns = ["person_id", "episode_id", "intake_date", "exit_date", "outcome_code"]
    assert found.episodes[columns].equals(expected.episodes[columns])
    assert found.episodes["outcome_code"].tolist()[0] == expected.episodes["outcome_code"].tolist()[0] == "return_independent"


@pytest.mark.parametrize("stated", ["15 oktober 2020", "2020-10-15", "onbekend", None])
def test_a_stand_per_date_that_cannot_be_read_is_a_located_warning_not_a_silent_month_end(tmp_path, stated):
    """The knowledge date of a delivery is its 'stand per' date; where the label stands but no date
    in the contract's notation follows, the month's end is taken (as before), and the steward is
    told where, instead of nothing."""
    path = tmp_path / "a.xlsx"
    _amsterdam_workbook(path, list(AMSTERDAM.columns.values()), AMSTERDAM_ROWS)
    book = openpyxl.load_workbook(path)
    book.active["B2"] = stated
    book.save(path)
    result = process_delivery(path, AMSTERDAM, "2020-10", Pseudonymiser("k"))
    assert result.delivery["stand_per"] == date(2020, 10, 31) and not result.delivery["stand_per_stated"]
    found = [(f.code, f.severity, f.excel_row, f.column_letter, f.value) for f in result.findings]
    assert found == [("stand-per-unreadable", "warning", 2, "B" if stated else "A", stated or "Stand per")]
    book.active["B2"] = date(2020, 10, 15)
    book.save(path)
    stated_well = process_delivery(path, AMSTERDAM, "2020-10", Pseudonymiser("k"))
    assert stated_well.delivery["stand_per"] == date(2020, 10, 15) and not stated_well.findings


def _compound_file(streams: list[str], sector_shift: int = 9, directory_sector: int = 0,
                   filler_sectors: int = 0) -> bytes:
    """An Office 97-2003 container (compound file) built by hand: its header (signature, sector
    size, the first directory sector) and a directory of a root entry and the named streams, after
    `filler_sectors` sectors of other content. Enough of the format for its directory to be read."""
    size = 1 << sector_shift
    header = bytearray(512)
    header[0:8] = bytes.fromhex("d0cf11e0a1b11ae1")
    header[0x18:0x1A], header[0x1A:0x1C], header[0x1C:0x1E] = (0x3E).to_bytes(2, "little"), \
        (3 if sector_shift == 9 else 4).to_bytes(2, "little"), bytes.fromhex("feff")
    header[0x1E:0x20], header[0x20:0x22] = sector_shift.to_bytes(2, "little"), (6).to_bytes(2, "little")
    header[0x30:0x34] = (directory_sector + filler_sectors).to_bytes(4, "little")
    entries = bytearray()
    for kind, name in [(5, "Root Entry"), *((2, n) for n in streams)]:
        entry = bytearray(128)
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        entry[0:len(encoded)], entry[0x40:0x42], entry[0x42] = encoded, len(encoded).to_bytes(2, "little"), kind
        entries += entry
    entries += bytes(-len(entries) % size)
    return bytes(header) + bytes(size - 512 if size > 512 else 0) + bytes(size * filler_sectors) + bytes(entries)


@pytest.mark.parametrize("streams, shift, filler, code", [
    (["Workbook", "\x05SummaryInformation"], 9, 0, "file-legacy-excel"),       # Excel 97-2003
    (["\x05SummaryInformation", "\x05DocumentSummaryInformation", "Book"], 12, 3, "file-legacy-excel"),  # Excel 5
    (["EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"], 9, 2, "file-password-protected"),  # an .xlsx with a password
    (["WordDocument", "\x05SummaryInformation"], 9, 0, "file-not-spreadsheet"),  # a Word .doc: no workbook, no password
    (["EncryptedPackage"], 9, 0, "file-password-protected"),  # the package alone still says 'password'
])
def test_an_old_xls_is_told_apart_from_a_password_protected_workbook(tmp_path, streams, shift, filler, code):
    """Both are Office's older container. An export saved as 'Excel 97-2003' was refused as
    password-protected, a message that sends the steward looking for a password that is not there;
    it is now told to save the file as .xlsx. What the container holds is read from its directory,
    two reads whatever the file's size."""
    path = tmp_path / "export.xls"
    path.write_bytes(_compound_file(streams, shift, filler_sectors=filler))
    result = process_delivery(path, AMSTERDAM, "2020-10", Pseudonymiser("k"))
    assert result.delivery["status"] == "rejected"
    assert [(f.code, f.severity) for f in result.findings] == [(code, "fatal")]


def test_a_damaged_container_is_refused_without_an_error_of_its_own(tmp_path):
    """A header cut short, a directory sector past the file's end, an absurd sector size: refused
    as before (password-protected), never an exception."""
    whole = _compound_file(["Workbook"])
    for content in (whole[:100], whole[:512], whole[:0x1E] + (40).to_bytes(2, "little") + whole[0x20:],
                    whole[:0x30] + (10**6).to_bytes(4, "little") + whole[0x34:]):
        path = tmp_path / "export.xls"
        path.write_bytes(content)
        result = process_delivery(path, AMSTERDAM, "2020-10", Pseudonymiser("k"))
        assert [f.code for f in result.findings] == ["file-password-protected"]
