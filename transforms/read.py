"""Read one delivery file as the source contract describes it: raw cells, with Excel locations.

Nothing is interpreted here beyond finding the header and the file's own 'stand per' date: every
cell value is kept as it stands (python-calamine for workbooks, the csv module for CSV), with its
original sheet row number, so each later finding can point at the cell the steward sees. Two
things python-calamine cannot see are taken from the limits' pass over the file (transforms.limits):
a workbook in the 1904 date system has the serial numbers in its date columns read as 1904 serials,
and a cell calamine reads as empty though it is not (a formula without a calculated value, an
Excel error value) is an error on that cell, so its row is quarantined, never read as blank.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import zipfile
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import python_calamine

from schemas.checks import Finding, limits
from transforms import limits as limits_check
from transforms.scrub import scrub_digits
from schemas.contracts import SourceContract, normalise_label
from transforms.values import SERIAL_RANGE, as_text, is_blank, notation, parse_date_value

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
#: day 0 of the 1904 date system; its serial n is the 1900 system's n + 1462
EPOCH_1904 = date(1904, 1, 1)
DAYS_1904 = 1462
#: the fields whose cells are dates (a serial number in a 1904 workbook is counted from EPOCH_1904)
DATE_FIELDS = ("birth_date", "intake_date", "exit_date")
_SERIAL_TEXT = re.compile(r"^\d+(\.0+)?$")


class DeliveryRejected(Exception):
    """A delivery that cannot be used at all; `findings` holds the fatal finding(s)."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("; ".join(f.as_row("en")["message"] for f in findings))


@dataclass
class RawSheet:
    """The cells of one delivery below its header, as they stand in the file."""

    file: str
    sheet: str
    header_row: int
    headers: list[str]
    rows: list[list[Any]]
    excel_rows: list[int]
    stand_per: date | None = None
    findings: list[Finding] = field(default_factory=list)
    #: canonical field -> 0-based column position in `headers`
    positions: dict[str, int] = field(default_factory=dict)
    #: where the stand-per date stands: (Excel row, 0-based column, the cell as found)
    stand_per_cell: tuple[int, int, Any] | None = None

    def row_index(self) -> dict[int, int]:
        """Excel row number -> position in `rows`."""
        if not hasattr(self, "_row_index"):
            self._row_index = {row: i for i, row in enumerate(self.excel_rows)}
        return self._row_index


def column_letter(index: int) -> str:
    """0-based column index -> Excel column letters (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


#: rows around the contract's header row looked at to say where a moved header stands
HEADER_SEARCH = 10


def read_source(path: Path, contract: SourceContract, display_name: str | None = None,
                checked: limits_check.Checked | None = None) -> RawSheet:
    """Read a delivery per its contract, or raise DeliveryRejected with a located fatal finding.
    checked: filled by the limits' pass over a workbook (the steward report keeps what it noted)."""
    name = display_name or path.name
    grid, sheet, notes, checked = _read_grid(path, contract, name, checked)
    _check_cells(grid, name, sheet)
    header_index = contract.file.header_row - 1
    if len(grid) <= header_index:
        raise DeliveryRejected([Finding("file-empty", file=name, sheet=sheet)])
    headers = ["" if is_blank(v) else str(v).strip() for v in grid[header_index]]
    try:
        positions, findings = _match_headers(headers, contract, name, sheet)
    except DeliveryRejected as rejected:
        if rejected.findings[0].code == "header-not-found":
            rejected.findings[0].params["found_row"] = _header_elsewhere(grid, contract) or "-"
        for finding in rejected.findings:
            if finding.code == "column-missing" and finding.params["closest"] == "-":
                finding.params["closest"] = _next_to_header(grid, header_index, contract.columns[finding.field])
        raise
    rows, excel_rows = _data_rows(grid[header_index + 1:], len(headers), contract.file.header_row + 1)
    unread = _unread_cells(checked, sheet, name, headers, positions, contract.file.header_row)
    findings = notes + findings + (_off_skipped_rows(unread, rows, excel_rows, contract) if unread else [])
    if not rows:
        raise DeliveryRejected([Finding("file-empty", file=name, sheet=sheet)])
    if checked is not None and checked.date1904:
        _dates_from_1904(rows, [positions[f] for f in DATE_FIELDS if f in positions])
    stand_per, cell = _stand_per(grid[:header_index], contract, checked is not None and checked.date1904)
    if stand_per is None and cell is not None:  # the label stands there, a date in the contract's notation does not
        findings.append(Finding("stand-per-unreadable", file=name, sheet=sheet, excel_row=cell[0],
                                column_letter=column_letter(cell[1]), value=scrub_digits(as_text(cell[2])),
                                params={"label": contract.file.stand_per.label, "accepted": notation(contract.dates.formats)}))
        cell = None
    if stand_per is None:
        from transforms.export_rules import stand_per_from_name

        stand_per = stand_per_from_name(path.name, contract)
    return RawSheet(name, sheet, contract.file.header_row, headers, rows, excel_rows,
                    stand_per, findings, positions, cell)


