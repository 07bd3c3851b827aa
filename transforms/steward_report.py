"""The report a steward opens: a copy of their own workbook with every problem marked.

Each problem cell is filled in its severity's colour and carries a comment with the message and
what to do; a first sheet (Samenvatting / Summary) counts the findings per severity and per check
and lists every finding with a link to its cell. A CSV delivery becomes a workbook with the same
rows and columns, so the row numbers still match the CSV's lines. Every cell written from the
data is made inert against formula injection (see `safe_text`); identifier values in findings are
already pseudonymised by the read step, and nothing here adds any.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from schemas.checks import Finding, Lang, catalogue
from schemas.contracts import SourceContract, normalise_label
from transforms.date_notations import CODES as NOTATION_CODES, notation_findings
from transforms.files import replace_file
from transforms.limits import Checked, SheetNotes, checked_open
from transforms.read import csv_text
from transforms.scrub import formula_safe

SEVERITIES = ("fatal", "error", "warning", "info")


def safe_text(value: Any) -> Any:
    """A value as a report cell holds it: inert against formula injection (scrub.formula_safe), and
    each character a workbook cannot hold (control characters: a NUL of a UTF-16 CSV read as
    cp1252, a bell typed into a name) shown as U+FFFD, where openpyxl would refuse the whole report."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = formula_safe(value)
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value
FILLS = {"fatal": "FF9C9C", "error": "FFC7CE", "warning": "FFEB9C", "info": "DDEBF7"}
WORDS = {
    "nl": {"summary": "Samenvatting", "data": "Gegevens", "title": "Controle van", "municipality": "gemeente",
           "period": "periode", "checked": "gecontroleerd op", "per_severity": "Per ernst",
           "per_check": "Per controle", "all": "Alle bevindingen", "count": "aantal", "severity": "ernst",
           "code": "code", "cell": "cel", "row": "rij", "column": "kolom", "value": "waarde in het bestand",
           "message": "melding", "fix": "wat te doen", "what": "eerste melding", "none": "Geen bevindingen.",
           "fatal": "onbruikbaar", "error": "fout", "warning": "waarschuwing", "info": "info",
           "verdict_fatal": "Het bestand kan niet worden gebruikt; de vorige levering blijft gelden.",
           "verdict_error": "Het bestand heeft fouten: rijen met een fout komen in quarantaine.",
           "verdict_ok": "Het bestand kan worden geleverd.", "notations": "Datums in een andere notatie",
           "fix_word": "Wat te doen"},
    "en": {"summary": "Summary", "data": "Data", "title": "Check of", "municipality": "municipality",
           "period": "period", "checked": "checked on", "per_severity": "Per severity",
           "per_check": "Per check", "all": "All findings", "count": "count", "severity": "severity",
           "code": "code", "cell": "cell", "row": "row", "column": "column", "value": "value in the file",
           "message": "message", "fix": "what to do", "what": "first message", "none": "No findings.",
           "fatal": "unusable", "error": "error", "warning": "warning", "info": "info",
           "verdict_fatal": "The file cannot be used; the previous delivery stays in force.",
           "verdict_error": "The file has errors: rows with an error are quarantined.",
           "verdict_ok": "The file can be delivered.", "notations": "Dates in another notation",
           "fix_word": "What to do"},
}


