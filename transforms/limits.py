"""Limits checked before a delivery is parsed: what reading a file may cost is bounded up front.

A workbook is a zip of XML parts. Before python-calamine parses one, `check_workbook` reads the zip
central directory (sizes as stated, nothing decompressed) and then streams each worksheet part in
small chunks, counting rows and noting the highest row and column used, and stopping as soon as a
limit is passed, so a file that lies about its size or its dimension costs no more than the limits.
It also refuses any XML part with a document type declaration: Excel never writes one, and it is
how an entity expansion ('billion laughs') or an external entity would get in. `check_text` does
the same for a CSV file (size, lines, cell length). The limits are data: the `limits:` section of
schemas/checks.yaml.

Each function returns the fatal finding of the first limit passed, or None.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from schemas.checks import Finding, Limits, limits

CHUNK = 1 << 20
#: the start of a row element (any namespace prefix), and the row number it states
_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
_ROW_NUMBER = re.compile(rb'<(?:\w+:)?row\s(?:[^>]*?\s)?r="(\d+)"')
#: the same two without a namespace prefix: where no ':row' stands they find exactly the same,
#: and an expression that starts with a literal ('<row') is searched for several times faster
_PLAIN_ROW = re.compile(rb"<row[\s>/]")
_PLAIN_ROW_NUMBER = re.compile(rb'<row\s(?:[^>]*?\s)?r="(\d+)"')
#: a cell reference with two or more column letters (one letter is column Z at most)
_WIDE_CELL = re.compile(rb' r="([A-Z]{2,3})[0-9]')
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
#: the first element's start: the end of an XML prolog (where a DTD would stand)
_ELEMENT = re.compile(rb"<[A-Za-z_]")
_PROLOG_MAX = 64 * 1024


def column_number(letters: str) -> int:
    """Excel column letters -> 1-based number (A -> 1, AB -> 28)."""
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


def over(key: str, found: float | str, maximum: float | str, name: str, part: str = "") -> Finding:
    """The fatal finding of a limit passed: the limit by its key in checks.yaml (and the part of
    the file it was passed in), the value found and the maximum."""
    return Finding("limit-exceeded", file=name, params={
        "limit": f"limits.{key}" + (f" ({part})" if part else ""), "found": _show(found), "maximum": _show(maximum)})


def _show(value: float | str) -> str:
    if isinstance(value, str):
        return value
    # digits only: '16.000' reads as sixteen thousand in the Dutch message and as sixteen in the English one
    return f"{value:.0f}" if value >= 1000 else f"{value:g}"


def check_size(path: Path, name: str, limit: Limits | None = None) -> Finding | None:
    limit = limit or limits()
    size = path.stat().st_size
    if size > limit.file_mb * 1e6:
        return over("file_mb", round(size / 1e6), limit.file_mb, name)
    return None


def check_workbook(path: Path, name: str, limit: Limits | None = None) -> Finding | None:
    """The first limit an .xlsx passes, or a finding for a damaged zip or an XML part with a DTD."""
    limit = limit or limits()
    found = check_size(path, name, limit)
    if found:
        return found
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Finding("file-unreadable", file=name, params={"detail": f"no readable zip directory: {exc}"[:160]})
    with archive:
        members = archive.infolist()
        sheets = [m for m in members if re.fullmatch(r"xl/worksheets/[^/]+\.xml", m.filename)]
        if len(sheets) > limit.sheets:
            return over("sheets", len(sheets), limit.sheets, name)
        for member in members:
            if member.file_size > limit.member_mb * 1e6:
                return over("member_mb", round(member.file_size / 1e6), limit.member_mb, name, member.filename)
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > 1e6 and ratio > limit.compression_ratio:
                return over("compression_ratio", round(ratio), limit.compression_ratio, name, member.filename)
        try:
            for member in members:
                if member.filename.endswith((".xml", ".rels")) and _has_dtd(archive, member):
                    return Finding("file-not-spreadsheet", file=name, params={
                        "detail": f"{member.filename} has an XML document type declaration, which Excel "
                                  "never writes (entity expansion)"})
            for member in sheets:
                found = _check_sheet(archive, member, name, limit)
                if found:
                    return found
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            # a CRC or size that does not match what the directory states, an unknown compression
            return Finding("file-unreadable", file=name, params={"detail": str(exc)[:160] or type(exc).__name__})
    return None


def _has_dtd(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """Whether the part's prolog (everything before its first element) declares a DTD or an entity."""
    with archive.open(member) as handle:
        prolog = b""
        while len(prolog) < _PROLOG_MAX:
            block = handle.read(4096)
            if not block:
                break
            prolog += block
            start = _ELEMENT.search(prolog)
            if start:
                return bool(_DTD.search(prolog[: start.start()]))
        return bool(_DTD.search(prolog)) or len(prolog) >= _PROLOG_MAX