def _data_rows(body: list[list[Any]], width: int, first_row: int) -> tuple[list[list[Any]], list[int]]:
    """The rows below the header that hold anything, each at least `width` cells with None for an
    empty one, and their sheet row numbers (the body starts at sheet row first_row)."""
    rows, excel_rows = [], []
    for number, cells in enumerate(body, first_row):
        first = cells[0] if cells else None
        # the first cell filled (the usual data row) says at once that the row is not blank
        filled = first.strip() if first.__class__ is str else not is_blank(first)
        if not filled and all(is_blank(v) for v in cells):
            continue
        if "" in cells:  # a row has a few empty cells: each found by list.index, not a loop over the row
            cells = cells.copy()
            i = cells.index("")
            try:
                while True:
                    cells[i] = None
                    i = cells.index("", i + 1)
            except ValueError:
                pass
        if len(cells) < width:
            cells = cells + [None] * (width - len(cells))
        rows.append(cells)
        excel_rows.append(number)
    return rows, excel_rows


def _from_1904(value: Any) -> Any:
    """A cell of a date column in a 1904 workbook: a whole serial number (or its digits as text)
    whose 1904 date lies in the range a 1900 serial may have (SERIAL_RANGE, shifted) as that date;
    any other value as it stands (python-calamine turns a cell formatted as a date into a date
    in the right system itself; a number outside the range stays one: 'not a date', as in 1900)."""
    if value.__class__ is str:
        if not _SERIAL_TEXT.match(value.strip()):
            return value
        serial = float(value.strip())
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        serial = value
    else:
        return value
    if SERIAL_RANGE[0] - DAYS_1904 <= serial <= SERIAL_RANGE[1] - DAYS_1904:
        return EPOCH_1904 + timedelta(days=int(serial))
    return value


def _dates_from_1904(rows: list[list[Any]], columns: list[int]) -> None:
    """The date columns' serial numbers of a 1904 workbook as dates, in place (one pass)."""
    for cells in rows:
        for i in columns:
            value = cells[i]
            if value is not None and not isinstance(value, date):
                cells[i] = _from_1904(value)