def write_steward_report(source_path: Path, contract: SourceContract, findings: list[Finding],
                         out_path: Path, lang: Lang = "nl", delivery: dict | None = None,
                         checked: Checked | None = None) -> Path:
    """Write the annotated copy of `source_path` to `out_path` (replaced whole) and return it.

    Streamed: the source is read a row at a time (openpyxl read-only, or the CSV reader) and the
    copy written a row at a time (openpyxl write-only), each problem cell filled and commented as
    it passes, so memory does not grow with the rows (the findings and each sheet's layout, both
    bounded by the limits, are held). What read-only mode does not keep (column widths, merged
    ranges, a frozen pane) comes from the limits' pass over the workbook: `checked`, the one the
    check made (`check_delivery(..., checked=Checked(layout=True))`), else a pass of its own.
    A column of dates in another notation is told once (date_notations), unless `findings` tell it."""
    import openpyxl

    if not any(f.code in NOTATION_CODES for f in findings):
        findings = findings + notation_findings(findings)

    words = WORDS[lang]
    # a file over a limit is never opened again (openpyxl would read all of it): a summary only.
    # The limits bound the merged ranges too (a `<mergeCell ref="A1:XFD1048576"/>` of 30 bytes
    # is over them, checked in transforms.limits), so holding them here is bounded
    over_limit = any(f.code == "limit-exceeded" for f in findings)
    if contract.file.type != "csv" and not over_limit and (checked is None or not checked.layout):
        checked = checked_open(source_path, source_path.name, csv=False, checked=Checked(layout=True))
    if checked is not None and checked.finding is not None:
        over_limit = True  # over a limit, or a zip damaged: never opened (the findings say why)
    with _source_sheets(source_path, contract, words, over_limit, checked) as sheets:
        workbook = openpyxl.Workbook(write_only=True)
        try:
            _report_sheets(workbook, sheets, findings, lang, source_path.name, contract, delivery)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, SyntaxError, ValueError, KeyError):
            # a part damaged past what opening it read (openpyxl reads a sheet as it is asked
            # for): a summary only, as for a file that cannot be opened at all
            for sheet in workbook.worksheets:
                with suppress(Exception):  # whatever the stream's state, it is dropped
                    sheet.close()  # ends its stream of rows (else a warning at exit)
            workbook = openpyxl.Workbook(write_only=True)
            _report_sheets(workbook, [], findings, lang, source_path.name, contract, delivery)
    return _save(workbook, out_path)


def _report_sheets(workbook: Any, sheets: list[SourceSheet], findings: list[Finding], lang: Lang,
                   file_name: str, contract: SourceContract, delivery: dict | None) -> None:
    """The report's sheets into a write-only workbook (their rows streamed to temporary files):
    the summary first, then a copy of each source sheet, the data sheet's problem cells marked."""
    wanted = normalise_label(contract.file.sheet or "") if contract.file.type != "csv" else None
    data_sheet = next((s.title for s in sheets if wanted is None or normalise_label(s.title) == wanted), None)
    title = WORDS[lang]["summary"]
    if title in {s.title for s in sheets}:
        title = f"{title} (lvv)"
    summary = workbook.create_sheet(title)  # the first sheet, the one the workbook opens on
    summary.sheet_view.tabSelected = True
    _fill_summary(summary, data_sheet, findings, lang, file_name, contract, delivery)
    for sheet in sheets:
        marks = _marks(findings, sheet.merged, lang) if sheet.title == data_sheet else {}
        _copy_sheet(workbook.create_sheet(sheet.title), sheet, marks)


# ------------------------------------------------------------------ reading the source
@dataclass
class SourceSheet:
    """One sheet of the source as the copy needs it: its rows (read as they are asked for) and
    what a worksheet states outside its cells that a reader in read-only mode does not keep."""

    title: str
    rows: Iterable[Sequence[Any]]
    state: str = "visible"
    #: (first column, last column, width or None, hidden), as the part's <col> elements state them
    columns: list[tuple[int, int, float | None, bool]] = field(default_factory=list)
    merged: list[Any] = field(default_factory=list)  # openpyxl CellRange
    frozen: str | None = None  # the top-left cell of the scrolling pane


