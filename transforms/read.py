"""Read one delivery file as the source contract describes it: raw cells, with Excel locations.

Nothing is interpreted here beyond finding the header and the file's own 'stand per' date: every
cell value is kept as it stands (python-calamine for workbooks, the csv module for CSV), with its
original sheet row number, so each later finding can point at the cell the steward sees.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import python_calamine

from schemas.checks import Finding, limits
from transforms import limits as limits_check
from transforms.scrub import scrub_digits
from schemas.contracts import SourceContract, normalise_label
from transforms.values import is_blank, parse_date_value

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"


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


def read_source(path: Path, contract: SourceContract, display_name: str | None = None) -> RawSheet:
    """Read a delivery per its contract, or raise DeliveryRejected with a located fatal finding."""
    name = display_name or path.name
    grid, sheet, notes = _read_grid(path, contract, name)
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
        raise
    findings = notes + findings
    rows, excel_rows = _data_rows(grid[header_index + 1:], len(headers), contract.file.header_row + 1)
    if not rows:
        raise DeliveryRejected([Finding("file-empty", file=name, sheet=sheet)])
    stand_per, cell = _stand_per(grid[:header_index], contract)
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


def _read_grid(path: Path, contract: SourceContract, name: str) -> tuple[list[list[Any]], str, list[Finding]]:
    """The sheet's cells, its name, and warnings about it (a hidden data sheet)."""
    if path.is_dir():
        raise DeliveryRejected([Finding("file-unreadable", file=name, params={
            "detail": "this is a folder, not a file; give the export file itself"})])
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise DeliveryRejected([Finding("file-unreadable", file=name, params={"detail": exc.strerror})]) from None
    if contract.file.type == "csv":
        return _read_csv(path, contract, name), "", []
    if head.startswith(OLE_MAGIC):
        raise DeliveryRejected([Finding("file-password-protected", file=name)])
    if not head.startswith(ZIP_MAGIC):
        detail = "empty file" if not head else "not an Office Open XML workbook"
        raise DeliveryRejected([Finding("file-not-spreadsheet", file=name, params={"detail": detail})])
    over_limit = limits_check.check_workbook(path, name)
    if over_limit is not None:
        raise DeliveryRejected([over_limit])
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise DeliveryRejected([Finding("file-password-protected", file=name)]) from None
    except Exception as exc:  # calamine raises several unrelated types for damaged files
        raise DeliveryRejected([Finding("file-unreadable", file=name, params={"detail": _short(exc)})]) from None
    wanted = contract.file.sheet or ""
    names = workbook.sheet_names
    match = next((n for n in names if normalise_label(n) == normalise_label(wanted)), None)
    if match is None:
        raise DeliveryRejected([Finding("sheet-missing", file=name, params={
            "expected": wanted, "found": ", ".join(names) or "-"})])
    try:
        grid = workbook.get_sheet_by_name(match).to_python(skip_empty_area=False)
    except Exception as exc:
        raise DeliveryRejected([Finding("file-unreadable", file=name, sheet=match,
                                        params={"detail": _short(exc)})]) from None
    notes = [Finding("sheet-hidden", file=name, sheet=match, value=match) for meta in workbook.sheets_metadata
             if meta.name == match and meta.visible != python_calamine.SheetVisibleEnum.Visible]
    return grid, match, notes  # an empty cell is "" here (None in a data row: _data_rows)


def _read_csv(path: Path, contract: SourceContract, name: str) -> list[list[Any]]:
    over_limit = limits_check.check_size(path, name)
    if over_limit is not None:
        raise DeliveryRejected([over_limit])
    raw = path.read_bytes()
    over_limit = limits_check.check_text(raw, name)
    if over_limit is not None:
        raise DeliveryRejected([over_limit])
    if b"\x00" in raw[:4096] or raw.startswith(ZIP_MAGIC) or raw.startswith(OLE_MAGIC):
        raise DeliveryRejected([Finding("file-not-spreadsheet", file=name,
                                        params={"detail": "binary content, expected text (CSV)"})])
    encoding = contract.file.encoding
    if raw.startswith(codecs.BOM_UTF8):  # a byte-order mark says UTF-8, whatever the contract says
        raw, encoding = raw[len(codecs.BOM_UTF8):], "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DeliveryRejected([Finding("file-unreadable", file=name, excel_row=line, params={
            "detail": f"line {line} is not {encoding} text"})]) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=contract.file.delimiter)
    cell_chars = limits().cell_chars
    previous = csv.field_size_limit(cell_chars)
    try:
        return [[None if cell.strip() == "" else cell for cell in row] for row in reader]
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            finding = limits_check.over("cell_chars", f"> {cell_chars}", cell_chars, name, f"line {reader.line_num}")
        else:
            finding = Finding("file-unreadable", file=name, excel_row=reader.line_num,
                              params={"detail": f"line {reader.line_num}: {exc}"[:160]})
        raise DeliveryRejected([finding]) from None
    finally:
        csv.field_size_limit(previous)


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
                                 params={"expected": expected, "closest": by_norm[closest[0]] if closest else "-"}))
        raise DeliveryRejected(fatal)
    known = set(positions.values()) | {i for i, h in enumerate(headers) if h and normalise_label(h) in ignored}
    extra = [Finding("column-unknown", file=name, sheet=sheet, excel_row=row,
                     column_letter=column_letter(i), column_header=scrub_digits(h), value=scrub_digits(h),
                     params={"found": scrub_digits(h)})
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


def _stand_per(title_rows: list[list[Any]], contract: SourceContract) -> tuple[date | None, tuple | None]:
    """The file's own 'stand per' date and the cell it stands in (Excel row, column, value)."""
    if contract.file.stand_per is None or contract.file.stand_per.label is None:
        return None, None
    label = normalise_label(contract.file.stand_per.label)
    for row, cells in enumerate(title_rows, start=1):
        for i, value in enumerate(cells):
            if is_blank(value) or not normalise_label(value).startswith(label):
                continue
            rest = re.sub(re.escape(label), "", normalise_label(value), count=1).strip(" :")
            following = [(j, v) for j, v in enumerate(cells[i + 1:], start=i + 1) if not is_blank(v)][:1]
            candidates = ([(i, rest, value)] if rest else []) + [(j, v, v) for j, v in following]
            for column, candidate, cell in candidates:
                parsed = parse_date_value(candidate, contract.dates.formats)
                if isinstance(parsed, date):
                    return parsed, (row, column, cell)
    return None, None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


__all__ = ["DeliveryRejected", "RawSheet", "column_letter", "read_source", "datetime"]