def _unread_cells(checked: limits_check.Checked | None, sheet: str, name: str, headers: list[str],
                  positions: dict[str, int], header_row: int) -> list[Finding]:
    """An error on each cell of the data sheet python-calamine reads as empty though it holds a
    formula without a calculated value, an Excel error value or an inline string written as a <v>
    (its text lost): in a contract column, or in the header or the rows above it (the stand-per
    date). The limits' pass found them by reference."""
    notes = checked.notes.get(sheet) if checked is not None else None
    if notes is None:
        return []
    fields = {i: f for f, i in positions.items()}
    found = []
    for code, cells in (("cell-formula-no-value", [(ref, "") for ref in notes.formulas]),
                        ("cell-error-value", notes.errors),
                        ("cell-inline-value", [(ref, "") for ref in notes.inline])):
        for ref, value in cells:
            letters, row = _split_ref(ref)
            index = limits_check.column_number(letters) - 1 if letters else -1
            if row is not None and row > header_row and index not in fields:
                continue  # a column the contract does not read: nothing of a stay is lost there
            header = headers[index] if 0 <= index < len(headers) else ""
            found.append(Finding(code, file=name, sheet=sheet, excel_row=row, column_letter=letters,
                                 column_header=scrub_digits(header), field=fields.get(index, ""), value=value,
                                 params={"cell": f"{sheet}!{ref}" if ref else sheet}))
    return found


def _off_skipped_rows(found: list[Finding], rows: list[list[Any]], excel_rows: list[int],
                      contract: SourceContract) -> list[Finding]:
    """The unread cells' findings without those on a row the contract says is no data (a totals
    line, notes: stage.is_not_data), which is skipped whole: a 'Totaal' row's =COUNTA(..) written
    without its value (as a script writes it) was an error that made `lvv validate` say the file
    cannot be delivered, though nothing of a stay stands in the row."""
    from transforms.stage import is_not_data  # stage reads RawSheet from here

    at = dict(zip(excel_rows, rows))
    return [f for f in found if f.excel_row not in at or is_not_data(at[f.excel_row], contract) is None]


def _split_ref(ref: str) -> tuple[str, int | None]:
    """'G12' -> ('G', 12); '' (a cell written without its reference) -> ('', None)."""
    found = re.fullmatch(r"([A-Z]{1,3})(\d+)", ref)
    return (found.group(1), int(found.group(2))) if found else ("", None)


def _read_grid(path: Path, contract: SourceContract, name: str, checked: limits_check.Checked | None = None
               ) -> tuple[list[list[Any]], str, list[Finding], limits_check.Checked | None]:
    """The sheet's cells, its name, warnings about it (a hidden data sheet), and what the limits'
    pass noted about the workbook (None for a CSV file)."""
    if path.is_dir():
        raise DeliveryRejected([Finding("file-unreadable", file=name, params={
            "detail": "this is a folder, not a file; give the export file itself"})])
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise DeliveryRejected([Finding("file-unreadable", file=name, params={"detail": exc.strerror})]) from None
    if contract.file.type == "csv":
        grid, notes = _read_csv(path, contract, name)
        return grid, "", notes, None
    if head.startswith(OLE_MAGIC):
        raise DeliveryRejected([office_container(path, name)])
    if not head.startswith(ZIP_MAGIC):
        detail = "empty file" if not head else "not an Office Open XML workbook"
        raise DeliveryRejected([Finding("file-not-spreadsheet", file=name, params={"detail": detail})])
    checked = limits_check.checked_open(path, name, csv=False, checked=checked)
    if checked.finding is not None:
        raise DeliveryRejected([checked.finding])
    try:
        workbook = open_workbook(path)
    except python_calamine.PasswordError:
        raise DeliveryRejected([Finding("file-password-protected", file=name)]) from None
    except BaseException as exc:  # calamine raises several unrelated types for damaged files
        raise DeliveryRejected([Finding("file-unreadable", file=name, params={"detail": _short(calamine_error(exc))})]) from None
    wanted = contract.file.sheet or ""
    names = workbook.sheet_names
    matches = [n for n in names if normalise_label(n) == normalise_label(wanted)]
    if not matches:
        raise DeliveryRejected([Finding("sheet-missing", file=name, params={
            "expected": wanted, "found": ", ".join(names) or "-"})])
    if len(matches) > 1:  # 'Export' and 'EXPORT': which one holds the delivery is a guess, never taken
        raise DeliveryRejected([Finding("sheet-ambiguous", file=name, sheet=matches[0], params={
            "expected": wanted, "found": ", ".join(f"'{n}'" for n in matches)})])
    match = matches[0]
    try:
        grid = workbook.get_sheet_by_name(match).to_python(skip_empty_area=False)
    except BaseException as exc:
        raise DeliveryRejected([Finding("file-unreadable", file=name, sheet=match,
                                        params={"detail": _short(calamine_error(exc))})]) from None
    notes = [Finding("sheet-hidden", file=name, sheet=match, value=match) for meta in workbook.sheets_metadata
             if meta.name == match and meta.visible != python_calamine.SheetVisibleEnum.Visible]
    return grid, match, notes, checked  # an empty cell is "" here (None in a data row: _data_rows)