@contextmanager
def _source_sheets(path: Path, contract: SourceContract, words: dict[str, str],
                   over_limit: bool, checked: Checked | None) -> Iterator[list[SourceSheet]]:
    """The source's sheets to copy: a CSV as one sheet, a workbook's worksheets in order (hidden
    ones too), each with the layout the limits' pass noted (checked); none when the file cannot
    be opened (not a workbook, damaged, password-protected) or is over a limit."""
    import openpyxl

    if over_limit:
        yield []
        return
    if contract.file.type == "csv":
        try:
            read = csv_text(path.read_bytes(), contract)
        except (OSError, UnicodeDecodeError):
            yield []
            return
        rows = csv.reader(io.StringIO(read.text, newline=""), delimiter=read.delimiter)
        yield [SourceSheet(words["data"], ([safe_text(v) for v in cells] for cells in rows))]
        return
    try:
        with warnings.catch_warnings():  # openpyxl warns about features it drops (data validation extensions)
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True)
        layouts = checked.notes if checked is not None else {}
        sheets = [_source_sheet(ws, layouts.get(ws.title)) for ws in book.worksheets]
    except Exception:  # not a workbook, damaged, or password-protected: a summary only
        yield []
        return
    try:
        yield sheets
    finally:
        book.close()


def _source_sheet(ws: Any, layout: SheetNotes | None) -> SourceSheet:
    """One worksheet to copy: its rows as openpyxl reads them, its layout as the limits' pass
    noted it (none noted: a sheet that states none)."""
    from openpyxl.worksheet.cell_range import CellRange

    # a stated dimension may be wrong (too small: openpyxl would stop there): read every row there is
    ws.reset_dimensions()
    sheet = SourceSheet(ws.title, ws.iter_rows(min_row=1, min_col=1), ws.sheet_state)
    if layout is not None:
        sheet.columns = [(first, *rest) for first, rest in layout.columns.items()]
        sheet.merged = [CellRange(min_col=c1, min_row=r1, max_col=c2, max_row=r2) for c1, r1, c2, r2 in layout.merged]
        sheet.frozen = layout.frozen
    return sheet


# ------------------------------------------------------------------ writing the copy
def _copy_sheet(out: Any, sheet: SourceSheet, marks: dict[tuple[int, int], Any]) -> None:
    """Write `sheet` into the write-only sheet `out` a row at a time, the cells in `marks` (by row
    and column) filled and commented. Every value is kept; a cell's number format, font, border,
    alignment and protection too, not its fill (a problem cell's colour must be the only one)."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.dimensions import ColumnDimension

    out.sheet_state = sheet.state
    out.sheet_view.tabSelected = False
    for first, last, width, hidden in sheet.columns:  # before any row: the <cols> come first
        letter = get_column_letter(first)
        out.column_dimensions[letter] = ColumnDimension(out, index=letter, min=first, max=last, hidden=hidden,
                                                        **({"width": width} if width is not None else {}))
    for merged in sheet.merged:
        out.merged_cells.add(merged)
    if sheet.frozen:
        out.freeze_panes = sheet.frozen
    covered = _covered_columns(sheet.merged)
    styles: dict[tuple[int, ...], tuple] = {}
    copied = _copier(out, styles)
    marked_rows: dict[int, list[tuple[int, tuple[str, str, int]]]] = {}
    for (row, column), mark in marks.items():
        marked_rows.setdefault(row, []).append((column, mark))
    last_row = 0
    for row_number, cells in enumerate(sheet.rows, start=1):
        last_row = row_number
        values = [copied(cell) for cell in cells]
        hidden = covered(row_number)
        for column in hidden:  # a merged range shows its top-left cell; the others are empty
            if column <= len(values):
                values[column - 1] = None
        if row_number in marked_rows:
            _mark_row(out, values, cells, marked_rows[row_number], styles)
        out.append(values)
    for row_number in range(last_row + 1, max(marked_rows, default=0) + 1):  # marks past the last row
        values = []
        _mark_row(out, values, (), marked_rows.get(row_number, []), styles)
        out.append(values)


def _copier(out: Any, styles: dict[tuple[int, ...], tuple]) -> Callable[[Any], Any]:
    """source cell -> what the copy holds for it: the bare value where it has no style (the cheap
    case, most cells), else a cell with the source's style. A text that openpyxl would take for a
    formula or an error value ('=1+1' or '#N/A' typed as text) stays text; a character a workbook
    cannot hold becomes U+FFFD (safe_text). A CSV's texts (already safe_text) pass as they are."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

    def copied(cell: Any) -> Any:
        if isinstance(cell, str):
            return cell
        value = cell.value  # None for a cell missing between two (openpyxl's EmptyCell)
        if value is None:
            return None
        as_text = False
        if isinstance(value, str):
            if ILLEGAL_CHARACTERS_RE.search(value):
                value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            as_text = cell.data_type == "s" and (value[:1] == "=" or value in ERROR_CODES)
        if not as_text and not cell.has_style:
            return value
        copy = WriteOnlyCell(out, value)
        if as_text:
            copy.data_type = "s"
        if cell.has_style:
            _restyle(copy, cell, styles)
        return copy

    return copied


