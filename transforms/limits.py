"""Limits checked before a delivery is parsed: what reading a file may cost is bounded up front.

A workbook is a zip of XML parts. Before python-calamine parses one, `check_workbook` reads the zip
central directory (sizes as stated, nothing decompressed) and then streams each worksheet part in
small chunks, counting rows and noting the highest row and column used, and stopping as soon as a
limit is passed, so a file that lies about its size or its dimension costs no more than the limits.
What the row, column and cell limits count is python-calamine's range, the cells holding a value:
not the dimension Excel states, nor the styled empty rows and cells it writes down to row 1,048,576
for columns formatted whole (_check_sheet), which calamine leaves out.
It also refuses any XML part with a document type declaration: Excel never writes one, and it is
how an entity expansion ('billion laughs') or an external entity would get in. `check_text` does
the same for a CSV file (size, lines, cell length). The limits are data: the `limits:` section of
schemas/checks.yaml.

The same pass notes what python-calamine would read wrong without a word, so the reader can say so:
the workbook's date system (1904 or 1900), every formula cell without a calculated value, every
cell holding an Excel error value ('#N/A') and every inline string written with a <v> (calamine
reads all three as empty), and it bounds each merged
range (`<mergeCell ref="A1:XFD1048576"/>`) and the cells they cover by the same row, column and cell
limits. `checked_open` is the one entry point every reader uses (a delivery, a contract draft).

The zip's directory also says what the package is before anything is parsed (other_package): an
OpenDocument spreadsheet or an Excel Binary Workbook, which python-calamine would read by its name
but whose sheets this pass cannot bound, is refused and named; and every part the workbook's
relationships name as a sheet is streamed, wherever it stands and in whatever case its name is
written (python-calamine reads a sheet from xl/data/lvv.xml as well as from xl/worksheets/).

Asked for (`Checked(layout=True)`, the steward's report), the same pass also notes what a reader in
read-only mode does not keep and the report's copy needs: each sheet's column widths and hidden
columns, merged ranges and frozen pane, so no part is streamed a second time for them.

Every attribute the pass reads (a cell's, a dimension's, a merged range's, the date system, a sheet's
name and relationship, a column's, a pane's) is read in every spelling XML allows, as python-calamine
reads it: either quote, space (newlines too) around '=', any namespace prefix on the element
(_start_tags, _attributes). Read only as 'name="value"', a workbook written date1904='1' had its
dates read 1,462 days early, and a sheet written name='Export' its formula and error cells read as
blanks, without a word.

Each check_ function returns the fatal finding of the first limit passed, or None.
"""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from pathlib import Path
from typing import Callable, Iterable, Iterator

from schemas.checks import Finding, Limits, limits

CHUNK = 1 << 20
#: the start of a row element (any namespace prefix)
_ROW = re.compile(rb"<(?:\w+:)?row[\s>/]")
#: the same without a namespace prefix: where no ':row' stands it finds exactly the same, and an
#: expression that starts with a literal ('<row') is searched for several times faster
_PLAIN_ROW = re.compile(rb"<row[\s>/]")
#: one attribute of a start tag in every spelling XML allows: its name (a namespace prefix and all),
#: space around '=' (newlines and tabs too), its value in either quote; or a quoted text standing
#: alone (no attribute's: passed over, so no value is ever searched for an attribute within it).
#: Groups: the name, the value in double quotes, the value in single quotes. Linear: a name is
#: tried only where one may start (after a space or a quote, as python-calamine reads
#: '<c x="1"r="B5">'), each try ends at the next '=', quote or '<' it cannot pass, and taken
#: whole (possessive), so a run of a million name letters is one try, not a million (_attributes)
_ATTRIBUTE = re.compile(rb"""(?<![^\s"'])([^\s=<>/"']++)\s*+=\s*+(?:"([^"<]*+)"|'([^'<]*+)')|"[^"<]*+"|'[^'<]*+'""")
#: a start tag's attributes up to its '>': anything but '<' and '>', a quoted value taken whole
#: (a '>' within quotes is the value's: name="a>b"); XML allows no '<' in a tag, quoted or not
_TAG_BODY = rb"""(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+"""
#: a namespace prefix of an element's name ('x:'), as XML names are written (non-ASCII letters too)
_PREFIX = rb"(?:[\w.\-\x80-\xff]+:)?"


def _start_tags(name: bytes) -> re.Pattern[bytes]:
    """The start tags of the element `name`, with or without a namespace prefix, self-closing or
    not; group 1: its attributes (_attributes). As python-calamine finds the element (by its local
    name), whatever the spelling of its attributes."""
    return re.compile(rb"<" + _PREFIX + name + rb"(?=[\s/>])(" + _TAG_BODY + rb")>")


def _attributes(tag: bytes) -> list[tuple[bytes, bytes]]:
    """A start tag's attributes (group 1 of _start_tags) as (name, value) pairs in order, each value
    as written (entities not replaced): 'a="1"', "a='1'", 'a = "1"', 'a\n=\n"1"' alike. A text that
    looks like an attribute within another's value (foo='date1904="1"') is none; and, as
    python-calamine's XML reader stops there, none is read after a piece that is no attribute
    ('<workbookPr junk date1904="1"/>' states no date system it reads)."""
    pairs, done = [], 0
    for found in _ATTRIBUTE.finditer(tag):
        name = found.group(1)
        if not name or (found.start() > done and not tag[done:found.start()].isspace()):
            break
        pairs.append((name, found.group(2) if found.group(2) is not None else found.group(3)))
        done = found.end()
    return pairs