#: the names python-calamine reads as an Office Open XML workbook (.xlsx): any other it reads as the
#: format its extension says (.ods, .xlsb, .xls) or tries each format in turn (.csv, .txt, none)
OPEN_XML_SUFFIXES = frozenset({".xlsx", ".xlsm"})


def open_workbook(path: Path) -> python_calamine.CalamineWorkbook:
    """A workbook the limits' pass found to be Office Open XML (transforms.limits.other_package),
    read as one whatever its name: by its path where the name says so, else from its bytes, which
    python-calamine tells apart by their content. Read by the name alone, an .xlsx saved as
    'export.ods' was 'damaged or truncated' ('mimetype' file not found)."""
    if path.suffix.lower() in OPEN_XML_SUFFIXES:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    with path.open("rb") as handle:
        return python_calamine.CalamineWorkbook.from_filelike(handle)


def calamine_error(exc: BaseException) -> BaseException:
    """The error python-calamine raised for a file it cannot read, or the exception itself where it
    is no such error: an interrupt or an exit. python-calamine's parser panics on some damaged
    parts (a shared string past the table's end in an .xlsb); the panic reaches Python as
    pyo3's PanicException, a BaseException, that `except Exception` does not catch: a traceback
    for the steward instead of 'the file cannot be read'."""
    if isinstance(exc, Exception) or type(exc).__name__ == "PanicException":
        return exc
    raise exc


#: the stream an Excel 97-2003 workbook (.xls, BIFF) holds in its container; a password-protected
#: .xlsx is the same container holding 'EncryptedPackage' instead
LEGACY_WORKBOOK_STREAMS = frozenset({"Workbook", "Book"})
#: how much of the container's directory is read: 512 entries, the first of them the root's streams
_OLE_DIRECTORY_BYTES = 64 * 1024


def office_container(path: Path, name: str) -> Finding:
    """The fatal finding of a file in Office's older container (OLE_MAGIC): an .xls; another Office
    97-2003 file (a Word .doc), whose directory names streams but neither a workbook nor an
    encrypted package; else a workbook encrypted with a password (also where the directory cannot be
    read: the cautious word, as before). Told apart by the streams its directory names."""
    kind = _ole_kind(path)
    if kind == "legacy":
        return Finding("file-legacy-excel", file=name)
    if kind == "other":
        return Finding("file-not-spreadsheet", file=name,
                       params={"detail": "an Office 97-2003 file that holds no workbook, such as a Word document"})
    return Finding("file-password-protected", file=name)


#: the streams of a workbook encrypted with a password (MS-OFFCRYPTO) in the older container
ENCRYPTED_STREAMS = frozenset({"EncryptedPackage", "EncryptionInfo"})


def _ole_kind(path: Path) -> Literal["legacy", "encrypted", "other", "unreadable"]:
    """What an Office 97-2003 container holds, by the streams its directory names: an .xls
    workbook, an encrypted package (a workbook with a password), something else (a Word .doc), or
    no directory that can be read. One reading for both who ask (office_container, _office_kind)."""
    streams = _ole_streams(path)
    if streams & LEGACY_WORKBOOK_STREAMS:
        return "legacy"
    if streams & ENCRYPTED_STREAMS:
        return "encrypted"
    return "other" if streams else "unreadable"