def _restyle(copy: Any, cell: Any, styles: dict[tuple[int, ...], tuple]) -> None:
    """The source cell's number format, and font, border, alignment and protection where they are
    not the workbook's defaults (each setter hashes its style: only where there is one)."""
    key = tuple(cell.style_array)
    style = styles.get(key)
    if style is None:
        array = cell.style_array
        style = styles[key] = (cell.number_format, cell.font if array.fontId else None,
                               cell.border if array.borderId else None,
                               cell.alignment if array.alignmentId else None,
                               cell.protection if array.protectionId else None, bool(array.quotePrefix))
    number_format, font, border, alignment, protection, quote = style
    copy.number_format = number_format
    if font is not None:
        copy.font = font
    if border is not None:
        copy.border = border
    if alignment is not None:
        copy.alignment = alignment
    if protection is not None:
        copy.protection = protection
    if quote:
        copy.quotePrefix = True


def _covered_columns(ranges: list[Any]) -> Callable[[int], list[int]]:
    """row -> the columns merged ranges cover on it other than their top-left cell, asked for the
    rows in order: a range is looked at only on the rows it spans (the limits bound their cells)."""
    pending = sorted(ranges, key=lambda m: m.min_row, reverse=True)
    active: list[Any] = []

    def covered(row: int) -> list[int]:
        nonlocal active
        while pending and pending[-1].min_row <= row:
            active.append(pending.pop())
        if not active:
            return []
        active = [m for m in active if m.max_row >= row]
        return [column for m in active for column in range(m.min_col, m.max_col + 1)
                if not (row == m.min_row and column == m.min_col)]

    return covered


# ------------------------------------------------------------------ marking the problem cells
def _marks(findings: list[Finding], merged: list[Any], lang: Lang) -> dict[tuple[int, int], tuple[str, str, int]]:
    """(row, column) -> (fill colour, comment, comment height) of each problem cell: its worst
    severity's colour and every finding on it."""
    from openpyxl.utils.cell import coordinate_to_tuple

    by_cell: dict[tuple[int, int], list[Finding]] = {}
    for f in findings:
        if f.excel_row:
            by_cell.setdefault(coordinate_to_tuple(f.cell_ref or f"A{f.excel_row}"), []).append(f)
    by_cell = _merged_to_top_left(merged, by_cell)
    fix_word = WORDS[lang]["fix_word"]
    marks = {}
    for where, found in by_cell.items():
        worst = min(found, key=lambda f: SEVERITIES.index(f.severity)).severity
        parts = []
        for f in found:
            row = f.as_row(lang)
            parts.append(f"[{f.code}, {WORDS[lang][f.severity]}] {row['message']}\n{fix_word}: {row['fix']}")
        marks[where] = (FILLS[worst], safe_text("\n\n".join(parts)), max(80, 40 * len(parts) + 40))
    return marks