def _attribute(tag: bytes, name: bytes) -> bytes | None:
    """The value of a start tag's attribute `name` (the first, as python-calamine asks for one),
    or None. Only that name: 'x:date1904' is another attribute than 'date1904'."""
    return next((value for key, value in _attributes(tag) if key == name), None)


_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
#: the first element's start: the end of an XML prolog (where a DTD would stand)
_ELEMENT = re.compile(rb"<[A-Za-z_]")
_PROLOG_MAX = 64 * 1024
#: a formula element closing a cell with no calculated value: '<f>..</f></c>', '<f t="shared" si="0"/></c>',
#: or an empty value as openpyxl writes one ('<f>..</f><v/></c>'); group 1 holds the empty value element.
#: Every tag in every spelling XML allows ('</f >', '<v\t>', '</c\n>'): python-calamine reads them all
_FORMULA_NO_VALUE = re.compile(
    rb"(?:</(?:\w+:)?f\s*>|<(?:\w+:)?f(?:\s[^>]*)?/>)\s*(<(?:\w+:)?v\s*/>|<(?:\w+:)?v\s*>\s*</(?:\w+:)?v\s*>)?"
    rb"\s*</(?:\w+:)?c\s*>")
#: what follows an error cell's start tag: a formula, if any, and the value (group 1)
_ERROR_VALUE = re.compile(rb"\s*(?:<(?:\w+:)?f\b[^>]*/>|<(?:\w+:)?f\b[^>]*>[^<]*</(?:\w+:)?f\s*>)?\s*"
                          rb"<(?:\w+:)?v\s*>([^<]*)</(?:\w+:)?v\s*>")
#: the same without namespace prefixes, as two expressions that start with a literal: searched for
#: several times faster (600,000 formula cells with their values: the pass over the sheet took 1.85 s
#: of CPU with the one expression, 0.99 s with these two, 0.70 s without looking for formulas at all)
_PLAIN_FORMULA_NO_VALUE = (re.compile(rb"</f\s*>\s*(<v\s*/>|<v\s*>\s*</v\s*>)?\s*</c\s*>"),
                           re.compile(rb"<f(?:\s[^>]*)?/>\s*(<v\s*/>|<v\s*>\s*</v\s*>)?\s*</c\s*>"))
#: an 'f' that ends an element's name (or an attribute's, or a word of text): a formula element
#: cannot be written without one
_FORMULA_END = re.compile(rb"f[\s>/]")
_CELL_START = re.compile(rb"<(?:\w+:)?c[\s>]")
#: a cell's start tag, its attributes in group 1 (_attributes); a cell's reference as its r states it
_CELL_TAG = _start_tags(rb"c")
_REF = re.compile(rb"([A-Z]{1,3})([0-9]{1,7})")
#: a place where a cell's t attribute may say 'e' (an Excel error value; _error_cells tells which)
_ERROR_TYPE = re.compile(rb"""t\s*=\s*["']e["']""")
#: the start of a cell's value as python-calamine reads one into its range (any namespace prefix):
#: <v> (a number, a shared or a formula's string, an error) or an inline string <is>; not '<v/>',
#: '<is/>' (nothing read). A <v> of a type calamine reads as empty ('<v></v>') counts too: never fewer
_VALUE = re.compile(rb"<(?:[^\s/>:<]*:)?(?:v|is)(?=[\s>])")
#: a place where a cell's t attribute may say 'inlineStr' (_inline_values); a cell's end; a <v>'s text
_INLINE_TYPE = re.compile(rb"""t\s*=\s*["']inlineStr["']""")
_CELL_END = re.compile(rb"</(?:[^\s/>:<]*:)?c\s*>")
_VALUE_TEXT = re.compile(rb"<(?:[^\s/>:<]*:)?v\s*>([^<]*)")
#: a cell written as Excel writes one, up to its value: its reference first, in double quotes,
#: other attributes after it, a formula before the value if any; groups: the reference's letters
#: and digits (_value_extent)
_SIMPLE_VALUE_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})([0-9]{1,7})"(?: [A-Za-z]+="[^"<>]*")*>'
    rb'(?:<f(?: [A-Za-z]+="[^"<>]*")*(?:/>|>[^<]*</f>))?<(?:v|is)>')
#: a cell's reference as python-calamine reads it: any case, leading zeros
_PLACE = re.compile(rb"([A-Za-z]*)0*([0-9]+)")
_MERGE = _start_tags(rb"mergeCell")
#: a merged range as its ref states it ('A1:D3', or one cell 'A1')
_MERGE_RANGE = re.compile(rb"([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?")
_ERROR_TEXT = re.compile(r"#[A-Z0-9/!?.]{1,12}")
#: the date system, the sheets by name and their relationship ids (xl/workbook.xml), the parts (rels)
_WORKBOOK_PR = _start_tags(rb"workbookPr")
_SHEET = _start_tags(rb"sheet")
_RELATIONSHIP = _start_tags(rb"Relationship")
#: the layout (Checked.layout): a column range's attributes, a pane's
_COL = _start_tags(rb"col")
_PANE = _start_tags(rb"pane")
#: Excel's last column (XFD): a <col> past it, or backwards, is not a column range anything can show
MAX_COLUMN = 16384
#: the tail kept between chunks reaches back to the last cell's start, this far at most (a cell
#: holds 5,000 characters by the limits, a formula 8,192: either, escaped, well under this)
_TAIL_MAX = 64 * 1024