def _ole_streams(path: Path) -> set[str]:
    """The names in the directory of an Office 97-2003 container (compound file): from its header,
    the sector size and the first directory sector, then up to _OLE_DIRECTORY_BYTES of entries of
    128 bytes, each a UTF-16 name of at most 31 characters. Bounded: two reads, whatever the file's
    size; an empty set where the header or the entries cannot be read (a damaged file)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(512)
            shift = int.from_bytes(header[0x1E:0x20], "little")
            first = int.from_bytes(header[0x30:0x34], "little")
            if len(header) < 512 or not 7 <= shift <= 16 or first >= 0xFFFFFFFA:
                return set()
            handle.seek((first + 1) << shift)
            entries = handle.read(_OLE_DIRECTORY_BYTES)
    except OSError:
        return set()
    names = set()
    for at in range(0, len(entries) - 127, 128):
        length = int.from_bytes(entries[at + 0x40:at + 0x42], "little")  # in bytes, its final NUL too
        if 2 <= length <= 64 and length % 2 == 0:
            names.add(entries[at:at + length - 2].decode("utf-16-le", "replace"))
    return names


def _office_kind(raw: bytes, path: Path) -> str:
    """What a file delivered where the contract says CSV is, by its first bytes (a zip package or
    Office's older container) and, for a zip, its directory (limits.other_package), in a steward's
    words: 'an Excel workbook (.xlsx)', 'an OpenDocument spreadsheet (.ods, LibreOffice)', 'an old
    Excel workbook (.xls, Excel 97-2003)'. Bounded: the zip's directory or the container's, and
    the file's size was checked before its bytes were read."""
    if raw.startswith(OLE_MAGIC):
        kind = _ole_kind(path)
        if kind == "legacy":
            return "an old Excel workbook (.xls, Excel 97-2003)"
        return "an Office file protected with a password" if kind == "encrypted" else "an Office 97-2003 file"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            other = limits_check.other_package(archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "a zip archive"
    # what it is, without other_package's advice to save it as .xlsx: the contract says CSV
    return "an Excel workbook (.xlsx)" if other is None else other.split(", which")[0].split(";")[0]


def _read_csv(path: Path, contract: SourceContract, name: str) -> tuple[list[list[Any]], list[Finding]]:
    """The CSV file's records (a record's cells, None where blank) and warnings about how it was read."""
    checked = limits_check.checked_open(path, name, csv=True)
    if checked.finding is not None:
        raise DeliveryRejected([checked.finding])
    raw, encoding = by_byte_order_mark(checked.raw or b"", contract.file.encoding)
    if raw.startswith((ZIP_MAGIC, OLE_MAGIC)):
        raise DeliveryRejected([Finding("file-not-csv", file=name, params={"detail": _office_kind(raw, path)})])
    if b"\x00" in raw[:4096] and not encoding.startswith("utf-16"):
        detail = ("UTF-16 text without a byte-order mark; save it as 'CSV UTF-8' or as the contract's "
                  f"{contract.file.encoding}" if _utf16_unmarked(raw[:4096]) else "binary content, expected text (CSV)")
        raise DeliveryRejected([Finding("file-not-spreadsheet", file=name, params={"detail": detail})])
    try:
        read = csv_text(checked.raw or b"", contract)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].decode(encoding, "replace").count("\n") + 1
        raise DeliveryRejected([Finding("file-unreadable", file=name, excel_row=line, params={
            "detail": f"line {line} is not {encoding} text"})]) from None
    notes = [Finding(code, file=name, params=params) for code, params in read.notes]
    # strict: a quote opened and never closed ends in an error, not in one cell holding the rest of
    # the file (the non-strict reader's answer: 5 of 67 rows read, the others silently gone)
    reader = csv.reader(io.StringIO(read.text, newline=""), delimiter=read.delimiter, strict=True)
    cell_chars = limits().cell_chars
    previous = csv.field_size_limit(cell_chars)
    grid: list[list[Any]] = []
    start = 1  # the line the record being read starts on
    try:
        for row in reader:
            grid.append([None if cell.strip() == "" else cell for cell in row])
            start = reader.line_num + 1
        return grid, notes
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            finding = limits_check.over("cell_chars", f"> {cell_chars}", cell_chars, name, f"line {reader.line_num}")
        elif "unexpected end of data" in str(exc):
            finding = Finding("file-unreadable", file=name, excel_row=start, params={
                "detail": f"line {start}: a quoted cell is never closed (its quote runs to the end of the file, "
                          f"line {reader.line_num})"})
        else:
            finding = Finding("file-unreadable", file=name, excel_row=reader.line_num,
                              params={"detail": f"line {reader.line_num}: {exc}"[:160]})
        raise DeliveryRejected([finding]) from None
    finally:
        csv.field_size_limit(previous)


#: byte-order marks and the encoding each says, whatever the contract says: UTF-8, or UTF-16 (Excel's
#: 'Unicode text', every other byte a NUL: the text it is, not binary)
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def by_byte_order_mark(raw: bytes, encoding: str) -> tuple[bytes, str]:
    """A CSV file's bytes without their byte-order mark and the encoding to read them in: the
    mark's, where there is one, else the contract's."""
    for bom, said in BYTE_ORDER_MARKS:
        if raw.startswith(bom):
            return raw[len(bom):], said
    return raw, encoding


def _utf16_unmarked(head: bytes) -> bool:
    """Whether the bytes read as UTF-16 text of the Latin alphabet without its byte-order mark:
    a NUL in every other byte, and none in between."""
    head = head[: len(head) // 2 * 2]
    return len(head) >= 8 and any(head[i::2].count(0) == len(head) // 2 and 0 not in head[1 - i::2] for i in (0, 1))


#: encodings of one byte a character that a contract may state; a file in them never holds valid
#: UTF-8 multi-byte sequences in practice (text would have to read like 'Ã«' at every non-ASCII letter)
_SINGLE_BYTE = re.compile(r"^(cp|windows-?)125\d$|^(iso-?8859|latin)", re.IGNORECASE)
#: Excel's separator line: a CSV whose first line is 'sep=;' is split on ';', and the line is not a row
_SEPARATOR_LINE = re.compile(r"sep=([^\r\n])(?:\r\n|\n|\r|$)")


@dataclass(frozen=True)
class CsvText:
    """A CSV file's text as read: without its byte-order mark and Excel's separator line; the
    encoding and delimiter it is read with; and (code, params) of each way that differs from
    the contract (the file's warnings)."""

    text: str
    encoding: str
    delimiter: str
    notes: list[tuple[str, dict[str, str]]]


def csv_text(raw: bytes, contract: SourceContract) -> CsvText:
    """A CSV file's text as the reader and the steward report read it (UnicodeDecodeError where it
    is not text in the contract's encoding, nor in that of its byte-order mark, nor UTF-8).

    - A byte-order mark says the encoding, whatever the contract says.
    - A file without one whose contract states a one-byte encoding (cp1252, latin-1) but whose
      bytes are UTF-8 with letters beyond ASCII (an export tool saving 'CSV UTF-8' without the
      mark) is read as UTF-8: read as cp1252, every such letter would be two wrong ones and each
      label with one unknown ('Gedwongen beÃ«indigd'). Noted: csv-encoding-differs.
    - Excel's separator line ('sep=;' as the first line) is not a row, as in Excel: the file is
      split on the character it names, noted when that is not the contract's (csv-separator-line).
    """
    data, encoding = by_byte_order_mark(raw, contract.file.encoding)
    notes: list[tuple[str, dict[str, str]]] = []
    if encoding == contract.file.encoding and _SINGLE_BYTE.search(encoding) and not data.isascii():
        try:
            text = data.decode("utf-8")
            notes.append(("csv-encoding-differs", {"encoding": encoding}))
            encoding = "utf-8"
        except UnicodeDecodeError:
            text = data.decode(encoding)
    else:
        text = data.decode(encoding)
    text, said = separator_line(text)
    delimiter = contract.file.delimiter
    if said is not None and said != delimiter:
        notes.append(("csv-separator-line", {"separator": said, "delimiter": delimiter}))
        delimiter = said
    return CsvText(text, encoding, delimiter, notes)


def separator_line(text: str) -> tuple[str, str | None]:
    """A CSV text without Excel's separator line ('sep=;' as its first line), and the separator
    that line names (None: the text has no such line, and is returned as it is)."""
    line = _SEPARATOR_LINE.match(text)
    return (text, None) if line is None else (text[line.end():], line.group(1))


def _check_cells(grid: list[list[Any]], name: str, sheet: str) -> None:
    """Reject a sheet wider than the column limit or with a cell longer than the cell limit
    (one pass over the cells: the limits before parsing bound the sheet's size already)."""
    limit = limits()
    width = max((len(row) for row in grid), default=0)
    if width > limit.columns:
        raise DeliveryRejected([limits_check.over("columns", width, limit.columns, name, sheet)])
    cell_chars = limit.cell_chars
    for row in grid:
        for value in row:
            if value.__class__ is str and len(value) > cell_chars:
                _cell_too_long(grid, name, sheet, cell_chars)


def _cell_too_long(grid: list[list[Any]], name: str, sheet: str, cell_chars: int) -> None:
    """Raise the finding of the first cell longer than the limit, located."""
    for number, row in enumerate(grid, start=1):
        for i, value in enumerate(row):
            if type(value) is str and len(value) > cell_chars:
                where = f"{sheet} {column_letter(i)}{number}".strip()
                raise DeliveryRejected([limits_check.over("cell_chars", len(value), cell_chars, name, where)])


def _header_elsewhere(grid: list[list[Any]], contract: SourceContract) -> int | None:
    """The sheet row near the contract's header row holding most of the contract's column names
    (at least two), when that is not the contract's row: where a moved header stands."""
    expected = {normalise_label(c) for c in contract.columns.values()}
    best, best_hits = None, 1
    start = max(0, contract.file.header_row - 1 - HEADER_SEARCH)
    for index in range(start, min(len(grid), contract.file.header_row + HEADER_SEARCH)):
        hits = sum(1 for v in grid[index] if not is_blank(v) and normalise_label(v) in expected)
        if hits > best_hits:
            best, best_hits = index + 1, hits
    return best


def _next_to_header(grid: list[list[Any]], header_index: int, expected: str) -> str:
    """Where a column name missing from the header row stands in the row above or below it (a
    header over two rows, merged cells): the name and its cell ('Instroom (F2)'); '-' where it
    stands in neither. Two rows looked at, as wide as the limits allow: bounded."""
    wanted = normalise_label(expected)
    for index in (header_index + 1, header_index - 1):
        if 0 <= index < len(grid):
            for column, value in enumerate(grid[index]):
                if not is_blank(value) and normalise_label(value) == wanted:
                    return f"{visible(str(value).strip())} ({column_letter(column)}{index + 1})"
    return "-"


#: a line break within a cell (Alt+Enter), as a message shows it: one line, the break still seen
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def visible(text: str) -> str:
    """A header as a message quotes it: its line breaks as '↵', so that 'V-↵nr' (Alt+Enter within
    the name) shows why it is not 'V-nr' on the one line a finding takes."""
    return _LINE_BREAK.sub("\u21b5", text)


def _match_headers(headers: list[str], contract: SourceContract, name: str,
                   sheet: str) -> tuple[dict[str, int], list[Finding]]:
    normalised = {normalise_label(h): i for i, h in enumerate(headers) if h}
    ignored = {normalise_label(h) for h in contract.ignore_columns}
    positions = {f: normalised[normalise_label(col)] for f, col in contract.columns.items()
                 if normalise_label(col) in normalised}
    row = contract.file.header_row
    duplicated = _duplicated_columns(headers, contract)
    if duplicated:  # which of two same-named columns holds the data is a guess: never taken silently
        raise DeliveryRejected([Finding("column-duplicate", file=name, sheet=sheet, excel_row=row, field=f,
                                        params={"expected": contract.columns[f], "columns": letters})
                                for f, letters in duplicated.items()])
    if not positions:
        found = scrub_digits(", ".join(h for h in headers if h)[:120]) or "-"
        raise DeliveryRejected([Finding("header-not-found", file=name, sheet=sheet, excel_row=row,
                                        params={"row": row, "found": found})])
    required = [f for f in ("record_id", "person_id", "intake_date", "exit_date", "outcome")]
    missing = [f for f in contract.columns if f not in positions and f in required + ["follow_up"]]
    if missing:
        present = [h for h in headers if h and headers.index(h) not in positions.values()]
        fatal = []
        for f in missing:
            expected = contract.columns[f]
            by_norm = {normalise_label(h): h for h in present}
            closest = difflib.get_close_matches(normalise_label(expected), list(by_norm), n=1, cutoff=0.75)
            fatal.append(Finding("column-missing", file=name, sheet=sheet, excel_row=row, field=f,
                                 params={"expected": expected, "closest": visible(by_norm[closest[0]]) if closest else "-"}))
        raise DeliveryRejected(fatal)
    known = set(positions.values()) | {i for i, h in enumerate(headers) if h and normalise_label(h) in ignored}
    extra = [Finding("column-unknown", file=name, sheet=sheet, excel_row=row,
                     column_letter=column_letter(i), column_header=scrub_digits(h), value=scrub_digits(h),
                     params={"found": visible(scrub_digits(h))})
             for i, h in enumerate(headers) if h and i not in known]
    return positions, extra


def _duplicated_columns(headers: list[str], contract: SourceContract) -> dict[str, str]:
    """The contract's fields whose header stands above more than one column: field -> the
    columns' letters ("C, K"). Compared as the headers are matched (normalise_label)."""
    columns: dict[str, list[int]] = {}
    for i, header in enumerate(headers):
        if header:
            columns.setdefault(normalise_label(header), []).append(i)
    return {f: ", ".join(column_letter(i) for i in columns[normalise_label(col)])
            for f, col in contract.columns.items() if len(columns.get(normalise_label(col), ())) > 1}


def _stand_per(title_rows: list[list[Any]], contract: SourceContract,
               date1904: bool = False) -> tuple[date | None, tuple | None]:
    """The file's own 'stand per' date and the cell it stands in (Excel row, column, value); a
    serial number counted from 1904 in a 1904 workbook. (None, the cell) where the label stands
    in the title block but no date in the contract's notation follows it: the first cell that
    should have held it."""
    if contract.file.stand_per is None or contract.file.stand_per.label is None:
        return None, None
    label = normalise_label(contract.file.stand_per.label)
    unreadable = None
    for row, cells in enumerate(title_rows, start=1):
        for i, value in enumerate(cells):
            if is_blank(value) or not normalise_label(value).startswith(label):
                continue
            rest = re.sub(re.escape(label), "", normalise_label(value), count=1).strip(" :")
            following = [(j, v) for j, v in enumerate(cells[i + 1:], start=i + 1) if not is_blank(v)][:1]
            candidates = ([(i, rest, value)] if rest else []) + [(j, v, v) for j, v in following]
            for column, candidate, cell in candidates:
                parsed = parse_date_value(_from_1904(candidate) if date1904 else candidate, contract.dates.formats)
                if isinstance(parsed, date):
                    return parsed, (row, column, cell)
            if unreadable is None:  # the label alone: its own cell
                column, _, cell = candidates[0] if candidates else (i, None, value)
                unreadable = (row, column, cell)
    return None, unreadable


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


__all__ = ["DeliveryRejected", "RawSheet", "column_letter", "read_source", "datetime"]