def _mark_row(out: Any, values: list[Any], cells: Sequence[Any], marks: list[tuple[int, tuple[str, str, int]]],
              styles: dict[tuple[int, ...], tuple]) -> None:
    """Replace the marked cells of one row by cells filled and commented (the row padded to reach them)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    for column, (colour, text, height) in marks:
        values.extend([None] * (column - len(values)))
        value = values[column - 1]
        cell = value if hasattr(value, "comment") else WriteOnlyCell(out, value)
        if cell is not value and column <= len(cells) and hasattr(cells[column - 1], "style_array") \
                and cells[column - 1].has_style:
            _restyle(cell, cells[column - 1], styles)
        cell.fill = PatternFill(fill_type="solid", start_color=colour, end_color=colour)
        cell.comment = Comment(text, "lvv validate", height=height, width=320)
        values[column - 1] = cell


def _merged_to_top_left(merged: list[Any], by_cell: dict[tuple[int, int], list[Finding]]
                        ) -> dict[tuple[int, int], list[Finding]]:
    """The findings by cell, those on a cell inside a merged range moved to the range's top-left
    cell, the one Excel shows. Linear: each merged range is indexed under the rows it spans (the
    limits bound their cells), each finding looks among its row's ranges."""
    if not merged:
        return by_cell
    rows = {row for row, _ in by_cell}
    per_row: dict[int, list[Any]] = {}
    for m in merged:  # the fewer of the range's rows and the rows with a finding
        spanned = range(m.min_row, m.max_row + 1)
        for row in (r for r in rows if r in spanned) if len(rows) < len(spanned) else (r for r in spanned if r in rows):
            per_row.setdefault(row, []).append(m)
    moved: dict[tuple[int, int], list[Finding]] = {}
    for (row, column), found in by_cell.items():
        m = next((m for m in per_row.get(row, ()) if m.min_col <= column <= m.max_col), None)
        moved.setdefault((m.min_row, m.min_col) if m else (row, column), []).extend(found)
    return moved


# ------------------------------------------------------------------ the summary sheet
def _fill_summary(sheet: Any, data_sheet: str | None, findings: list[Finding], lang: Lang, file_name: str,
                  contract: SourceContract, delivery: dict | None) -> None:
    from openpyxl.styles import Font

    words = WORDS[lang]
    for letter, width in zip("ABCDEFGHI", (14, 26, 14, 24, 12, 22, 60, 60, 10)):
        sheet.column_dimensions[letter].width = width  # before the first row (write-only)
    bold = Font(bold=True)
    severities = Counter(f.severity for f in findings)
    period = (delivery or {}).get("period") or "-"
    sheet.append([_styled(sheet, safe_text(f"{words['title']} {file_name}"), font=Font(bold=True, size=14))])
    sheet.append([safe_text(f"{words['municipality']}: {contract.display_name}, {words['period']}: {period}, "
                            f"{words['checked']}: {date.today():%d-%m-%Y}")])
    verdict = "verdict_fatal" if severities["fatal"] else "verdict_error" if severities["error"] else "verdict_ok"
    sheet.append([_styled(sheet, words[verdict], font=bold)])
    sheet.append([])
    notes = [f.as_row(lang) for f in findings if f.code in NOTATION_CODES]
    if notes:  # each column of dates in another notation once, above the thousands of its cells
        sheet.append([_styled(sheet, words["notations"], font=bold)])
        for row in notes:
            sheet.append([safe_text(f"{row['message']} {words['fix_word']}: {row['fix']}")])
        sheet.append([])
    _table(sheet, words["per_severity"], [words["severity"], words["count"]],
           [[words[s], severities[s]] for s in SEVERITIES], bold)
    per_check = Counter(f.code for f in findings)
    first = {}
    for f in findings:
        first.setdefault(f.code, f.as_row(lang)["message"])
    checks = catalogue()
    rows = [[code, words[checks[code].severity], n, first[code]]
            for code, n in sorted(per_check.items(), key=lambda kv: (SEVERITIES.index(checks[kv[0]].severity), kv[0]))]
    _table(sheet, words["per_check"], [words["code"], words["severity"], words["count"], words["what"]],
           rows or [[words["none"]]], bold)
    _finding_list(sheet, data_sheet, findings, lang, bold)