@lru_cache(maxsize=4)
def _far_references(rows: int) -> re.Pattern[bytes]:
    """An r attribute (a row's number, a cell's reference) that may pass the limits: two or more
    column letters (one is column Z at most), or a row number of as many digits as the row limit or
    more (a smaller one cannot pass it); its letters and its digits. Spelled as python-calamine
    reads it (which places a cell where its reference says): either quote, space around '=',
    lower-case letters, leading zeros. Only the row numbers of <row> elements were looked at
    before: a cell <c r="A900000"> in a sheet of three rows made calamine fill 900,000 rows.
    The digits are taken without leading zeros and nine at most: a longer number is past any
    row limit either way, and converting one of thousands of digits costs more than linear."""
    return re.compile(rb'r\s*=\s*["\']([A-Za-z]{2,}(?=[0-9])|[A-Za-z]?(?=[0-9]{%d}))0*([0-9]{1,9})' % len(str(rows)))


def _far_extent(data: bytes, pattern: re.Pattern[bytes], limit: Limits, plain: _Plain) -> tuple[int, int]:
    """The highest row and column the chunk's r attributes state, of those that may pass the
    limits (_far_references). Counted without a look at where they stand first; where a limit looks
    passed, the references past it are counted only where python-calamine reads them as a cell's or
    a row's place (_placing): not in a text ('<t>zie r="A300000"</t>', a formula, a value), nor in
    another attribute's value or name ('header'). The highest of those, (0, 0) if none."""
    found = pattern.findall(data)
    if not found:
        return 0, 0
    top_row, top_column = _extent(found)
    if top_row <= limit.rows and top_column <= limit.columns:
        return top_row, top_column
    rows, columns = _past_limits(found, limit)
    past = compress(pattern.finditer(data), [digits in rows or letters in columns for letters, digits in found])
    found = [m.groups() for m in _placing(data, past, lambda: plain.upto(data))]
    return _extent(found) if found else (0, 0)


def _past_limits(found: list[tuple[bytes, bytes]], limit: Limits) -> tuple[set[bytes], set[bytes]]:
    """Of the (letters, digits) pairs found, the digits past the row limit and the letters past the
    column limit, each distinct value converted once (_extent)."""
    letters, digits = map(set, zip(*found))
    return ({d for d in digits if int(d) > limit.rows},
            {c for c in letters if c and column_number(c[:4].decode().upper()) > limit.columns})


#: a chunk of plain XML tokens: text without '<', tags from '<' to the '>' outside quotes, with no
#: '<' within them, quoted or not. Where every chunk of a part so far is one, each '<' starts a tag
#: as python-calamine reads the part (its reader skips a '>' within quotes, and a '<' too: a tag
#: '<c x="<v>" r="B5000">' would make a '<v>' that is none, and hide the reference in its text)
_PLAIN_TOKENS = re.compile(rb"""(?:[^<]++|<(?:[^<>"']++|"[^"<]*+"|'[^'<]*+')*+>)*+""")
#: the start of a cell's or a row's tag (any namespace prefix), up to its name
_PLACING_TAG = re.compile(rb"<(?:[^\s/>:]*:)?(?:c|row)(?=[\s/>])")
#: attributes written as XML writes them (name, '=', a quoted value), and one of them
_ATTRIBUTES = re.compile(rb"""(?:\s*[^\s=>/"'<]+\s*=\s*(?:"[^"]*"|'[^']*'))*""")
_ONE_ATTRIBUTE = re.compile(rb"""\s*[^\s=>/"'<]+\s*=\s*(?:"[^"]*"|'[^']*')""")


class _Plain:
    """Whether a part is plain XML tokens (_PLAIN_TOKENS) from its start to the chunk in hand: asked
    first of a chunk in the middle of the part, the chunks before it are read again (the part is
    streamed, nothing of it kept); from then on each chunk is checked as it passes (`passed`), so
    the part is read at most twice. Asked only where a reference past a limit would be left out,
    about 16 ms a MB of CPU (a reference that counts where it stands needs no asking)."""

    def __init__(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo):
        self._archive, self._member = archive, member
        self._index = 0  # the chunk the caller has in hand
        self._checked = 0  # chunks checked from the part's start
        self._plain = True

    def upto(self, data: bytes) -> bool:
        """Whether the part is plain up to and with `data`, the chunk in hand."""
        if self._plain and self._checked < self._index:
            for index, earlier in enumerate(_chunks(self._archive, self._member)):
                if index >= self._index or not self._plain:
                    break
                if index >= self._checked:
                    self._plain = _PLAIN_TOKENS.fullmatch(earlier) is not None
            self._checked = self._index
        if self._checked == self._index:
            self._plain = self._plain and _PLAIN_TOKENS.fullmatch(data) is not None
            self._checked += 1
        return self._plain

    def passed(self, data: bytes) -> None:
        """The chunk in hand is done with: checked if the part is being checked, so that it is not
        read again for a later chunk."""
        if 0 < self._checked == self._index:
            self.upto(data)
        self._index += 1


def _placing(data: bytes, references: Iterable[re.Match[bytes]],
             plain: Callable[[], bool]) -> Iterator[re.Match[bytes]]:
    """The r attributes of a chunk (references, in order) that python-calamine reads as a cell's or
    a row's place: one where the last '<' before it starts a cell or a row and the attributes after
    the tag's name lead up to it, only spaces between. One in another attribute, after the tag's
    end (text) or in another tag is left out only where the part is plain up to the chunk (plain():
    each '<' starts a tag); there, and after a tag written otherwise (an attribute without a quoted
    value), one preceded by a space or a quote counts, as python-calamine may read it. Each tag is
    read once from its start, whatever number of references it holds: linear in the chunk."""
    searched, kind, done, is_plain = 0, "text", 0, None
    for found in references:
        at = found.start()
        start = data.rfind(b"<", searched, at)
        searched = at
        if start >= 0:  # a tag since the reference before
            tag = _PLACING_TAG.match(data, start)
            kind, done = ("placing", tag.end()) if tag else ("text", 0)
        if kind == "placing":
            done = _ATTRIBUTES.match(data, done, at).end()
            between = data[done:at]
            if not between or between.isspace():
                yield found
                continue
            whole = _ONE_ATTRIBUTE.match(data, done)
            if whole and whole.end() > at:  # within another attribute's name or value
                done = whole.end()
                if is_plain is None:
                    is_plain = plain()
                if is_plain:
                    continue
            elif between.lstrip().startswith((b">", b"/>")):
                kind = "text"
            else:
                kind = "unread"
        if kind == "text" and is_plain is None:
            is_plain = plain()
        if (kind == "unread" or not is_plain) and _after_a_space_or_quote(data, at):
            yield found


