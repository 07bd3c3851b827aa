"""`lvv contract draft` on exports the demo's generator never writes (round 28): a header over two
rows, files that are no workbook or CSV at all (told in the delivery reader's words), a workbook
named as CSV, a CSV with a title block, outcome labels with a code after their text. Every file
is made by hand here: openpyxl cell by cell, zipfile part by part, or the CSV's text."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from lvv.cli import app
from schemas import load_yaml
from schemas.contracts import contract_for
from tests.test_unseen_exports import _compound_file
from transforms.contract_draft import DraftError, check_draft, draft_contract, read_grids
from transforms.read import DeliveryRejected, read_source

ROTTERDAM, EINDHOVEN = contract_for("rotterdam"), contract_for("eindhoven")  # an xlsx and a csv contract
HEADER = ["Kenmerk", "V-nr", "Achternaam", "Voornaam", "Geboortedatum", "Instroom", "Uitstroom", "Resultaat"]
ROWS = [["K1", "0312345678", "A", "B", "01-01-1990", "01-09-2019", "02-03-2020", "Terugkeer"],
        ["K2", "0312345679", "C", "D", "02-01-1990", "03-09-2019", None, None],
        ["K3", "0312345680", "E", "F", "03-01-1990", "04-09-2019", "05-05-2020", "Overleden"]]


def workbook(path: Path, rows: list[list], merged: tuple[str, ...] = ()) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "LVV"
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(r, c, value)
    for cells in merged:
        sheet.merge_cells(cells)
    book.save(path)
    return path


def package(path: Path, parts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


def drafted(path: Path) -> tuple[str, dict]:
    text = draft_contract([path], "Zwolle")
    return text, load_yaml(text)


def line(text: str, start: str) -> str:
    return next(row.strip() for row in text.splitlines() if row.lstrip().startswith(start))


# ------------------------------------------------------------------ a header over two rows
def test_a_header_over_two_rows_is_read_as_one_and_marked_to_check_not_taken_for_a_birth_date(tmp_path):
    """Row 4 'Datum' merged over three columns, row 5 their names, 'Kenmerk', 'V-nr' and 'Resultaat'
    merged over both rows (their names stand in row 4 only). The draft took row 4 for the header:
    `birth_date: "Datum"` and no intake or exit date. Now each column has its own name, the header
    row is the one above the data, and what a delivery's reader will not find there is said."""
    top = ["Kenmerk", "V-nr", "Naam", None, "Datum", None, None, "Resultaat"]
    below = [None, None, "Achternaam", "Voornaam", "Geboortedatum", "Instroom", "Uitstroom", None]
    path = workbook(tmp_path / "export.xlsx", [["Rapportage LVV"], ["Stand per", "31-10-2020"], [], top, below] + ROWS,
                    ("A4:A5", "B4:B5", "C4:D4", "E4:G4", "H4:H5"))
    text, draft = drafted(path)
    assert draft["file"]["header_row"] == 5 and draft["file"]["stand_per"] == {"label": "Stand per"}
    assert draft["columns"] == dict(zip(["record_id", "person_id", "family_name", "given_name", "birth_date",
                                         "intake_date", "exit_date", "outcome"], HEADER))
    assert "over two rows, 4 and 5" in line(text, "header_row:")
    assert '"Kenmerk" (A4), "V-nr" (B4), "Resultaat" (H4) are not' in line(text, "header_row:")
    assert "# CHECK: in row 4 (A4)" in line(text, "record_id:") and "CHECK" not in line(text, "intake_date:")
    # the draft loads, and its check says what the delivery's reader says: the three not in row 5
    verdict, = check_draft(text, [path]).files
    assert verdict["status"] == "rejected" and verdict["errors"] == {"column-missing": 3}


def test_a_group_row_above_a_whole_header_row_is_no_header_of_two_rows(tmp_path):
    """Group names above the column names, every column named in the lower row: that row is the
    header, nothing to check (a delivery reads it)."""
    top = [None, None, "Persoon", None, "Datum", None, None, None]
    path = workbook(tmp_path / "export.xlsx", [top, HEADER] + ROWS, ("C1:D1", "E1:G1"))
    text, draft = drafted(path)
    assert draft["file"]["header_row"] == 2 and "CHECK" not in line(text, "header_row:")
    assert draft["columns"]["birth_date"] == "Geboortedatum" and check_draft(text, [path]).ok


# ------------------------------------------------------------------ files that are no workbook or CSV
def _said(path: Path, contract=ROTTERDAM) -> str:
    """What a delivery's reader says of the file: its finding's message and fix."""
    with pytest.raises(DeliveryRejected) as refused:
        read_source(path, contract)
    said = refused.value.findings[0].as_row("en")
    return f"{path.name}: {said['message']} {said['fix']}"


@pytest.mark.parametrize("kind, parts", [
    ("ods", {"mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": "<office:document/>"}),
    ("xlsb", {"[Content_Types].xml": "<Types/>", "xl/workbook.bin": "\x83\x01\x00"}),
    ("word", {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}),
    ("zip", {"export.csv": "Kenmerk;V-nr\n"}),
])
def test_a_package_that_is_no_workbook_is_told_in_the_readers_words_with_what_to_do(tmp_path, kind, parts):
    """Under its own name and under an .xlsx name: the message and the fix a delivery gets."""
    for name in (f"export.{kind}", "export.xlsx"):
        path = package(tmp_path / name, parts)
        with pytest.raises(DraftError) as refused:
            read_grids(path)
        assert str(refused.value) == _said(path) and "Deliver the export as .xlsx" in str(refused.value)