def _styled(sheet: Any, value: Any, font: Any = None, link: str | None = None) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.worksheet.hyperlink import Hyperlink

    cell = WriteOnlyCell(sheet, value)
    if font is not None:
        cell.font = font
    if link is not None:
        cell.hyperlink = Hyperlink(ref=cell.coordinate, location=link)  # ref set again where it is written
    return cell


def _table(sheet: Any, title: str, header: list[str], rows: list[list[Any]], bold: Any) -> None:
    sheet.append([_styled(sheet, title, font=bold)])
    sheet.append([_styled(sheet, h, font=bold) for h in header])
    for row in rows:
        sheet.append([safe_text(v) for v in row])
    sheet.append([])


def _finding_list(sheet: Any, data_sheet: str | None, findings: list[Finding], lang: Lang, bold: Any) -> None:
    """One row per finding, worst first; the cell reference links to the marked cell."""
    from openpyxl.styles import Font
    from openpyxl.utils import quote_sheetname

    words = WORDS[lang]
    link_font = Font(color="0563C1", underline="single")
    sheet.append([_styled(sheet, words["all"], font=bold)])
    sheet.append([_styled(sheet, h, font=bold) for h in (
        words["cell"], words["code"], words["severity"], words["column"], words["row"], words["value"],
        words["message"], words["fix"])])
    ordered = sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.excel_row or 0, f.column_letter))
    for f in ordered:
        row = f.as_row(lang)
        ref = f.cell_ref or (f"A{f.excel_row}" if f.excel_row else "")
        column = f"{f.column_letter} ({f.column_header})" if f.column_letter else ""
        values = [safe_text(v) for v in (ref or None, f.code, words[f.severity], column, f.excel_row,
                                         f.value, row["message"], row["fix"])]
        if ref and data_sheet:
            values[0] = _styled(sheet, values[0], font=link_font, link=f"{quote_sheetname(data_sheet)}!{ref}")
        sheet.append(values)


def _save(workbook: Any, out_path: Path) -> Path:
    """Save beside the target under a temporary name, then rename over it."""
    return replace_file(out_path, workbook.save)


__all__ = ["FILLS", "safe_text", "write_steward_report"]


# ------------------------------------------------------------------ the guide's table of checks
LEVELS = {"file": "Bestand (file)", "field": "Veld (field)", "record": "Verblijf (record)",
          "revision": "Tussen leveringen (revision)", "correction": "Correcties (corrections)",
          "row": "Rijen die geen gegevens zijn (rows)"}
GUIDE_MARKERS = ("<!-- checks:begin (generated from schemas/checks.yaml; do not edit by hand) -->",
                 "<!-- checks:end -->")


def checks_guide_table() -> str:
    """The guide's table of every check, per level, generated from schemas/checks.yaml."""
    lines: list[str] = []
    checks = list(catalogue().values())
    for level, title in LEVELS.items():
        lines += ["", f"#### {title}", "", "| code | ernst | voorbeeld | melding | wat te doen |",
                  "|---|---|---|---|---|"]
        for check in (c for c in checks if c.level == level):
            cells = [f"`{check.code}`", WORDS["nl"][check.severity], check.example, check.nl, check.fix_nl]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines[1:])


def write_guide_tables(guide: Path) -> bool:
    """Replace the generated section of the guide; True when it changed."""
    text = guide.read_text(encoding="utf-8")
    begin, end = GUIDE_MARKERS
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{begin}\n{checks_guide_table()}\n{end}{tail}"
    replace_file(guide, new)
    return new != text


if __name__ == "__main__":  # .venv/bin/python -m transforms.steward_report  (regenerates the guide's table)
    target = Path(__file__).resolve().parents[1] / "docs" / "steward-guide.md"
    print(f"{target}: {'updated' if write_guide_tables(target) else 'already current'}")