def _after_a_space_or_quote(data: bytes, at: int) -> bool:
    """Whether an attribute may start at `at`: after a space, or after the quote that ends the
    attribute before it (python-calamine reads '<c x="1"r="B5000">' as a cell at row 5000)."""
    return at > 0 and data[at - 1] in _SPACE_OR_QUOTE


_SPACE_OR_QUOTE = frozenset(b" \t\r\n\f\v\"'")


def _extent(found: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """The highest row and column of (letters, digits) pairs; four letters are past Excel's last
    column (XFD) whatever follows, so no more are read of a column's letters."""
    letters, digits = map(set, zip(*found))  # a row's cells state its number again: once each
    letters.discard(b"")
    return max(map(int, digits)), max((column_number(name[:4].decode().upper()) for name in letters), default=0)


@dataclass
class SheetNotes:
    """What one worksheet part holds that python-calamine reads as empty cells, by reference:
    formula cells without a calculated value, and cells with an error value ('#N/A'); with
    Checked.layout, what it states outside its cells (the steward report's copy keeps it)."""

    formulas: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: inline-string cells whose text is written as a <v> (_inline_values)
    inline: list[str] = field(default_factory=list)
    #: first column -> (last column, width or None, hidden), as the part's <col> elements state
    #: them (a later one for the same first column replaces an earlier): MAX_COLUMN entries at most
    columns: dict[int, tuple[int, float | None, bool]] = field(default_factory=dict)
    #: merged ranges as (first column, first row, last column, last row); the limits bound the
    #: cells they cover, so their number too
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: the top-left cell of the scrolling pane of a frozen one ('A6'), else None
    frozen: str | None = None

    def __bool__(self) -> bool:
        return bool(self.formulas or self.errors or self.inline or self.columns or self.merged or self.frozen)


@dataclass
class Checked:
    """A delivery file opened under the limits: the fatal finding of the first one passed (or of a
    damaged zip), else what the reader needs to read it right."""

    finding: Finding | None = None
    #: a CSV file's bytes (read once, after its size was checked)
    raw: bytes | None = None
    #: the workbook counts its dates from 1904-01-01 (Excel for Mac's old default), not 1899-12-30
    date1904: bool = False
    #: sheet name (as the workbook states it) -> its notes; a sheet without any is absent
    notes: dict[str, SheetNotes] = field(default_factory=dict)
    #: asked for by the caller: note each sheet's layout too (SheetNotes.columns, merged, frozen)
    layout: bool = False


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


def checked_open(path: Path, name: str, csv: bool, limit: Limits | None = None,
                 checked: Checked | None = None) -> Checked:
    """The one way a reader opens a file: every limit checked in the same order before anything
    is parsed; for a CSV file its bytes, for a workbook what its pass noted (Checked).
    checked: filled and returned instead of a new one (the caller keeps what the pass noted:
    `Checked(layout=True)` for the steward report)."""
    limit = limit or limits()
    checked = checked if checked is not None else Checked()
    if not csv:
        checked.finding = check_workbook(path, name, limit, checked)
        return checked
    # a CSV file: its size before a byte is read, then its lines
    checked.finding = check_size(path, name, limit)
    if checked.finding is None:
        checked.raw = path.read_bytes()
        checked.finding = check_text(checked.raw, name, limit)
    return checked


def check_workbook(path: Path, name: str, limit: Limits | None = None,
                   checked: Checked | None = None) -> Finding | None:
    """The first limit an .xlsx passes, or a finding for a damaged zip or an XML part with a DTD.
    checked: filled with the date system and each sheet's cells read as empty (checked_open),
    and with checked.layout each sheet's layout."""
    limit = limit or limits()
    checked = checked if checked is not None else Checked()
    found = check_size(path, name, limit)
    if found:
        return found
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Finding("file-unreadable", file=name, params={"detail": f"no readable zip directory: {exc}"[:160]})
    with archive:
        members = archive.infolist()
        sheets = [m for m in members if _WORKSHEET_PART.fullmatch(_part_key(m))]
        if len(sheets) > limit.sheets:
            return over("sheets", len(sheets), limit.sheets, name)
        for member in members:
            if member.file_size > limit.member_mb * 1e6:
                return over("member_mb", round(member.file_size / 1e6), limit.member_mb, name, member.filename)
            ratio = member.file_size / max(member.compress_size, 1)
            if member.file_size > 1e6 and ratio > limit.compression_ratio:
                return over("compression_ratio", round(ratio), limit.compression_ratio, name, member.filename)
        other = other_package(members)
        if other is not None:
            return Finding("file-not-spreadsheet", file=name, params={"detail": other})
        try:
            for member in members:
                if member.filename.endswith((".xml", ".rels")) and _has_dtd(archive, member):
                    return Finding("file-not-spreadsheet", file=name, params={
                        "detail": f"{member.filename} has an XML document type declaration, which Excel "
                                  "never writes (entity expansion)"})
            # every part python-calamine reads as a sheet: where the workbook's relationships say, in
            # any folder (xl/data/lvv.xml) and any case of its name, not only xl/worksheets/*.xml
            names = {part.casefold(): sheet for part, sheet in _sheet_names(archive, members, checked).items()}
            sheets = [m for m in members if _part_key(m) in names or _WORKSHEET_PART.fullmatch(_part_key(m))]
            if len(sheets) > limit.sheets:
                return over("sheets", len(sheets), limit.sheets, name)
            for member in sheets:
                sheet_notes = SheetNotes()
                found = _check_sheet(archive, member, name, limit, sheet_notes, checked.layout)
                if found:
                    return found
                if sheet_notes:
                    checked.notes[names.get(_part_key(member), member.filename)] = sheet_notes
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            # a CRC or size that does not match what the directory states, an unknown compression
            return Finding("file-unreadable", file=name, params={"detail": str(exc)[:160] or type(exc).__name__})
    return None


#: a worksheet part where Excel writes it, in any case of its name (python-calamine finds a part so)
_WORKSHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)
#: zip packages that are no Excel workbook python-calamine would read as .xlsx, by a part only each
#: holds, and what to call them: python-calamine reads the first two too (by the file's name), but
#: their sheets are parts this pass does not stream (binary records, one content.xml whose rows
#: repeat by an attribute: 883 bytes made a million rows), so no limit would bound what they cost
_OTHER_PACKAGES = (
    ("xl/workbook.bin", "an Excel Binary Workbook (.xlsb), which is not read; in Excel, Save As "
                        "'Excel Workbook (*.xlsx)'"),
    ("content.xml", "an OpenDocument spreadsheet (.ods, LibreOffice), which is not read; Save As "
                    "'Excel 2007-365 (.xlsx)'"),
    ("word/document.xml", "a Word document"),
    ("ppt/presentation.xml", "a PowerPoint presentation"),
)