def test_a_word_97_document_is_not_called_password_protected(tmp_path):
    """Every file in Office's older container but an .xls was 'password-protected' to the draft; a
    .doc is said to be what the reader says of it where the contract says CSV."""
    path = tmp_path / "export.doc"
    path.write_bytes(_compound_file(["WordDocument", "1Table", "\x05SummaryInformation"]))
    with pytest.raises(DraftError) as refused:
        read_grids(path)
    assert "password" not in str(refused.value)
    assert "not an Excel workbook or CSV file (an Office 97-2003 file that holds no workbook" in str(refused.value)
    assert "but an Office 97-2003 file" in _said(path, EINDHOVEN)


@pytest.mark.parametrize("content, said", [
    (b"", "The file is not an Excel workbook or CSV file (empty file)."),
    (b"\r\n \r\n\r\n", "The file has no data rows under the header row."),
    (b"\x01\x02\x00\x00\x07rest", "(binary content, neither a workbook nor text (CSV))"),
    ("Kenmerk;V-nr;Instroom\r\n".encode("utf-16-le"),
     "(UTF-16 text without a byte-order mark; save it as 'CSV UTF-8')"),
])
def test_an_empty_blank_or_binary_file_is_one_line_in_the_readers_words(tmp_path, content, said):
    """An empty file or one of blank lines was an IndexError ('unexpected error', exit 3); binary
    content 'neither an .xlsx workbook nor a text (CSV) file', not what the reader calls it."""
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(DraftError, match="^export.csv: ") as refused:
        read_grids(path)
    assert said in str(refused.value)
    done = CliRunner().invoke(app, ["contract", "draft", str(path), "--municipality", "zwolle"])
    assert type(done.exception).__name__ == "UserError" and said in str(done.exception)


def test_a_workbook_named_as_csv_and_csv_named_as_a_workbook_are_marked_to_check(tmp_path):
    """A delivery is read as its contract's type says, whatever its name: a workbook saved as
    export.csv drafts `type: xlsx`, and a delivery under a contract saying csv would have been
    refused (file-not-csv); the steward settles with the municipality which one it sends."""
    book = workbook(tmp_path / "export.csv", [HEADER] + ROWS)
    text, draft = drafted(book)
    assert draft["file"]["type"] == "xlsx"
    assert "# CHECK: export.csv is named as CSV but is an Excel workbook" in line(text, "type:")
    assert "but an Excel workbook (.xlsx)" in _said(book, EINDHOVEN)
    plain = tmp_path / "export.xlsx"
    plain.write_text("\n".join(";".join(v or "" for v in row) for row in [HEADER] + ROWS), encoding="utf-8")
    text, draft = drafted(plain)
    assert draft["file"]["type"] == "csv" and "named as a workbook but is CSV text" in line(text, "type:")
    assert "CHECK" not in line(drafted(workbook(tmp_path / "plain.xlsx", [HEADER] + ROWS))[0], "type:")


# ------------------------------------------------------------------ exports of our own invention
def test_a_csv_with_a_title_block_of_several_lines_finds_its_delimiter_and_header(tmp_path):
    """A title line holding a comma, the others none: the lines the comma did not split were the
    most alike, so the comma was taken for the delimiter and no header was found."""
    path = tmp_path / "export.csv"
    lines = ["Gemeente Zwolle", "Rapportage LVV, uitstroom", "Stand per: 31-10-2020", "", ";".join(HEADER)]
    lines += [";".join(v or "" for v in row) for row in ROWS] + ["Totaal;3;;;;;;"]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    text, draft = drafted(path)
    assert draft["file"]["delimiter"] == ";" and draft["file"]["header_row"] == 5
    assert draft["file"]["stand_per"] == {"label": "Stand per"}
    assert draft["not_data"]["first_cell_matches"] == ["^totaal"]
    verdict, = check_draft(text, [path]).files
    assert (verdict["status"], verdict["rows_curated"], verdict["errors"]) == ("accepted", 3, {})


def test_outcome_labels_with_a_code_after_their_text_are_matched_by_their_words(tmp_path):
    """'Terugkeer (03)', 'Overleden [14]', 'Doormigratie - 04': matched only fuzzily (90%), and a label
    no outcome is like, 'Doorstroom regulier - 04', was a detention 'like' 'VB - uitgezet' at 85%
    for the ' - ' before its code. The code after the text is left out of the match (the label kept
    whole as the contract's key: a delivery's labels are matched as written): the words match
    exactly, and a label whose words match nothing is left to decide."""
    rows = [list(r) for r in ROWS]
    rows[0][7], rows[2][7] = "Terugkeer (03)", "Overleden [14]"
    rows += [["K4", "0312345681", "G", "H", "03-01-1990", "04-09-2019", "05-06-2020", "Doormigratie - 04"],
             ["K5", "0312345682", "I", "J", "03-01-1990", "04-09-2019", "05-07-2020", "Doorstroom regulier - 04"]]
    text, _ = drafted(workbook(tmp_path / "export.xlsx", [HEADER] + rows))
    assert line(text, '"Terugkeer (03)"') == ('"Terugkeer (03)": return_independent  '
                                              "# 100% like 'terugkeer' (rotterdam)")
    assert line(text, '"Overleden [14]"').startswith("\"Overleden [14]\": deceased  # 100% like")
    assert line(text, '"Doormigratie - 04"').startswith("\"Doormigratie - 04\": onward_migration  # 100% like")
    assert line(text, '"Doorstroom regulier - 04"').startswith("\"Doorstroom regulier - 04\": ???  # DECIDE")