def _check_sheet(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, limit: Limits) -> Finding | None:
    """Stream one worksheet part: stated dimension, rows counted, highest row and column and cells
    used. Stops at the first limit passed; reads no more than the part's stated size."""
    sheet = member.filename.rsplit("/", 1)[-1]
    rows = cells = top_row = top_column = 0
    # zipfile reads no more of a part than its stated size, a row element takes 5 bytes or more
    # ('<row ') and a cell 3 ('<c '): a part too small to hold more rows or cells than the limit
    # allows is not counted (a sheet of a few hundred rows); the row numbers it states still are
    count_rows = member.file_size // 5 > limit.rows
    count_cells = member.file_size // 3 > limit.cells
    tail = b""
    first = True
    with archive.open(member) as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            data = tail + block
            # keep the last bytes for the next chunk: an element may straddle the boundary
            cut = max(data.rfind(b"<"), len(data) - 4096) if len(block) == CHUNK else len(data)
            data, tail = data[:cut], data[cut:]
            if first:
                first = False
                dimension = _DIMENSION.search(data[:65536])
                if dimension:
                    last_col, last_row = dimension.group(3) or dimension.group(1), dimension.group(4) or dimension.group(2)
                    if int(last_row) > limit.rows:
                        return over("rows", int(last_row), limit.rows, name, sheet)
                    if column_number(last_col.decode()) > limit.columns:
                        return over("columns", column_number(last_col.decode()), limit.columns, name, sheet)
            plain = b":row" not in data
            if count_rows:
                rows += len((_PLAIN_ROW if plain else _ROW).findall(data))
            numbers = (_PLAIN_ROW_NUMBER if plain else _ROW_NUMBER).findall(data)
            if numbers:
                top_row = max(top_row, max(map(int, numbers)))
            if max(rows, top_row) > limit.rows:
                return over("rows", max(rows, top_row), limit.rows, name, sheet)
            for letters in set(_WIDE_CELL.findall(data)):
                top_column = max(top_column, column_number(letters.decode()))
            if top_column > limit.columns:
                return over("columns", top_column, limit.columns, name, sheet)
            if count_cells:
                cells += data.count(b"<c ") + data.count(b"<c>") + data.count(b":c ")
            if cells > limit.cells:
                return over("cells", cells, limit.cells, name, sheet)
    return None


def check_text(raw: bytes, name: str, limit: Limits | None = None) -> Finding | None:
    """The first limit a CSV file's bytes pass (size, lines), or None; cell length is checked
    when the cells are split (the csv module's field size limit)."""
    limit = limit or limits()
    if len(raw) > limit.file_mb * 1e6:
        return over("file_mb", round(len(raw) / 1e6), limit.file_mb, name)
    lines = raw.count(b"\n")
    if lines > limit.rows:
        return over("rows", lines, limit.rows, name)
    return None


__all__ = ["check_size", "check_text", "check_workbook", "column_number", "over"]