def _part_key(member: zipfile.ZipInfo) -> str:
    """A part's name as python-calamine looks it up: its case folded ('XL/Workbook.xml' is found as
    xl/workbook.xml) and '\\' read as '/' (as some Windows tools write a zip's names: python-calamine
    reads 'xl\\worksheets\\sheet1.xml' as the sheet it is, and so must this pass, or no limit
    bounds it)."""
    return member.filename.replace("\\", "/").casefold()


def other_package(members: list[zipfile.ZipInfo]) -> str | None:
    """What a zip package is when it is no Excel workbook (no xl/workbook.xml, the part python-calamine
    reads an .xlsx from, in any case), in a steward's words; None for a workbook (.xlsx, .xlsm,
    Strict Open XML alike). From the zip's directory alone: nothing is decompressed."""
    names = {_part_key(m) for m in members}
    if "xl/workbook.xml" in names:
        return None
    return next((said for part, said in _OTHER_PACKAGES if part in names),
                "a zip archive without a workbook in it (no xl/workbook.xml)")


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


def _chunks(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Iterator[bytes]:
    """A part's bytes in chunks of about CHUNK, each cut before the last cell (or, where none
    starts in its last _TAIL_MAX bytes, the last element) that starts in it: that goes to the next
    chunk whole, so a pattern over one element or one cell never straddles two chunks."""
    tail = b""
    with archive.open(member) as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            data = tail + block
            if len(block) < CHUNK:  # the last block: nothing to keep
                tail = b""
                yield data
                break
            floor = max(len(data) - _TAIL_MAX, 1)
            # '<c' also starts '<col' or '<cfRule': cutting before any element start is harmless
            cut = max(data.rfind(b"<c", floor), data.rfind(b"<", floor, max(data.rfind(b":c ", floor), floor)))
            if cut < floor:
                cut = max(data.rfind(b"<", floor), len(data) - 4096)
                if data[cut:cut + 1] != b"<":
                    cut = _after_last_mark(data, cut, floor, member.filename)
            tail = data[cut:]
            yield data[:cut]
    if tail:
        yield tail


#: every byte an r attribute may be spelled with (_far_references): a chunk cut after any other
#: byte cuts no reference in two
_REFERENCE_BYTES = b" \t\r\n\f\v=\"'" + bytes(range(48, 58)) + bytes(range(65, 91)) + bytes(range(97, 123))


def _after_last_mark(data: bytes, cut: int, floor: int, part: str) -> int:
    """Where a chunk with no element start in its last bytes ends (a tag or a text longer than
    _TAIL_MAX reaches past it): after the last byte before `cut` that no reference is spelled with,
    so that <c x="(100 kB)" r="A900000" ..> is not read as 'r="A9' and '00000"' in two chunks,
    neither of them far. Refused where there is none since `floor`: 64 kB of letters, digits,
    quotes and spaces within one element is no cell Excel writes."""
    kept = len(data[floor:cut].rstrip(_REFERENCE_BYTES))
    if not kept:
        raise ValueError(f"{part}: {_TAIL_MAX // 1024} kB of one element with nothing but letters, digits, "
                         "quotes and spaces")
    return floor + kept


def _sheet_names(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], notes: Checked) -> dict[str, str]:
    """Worksheet part -> the sheet's name, from xl/workbook.xml and its relationships, and the
    workbook's date system into notes. Streamed like a sheet: as costly as the parts' size."""
    by_name = {_part_key(m): m for m in members}
    rids: dict[str, str] = {}
    if "xl/workbook.xml" in by_name:
        for data in _elements_only(_chunks(archive, by_name["xl/workbook.xml"])):
            if b"workbookPr" in data:
                for attributes in _WORKBOOK_PR.findall(data):  # the last one stands, as in calamine
                    notes.date1904 = _attribute(attributes, b"date1904") in (b"1", b"true")
            for attributes in _SHEET.findall(data):
                sheet, rid = _sheet_attributes(attributes)
                if sheet is not None and rid is not None:
                    rids[rid.decode("utf-8", "replace")] = _unescaped(sheet)
    parts: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in by_name:
        for data in _elements_only(_chunks(archive, by_name["xl/_rels/workbook.xml.rels"])):
            for attributes in _RELATIONSHIP.findall(data):
                found = dict(reversed(_attributes(attributes)))  # the first of a name, as _attribute
                rid, target = found.get(b"Id"), found.get(b"Target")
                if rid is not None and target is not None and rid.decode("utf-8", "replace") in rids:
                    where = _unescaped(target)
                    part = where.lstrip("/") if where.startswith("/") else "xl/" + where
                    parts[part] = rids[rid.decode("utf-8", "replace")]
    return parts


#: the start of a comment, a CDATA section or a processing instruction, and the end of each
_OTHER_START = re.compile(rb"<!--|<!\[CDATA\[|<\?")
_OTHER_END = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}


def _elements_only(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Each chunk without its comments, CDATA sections and processing instructions: python-calamine
    reads no element within one ('<!-- <workbookPr date1904="1"/> -->' states no date system, a
    '<![CDATA[<sheet name=".."/>]]>' in a defined name no sheet). One that runs on past a chunk's
    end is left out of the next up to its end. Linear: each start and each end looked for once."""
    end = None  # the end of what the chunk before left open
    for data in chunks:
        kept, at = [], 0
        while True:
            if end is not None:
                stop = data.find(end, at)
                if stop < 0:
                    break  # runs on into the next chunk: nothing more of this one is read
                at, end = stop + len(end), None
            found = _OTHER_START.search(data, at)
            kept.append(data[at:found.start() if found else len(data)])
            if not found:
                break
            end, at = _OTHER_END[found.group()], found.end()
        yield b"".join(kept)


def _sheet_attributes(attributes: bytes) -> tuple[bytes | None, bytes | None]:
    """A <sheet>'s name and its relationship id, as python-calamine takes them: the name from
    'name' (not 'x:name'), the id from the last attribute named 'id' with any namespace prefix or
    none ('r:id', 'relationships:id', 'id'), whatever their quotes and spaces."""
    name = rid = None
    for key, value in _attributes(attributes):
        if key == b"name":
            name = value
        elif key.rpartition(b":")[2] == b"id":
            rid = value
    return name, rid


def _unescaped(value: bytes) -> str:
    """An attribute's value as an XML parser reads it (as openpyxl and python-calamine name the
    sheet): the named entities and character references ('Caf&#233;' is 'Café'), in one pass.
    html.unescape knows more names than XML's five, but a well-formed part has no others."""
    return html.unescape(value.decode("utf-8", "replace"))


def _note_layout(data: bytes, notes: SheetNotes) -> None:
    """The <col> ranges and the frozen pane a chunk states, into notes; two substring tests where
    it states neither (the cells)."""
    if b"col" in data:
        for attributes in _COL.findall(data):
            found = dict(_attributes(attributes))
            try:
                first, last = int(found[b"min"]), int(found[b"max"])
                width = float(found[b"width"]) if b"width" in found else None
            except (KeyError, ValueError):
                continue  # a <col> without its columns: nothing to copy
            if 1 <= first <= last <= MAX_COLUMN:
                notes.columns[first] = (last, width, found.get(b"hidden") in (b"1", b"true"))
    if b"pane" in data:
        for attributes in _PANE.findall(data):
            found = dict(_attributes(attributes))
            if found.get(b"state") in (b"frozen", b"frozenSplit") and found.get(b"topLeftCell"):
                notes.frozen = found[b"topLeftCell"].decode("ascii", "replace")


def _note_cells(data: bytes, notes: SheetNotes) -> None:
    """The formula cells without a value and the error cells of one chunk, by reference. Each
    test whether a chunk holds any costs a scan of it, about 2 ms a MB: three in all, unless no
    element name ends in 'f' (_FORMULA_END: a scan a third as costly, where 'f' is rare), which
    every formula element has ('<f>', '<f t=..>', '<f/>', '</x:f>')."""
    if _FORMULA_END.search(data) and ((prefixed := b":f" in data) or b"<f" in data):
        patterns = (_FORMULA_NO_VALUE,) if prefixed else _PLAIN_FORMULA_NO_VALUE
        matches = sorted((m for pattern in patterns for m in pattern.finditer(data)), key=lambda m: m.start())
        for found in matches:
            # back to the cell's start tag: '<c ..><f>..' (a formula's text holds no '<'); a few
            # elements at most, so a part of closing tags without a cell costs no more than linear
            start, steps = data.rfind(b"<", 0, found.start()), 0
            while start > 0 and steps < 4 and not _CELL_START.match(data, start):
                start, steps = data.rfind(b"<", 0, start), steps + 1
            tag = _CELL_TAG.match(data, start) if start >= 0 else None
            attributes = dict(_attributes(tag.group(1))) if tag else {}
            if found.group(1) and attributes.get(b"t") == b"str":
                continue  # an empty text a formula gave ('=IF(A1="";"";A1)'): a value, calculated
            notes.formulas.append(_cell_reference(attributes.get(b"r")))
    notes.errors.extend(_error_cells(data))  # t="e", t='e', t = "e": any spelling XML allows
    if b"inlineStr" in data:  # a substring test: rare in a chunk, as in a sheet
        notes.inline.extend(_inline_values(data))


def _inline_values(data: bytes) -> Iterator[str]:
    """The inline-string cells of a chunk whose text is written as a <v> (as PHPExcel writes one,
    '<c r="B2" t="inlineStr"><v>text</v></c>', and OpenXLSX after a value was changed), by
    reference: python-calamine reads such a cell as empty, the text (and an <is> before the <v>)
    lost without a word. As _error_cells: from each place a t attribute may say 'inlineStr', the
    cell's start tag read whole, then its content up to its end, once: linear in the chunk."""
    searched = 0
    for found in _INLINE_TYPE.finditer(data):
        start = data.rfind(b"<", searched, found.start())
        searched = found.start()
        tag = _CELL_TAG.match(data, start) if start >= 0 else None
        if tag is None or tag.end() <= found.start() or tag.group(1).endswith(b"/"):
            continue  # in a text or another element's tag, or a cell with no content
        attributes = dict(_attributes(tag.group(1)))
        if attributes.get(b"t") != b"inlineStr":
            continue
        end = _CELL_END.search(data, tag.end())
        content = data[tag.end():end.start() if end else len(data)]
        searched = max(searched, end.end() if end else len(data))
        last = None
        for last in _VALUE.finditer(content):  # calamine keeps the last value element it reads
            pass
        value = _VALUE_TEXT.match(content, last.start()) if last is not None else None
        if value and value.group(1).strip():
            yield _cell_reference(attributes.get(b"r"))


def _error_cells(data: bytes) -> Iterator[tuple[str, str]]:
    """The cells of type 'e' in a chunk, as (reference, error value), from each place a t
    attribute may say 'e' (_ERROR_TYPE: rare, so a chunk is scanned once): the cell's start tag it
    stands in, read whole (_attributes: not 'x:t', not within another attribute's value, a '>'
    within quotes no end), then its value. Each tag is read once, however many such places it
    holds: linear in the chunk."""
    searched = 0
    for found in _ERROR_TYPE.finditer(data):
        start = data.rfind(b"<", searched, found.start())
        searched = found.start()
        tag = _CELL_TAG.match(data, start) if start >= 0 else None  # none since the place before: read
        if tag is None or tag.end() <= found.start() or tag.group(1).endswith(b"/"):
            continue  # in a text or another element's tag, or a cell with no content
        attributes = dict(_attributes(tag.group(1)))
        value = _ERROR_VALUE.match(data, tag.end()) if attributes.get(b"t") == b"e" else None
        if value:
            text = value.group(1).decode("utf-8", "replace")
            yield _cell_reference(attributes.get(b"r")), text if _ERROR_TEXT.fullmatch(text) else "#?"


def _cell_reference(value: bytes | None) -> str:
    """A cell's r attribute as its reference ('B7'); '' where it has none, or none of a cell."""
    ref = _REF.fullmatch(value) if value is not None else None
    return ref.group(1).decode() + ref.group(2).decode() if ref else ""


def _check_sheet(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, limit: Limits,
                 notes: SheetNotes | None = None, layout: bool = False) -> Finding | None:
    """Stream one worksheet part: rows counted, highest row and column and cells holding a value,
    merged ranges. Stops at the first limit passed; reads no more than the part's stated size.
    notes: filled with the cells python-calamine reads as empty though they are not, and with
    layout its column ranges, merged ranges and frozen pane.

    The row, column and cell limits bound python-calamine's range: the cells holding a value (a
    <v> or an inline string <is>; an empty styled cell '<c r="A900000" s="3"/>', a formula without
    a value are none: calamine leaves them out). A sheet whose columns were formatted whole states
    rows and such cells down to row 1,048,576 for a few hundred rows of values: read, not refused.
    While no reference written passes a limit every one counts, as cheap as before; past it, each
    cell holding a value is placed by its own reference, and one written without a reference (its
    place follows the rows before it) at the farthest place written so far (_value_extent)."""
    notes = notes if notes is not None else SheetNotes()
    sheet = _part_key(member).rsplit("/", 1)[-1]
    rows = cells = top_row = top_column = written_row = written_column = merged = 0
    # zipfile reads no more of a part than its stated size, a row element takes 5 bytes or more
    # ('<row ') and a value 3 ('<v>'): a part too small to hold more rows or values than the limit
    # allows is not counted (a sheet of a few hundred rows); the row numbers it states still are
    count_rows = member.file_size // 5 > limit.rows
    count_cells = member.file_size // 3 > limit.cells
    far, plain = _far_references(limit.rows), _Plain(archive, member)
    # the stated dimension is not read: python-calamine allocates nothing by it (it reserves room by
    # it only under 100,000 cells), and Excel states 'A1:Z1048576' for formatted columns
    passed = False  # a reference written, or the rows counted, past a limit: from then on values count
    for data in _chunks(archive, member):  # each chunk ends before a cell, never inside one
        values = None
        if passed:
            before_row, before_column = written_row, written_column
        else:
            if count_rows:
                rows += len((_PLAIN_ROW if b":row" not in data else _ROW).findall(data))
            found = far.findall(data)
            loose_row, loose_column = _extent(found) if found else (0, 0)
            before_row, before_column = written_row, written_column  # the references of the chunks before
            written_row, written_column = max(written_row, loose_row), max(written_column, loose_column)
            passed = max(rows, written_row) > limit.rows or written_column > limit.columns
            far_row, far_column = loose_row, loose_column
        if passed:
            # what counts is python-calamine's range, the cells holding a value: not the rows and
            # empty styled cells ('<c r="A900000" s="3"/>') of formatted columns, which are no longer
            # counted (neither the rows nor the references written: linear, and cheaper than before)
            values, far_row, far_column = _value_extent(data, lambda: _unplaced_bound(
                data, far, limit, plain, max(rows, before_row), before_column))
        plain.passed(data)
        top_row, top_column = max(top_row, far_row), max(top_column, far_column)
        if top_row > limit.rows:
            return over("rows", top_row, limit.rows, name, sheet)
        if top_column > limit.columns:
            return over("columns", top_column, limit.columns, name, sheet)
        if count_cells:
            cells += values if values is not None else len(_VALUE.findall(data)) if _has_values(data) else 0
        if cells > limit.cells:
            return over("cells", cells, limit.cells, name, sheet)
        _note_cells(data, notes)
        if layout:
            _note_layout(data, notes)
        if b"mergeCell" in data:  # '<mergeCell ' and '<x:mergeCell ' alike
            # a merged range is as many cells as it covers: openpyxl makes an object of each
            for left, top, right, bottom in _merged_ranges(data):
                # a range written backwards ('D5:A1') is the same range: as many cells, never fewer
                first_row, last_row = sorted((int(top), int(bottom or top)))
                first_col, last_col = sorted((column_number(left.decode()), column_number((right or left).decode())))
                if last_row > limit.rows:
                    return over("rows", last_row, limit.rows, name, f"{sheet}, merged cells")
                if last_col > limit.columns:
                    return over("columns", last_col, limit.columns, name, f"{sheet}, merged cells")
                merged += (last_row - first_row + 1) * (last_col - first_col + 1)
                if layout and first_row:  # a row 0 ('A0') is no cell: nothing to merge
                    notes.merged.append((first_col, first_row, last_col, last_row))
            if merged > limit.cells:
                return over("cells", merged, limit.cells, name, f"{sheet}, merged cells")
    return None


def _value_extent(data: bytes, unplaced: Callable[[], tuple[int, int]]) -> tuple[int, int, int]:
    """The number of the chunk's cells holding a value (_VALUE) and their highest row and column,
    each placed by its own reference as python-calamine places it; one without a reference, or
    whose start tag is not found within a few elements before its value, at unplaced() (asked once
    a chunk). (0, 0, 0) where the chunk holds no value: its rows and empty styled cells are nothing
    in calamine's range."""
    count = top_row = top_column = 0
    bound = None
    if not _has_values(data):
        return 0, 0, 0
    # the cells as Excel and most tools write them ('<c r="B5" s="1"><f>..</f><v>'), read in one
    # scan: where each value stands right after such a tag, its place is the tag's reference (the
    # scan finds each value at most once); 240,000 rows of 8 values: 14 s of CPU placed one by one
    simple = _SIMPLE_VALUE_CELL.findall(data)
    if len(simple) == len(_VALUE.findall(data)):
        return (len(simple), *_extent(simple)) if simple else (0, 0, 0)
    for found in _VALUE.finditer(data):
        place = _value_place(data, found.start())
        if place is None:
            place = bound = bound or unplaced()
        count, top_row, top_column = count + 1, max(top_row, place[0]), max(top_column, place[1])
    return count, top_row, top_column


def _has_values(data: bytes) -> bool:
    """Whether a chunk may hold a value (_VALUE): four substring tests, each some 20 times cheaper
    than looking for values tag by tag in a chunk of styled empty cells that holds none."""
    return b"<v" in data or b"<is" in data or b":v" in data or b":is" in data


def _value_place(data: bytes, at: int) -> tuple[int, int] | None:
    """The (row, column) the r attribute of the cell whose value starts at `at` states, or None:
    back to the cell's start tag over a formula at most ('<c r="B5"><f>..</f><v>'; a formula's
    text holds no '<'), a few elements, so a run of values without a cell costs no more than linear."""
    start, steps = at, 0
    while True:
        start = data.rfind(b"<", 0, start)
        if start < 0 or steps > 3:
            return None
        if _CELL_START.match(data, start):
            break
        steps += 1
    tag = _CELL_TAG.match(data, start)
    ref = _attribute(tag.group(1), b"r") if tag and tag.end() <= at else None
    found = _PLACE.fullmatch(ref) if ref is not None else None
    if not found:
        return None
    # nine significant digits at most, as _far_references reads them: a longer number is past any
    # limit either way, and converting one of thousands of digits costs more than linear
    return (int(found.group(2)[:9]),
            column_number(found.group(1)[:4].decode().upper()) if found.group(1) else 0)


def _unplaced_bound(data: bytes, far: re.Pattern[bytes], limit: Limits, plain: _Plain, rows: int,
                    column: int) -> tuple[int, int]:
    """Where a value written without its reference may stand, at farthest: python-calamine places
    it after the row before it (a '<row r="900000"/>' with no value in it too), so past the rows
    counted, the references written in the chunks before (rows, column) and those this chunk places
    (_far_extent: not one in a text)."""
    placed_row, placed_column = _far_extent(data, far, limit, plain)
    return max(rows, placed_row), max(column, placed_column)


def _merged_ranges(data: bytes) -> Iterator[tuple[bytes, bytes, bytes, bytes]]:
    """Each <mergeCell>'s range in a chunk, as (left, top, right, bottom) letters and digits (the
    last two empty for one cell), whatever the spelling of its ref; one without a range is none."""
    for attributes in _MERGE.findall(data):
        ref = _attribute(attributes, b"ref")
        found = _MERGE_RANGE.fullmatch(ref) if ref is not None else None
        if found:
            yield found.group(1), found.group(2), found.group(3) or b"", found.group(4) or b""


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


__all__ = ["MAX_COLUMN", "Checked", "SheetNotes", "check_size", "check_text", "check_workbook", "checked_open",
           "column_number", "over"]
