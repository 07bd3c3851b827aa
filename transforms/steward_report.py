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
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from schemas.checks import Finding, Lang, catalogue
from schemas.contracts import SourceContract, normalise_label
from transforms.files import replace_file
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
           "verdict_ok": "Het bestand kan worden geleverd."},
    "en": {"summary": "Summary", "data": "Data", "title": "Check of", "municipality": "municipality",
           "period": "period", "checked": "checked on", "per_severity": "Per severity",
           "per_check": "Per check", "all": "All findings", "count": "count", "severity": "severity",
           "code": "code", "cell": "cell", "row": "row", "column": "column", "value": "value in the file",
           "message": "message", "fix": "what to do", "what": "first message", "none": "No findings.",
           "fatal": "unusable", "error": "error", "warning": "warning", "info": "info",
           "verdict_fatal": "The file cannot be used; the previous delivery stays in force.",
           "verdict_error": "The file has errors: rows with an error are quarantined.",
           "verdict_ok": "The file can be delivered."},
}


def write_steward_report(source_path: Path, contract: SourceContract, findings: list[Finding],
                         out_path: Path, lang: Lang = "nl", delivery: dict | None = None) -> Path:
    """Write the annotated copy of `source_path` to `out_path` (replaced whole) and return it."""
    import openpyxl

    words = WORDS[lang]
    # a file over a limit is never opened again (openpyxl would load all of it): a summary only.
    # The limits bound the merged ranges too (openpyxl makes an object of every merged cell): a
    # `<mergeCell ref="A1:XFD1048576"/>` of 30 bytes is over them, checked in transforms.limits
    over_limit = any(f.code == "limit-exceeded" for f in findings)
    workbook, data_sheet = (None, None) if over_limit else _copy_of_source(source_path, contract, words)
    if workbook is None:
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
    if data_sheet is not None:
        _annotate(workbook[data_sheet], findings, lang)
    summary = _summary_sheet(workbook, words)
    _fill_summary(summary, data_sheet, findings, lang, source_path.name, contract, delivery)
    return _save(workbook, out_path)


# ------------------------------------------------------------------ the copy of the source
def _copy_of_source(path: Path, contract: SourceContract, words: dict[str, str]) -> tuple[Any, str | None]:
    """(workbook, name of the data sheet): the source itself, or a CSV turned into a workbook.
    (None, None) when the file cannot be opened at all."""
    import openpyxl

    if contract.file.type == "csv":
        grid = _csv_grid(path, contract)
        if grid is None:
            return None, None
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = words["data"]
        for cells in grid:
            sheet.append([safe_text(v) for v in cells])
        return workbook, sheet.title
    try:
        with warnings.catch_warnings():  # openpyxl warns about features it drops (data validation extensions)
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(path)
    except Exception:  # not a workbook, damaged, or password-protected: a summary only
        return None, None
    wanted = normalise_label(contract.file.sheet or "")
    match = next((n for n in workbook.sheetnames if normalise_label(n) == wanted), None)
    return workbook, match


def _csv_grid(path: Path, contract: SourceContract) -> list[list[str]] | None:
    try:
        text = csv_text(path.read_bytes(), contract.file.encoding)
    except (OSError, UnicodeDecodeError):
        return None
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=contract.file.delimiter))


# ------------------------------------------------------------------ marking the problem cells
def _annotate(sheet: Any, findings: list[Finding], lang: Lang) -> None:
    """Fill each problem cell in its worst severity's colour and comment every finding on it."""
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    by_cell: dict[str, list[Finding]] = {}
    for f in findings:
        if f.excel_row:
            by_cell.setdefault(f.cell_ref or f"A{f.excel_row}", []).append(f)
    by_cell = _merged_to_top_left(sheet, by_cell)
    fix_word = "Wat te doen" if lang == "nl" else "What to do"
    for ref, found in by_cell.items():
        worst = min(found, key=lambda f: SEVERITIES.index(f.severity)).severity
        cell = sheet[ref]
        colour = FILLS[worst]
        cell.fill = PatternFill(fill_type="solid", start_color=colour, end_color=colour)
        parts = []
        for f in found:
            row = f.as_row(lang)
            parts.append(f"[{f.code}, {WORDS[lang][f.severity]}] {row['message']}\n{fix_word}: {row['fix']}")
        text = safe_text("\n\n".join(parts))
        if cell.comment is not None:
            text = f"{cell.comment.text}\n\n{text}"
        cell.comment = Comment(text, "lvv validate", height=max(80, 40 * len(parts) + 40), width=320)


def _merged_to_top_left(sheet: Any, by_cell: dict[str, list[Finding]]) -> dict[str, list[Finding]]:
    """The findings by cell, those on a cell inside a merged range moved to the range's top-left
    cell, the one Excel shows (openpyxl refuses a fill or comment on the others). Linear: each
    merged range is indexed under the rows it spans, each finding looks among its row's ranges."""
    from openpyxl.cell.cell import MergedCell
    from openpyxl.utils.cell import coordinate_to_tuple

    inside = [ref for ref in by_cell if isinstance(sheet[ref], MergedCell)]
    if not inside:
        return by_cell
    per_row: dict[int, list[Any]] = {}
    for merged in sheet.merged_cells.ranges:
        for row in range(merged.min_row, merged.max_row + 1):
            per_row.setdefault(row, []).append(merged)
    moved = {ref: found for ref, found in by_cell.items() if ref not in inside}
    for ref in inside:
        row, column = coordinate_to_tuple(ref)
        merged = next(m for m in per_row.get(row, ()) if m.min_col <= column <= m.max_col)
        moved.setdefault(merged.start_cell.coordinate, []).extend(by_cell[ref])
    return moved


# ------------------------------------------------------------------ the summary sheet
def _summary_sheet(workbook: Any, words: dict[str, str]) -> Any:
    """A new first sheet, the one the workbook opens on."""
    title = words["summary"]
    if title in workbook.sheetnames:
        title = f"{title} (lvv)"
    summary = workbook.create_sheet(title, 0)
    for sheet in workbook.worksheets:
        sheet.sheet_view.tabSelected = sheet is summary
    workbook.active = 0
    return summary


def _fill_summary(sheet: Any, data_sheet: str | None, findings: list[Finding], lang: Lang, file_name: str,
                  contract: SourceContract, delivery: dict | None) -> None:
    from openpyxl.styles import Font

    words = WORDS[lang]
    bold = Font(bold=True)
    severities = Counter(f.severity for f in findings)
    period = (delivery or {}).get("period") or "-"
    sheet.append([safe_text(f"{words['title']} {file_name}")])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([safe_text(f"{words['municipality']}: {contract.display_name}, {words['period']}: {period}, "
                            f"{words['checked']}: {date.today():%d-%m-%Y}")])
    verdict = "verdict_fatal" if severities["fatal"] else "verdict_error" if severities["error"] else "verdict_ok"
    sheet.append([words[verdict]])
    sheet["A3"].font = bold
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
    for letter, width in zip("ABCDEFGHI", (14, 26, 14, 24, 12, 22, 60, 60, 10)):
        sheet.column_dimensions[letter].width = width


def _table(sheet: Any, title: str, header: list[str], rows: list[list[Any]], bold: Any) -> None:
    sheet.append([title])
    sheet.cell(sheet.max_row, 1).font = bold
    sheet.append(header)
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    for row in rows:
        sheet.append([safe_text(v) for v in row])
    sheet.append([])


def _finding_list(sheet: Any, data_sheet: str | None, findings: list[Finding], lang: Lang, bold: Any) -> None:
    """One row per finding, worst first; the cell reference links to the marked cell."""
    from openpyxl.styles import Font
    from openpyxl.utils import quote_sheetname
    from openpyxl.worksheet.hyperlink import Hyperlink

    words = WORDS[lang]
    link_font = Font(color="0563C1", underline="single")
    sheet.append([words["all"]])
    sheet.cell(sheet.max_row, 1).font = bold
    sheet.append([words["cell"], words["code"], words["severity"], words["column"], words["row"],
                  words["value"], words["message"], words["fix"]])
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    ordered = sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.excel_row or 0, f.column_letter))
    for f in ordered:
        row = f.as_row(lang)
        ref = f.cell_ref or (f"A{f.excel_row}" if f.excel_row else "")
        column = f"{f.column_letter} ({f.column_header})" if f.column_letter else ""
        sheet.append([safe_text(v) for v in (ref or None, f.code, words[f.severity], column, f.excel_row,
                                              f.value, row["message"], row["fix"])])
        if ref and data_sheet:
            cell = sheet.cell(sheet.max_row, 1)
            cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"{quote_sheetname(data_sheet)}!{ref}")
            cell.font = link_font


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


def _folders(raw_dir: Path) -> list[Path]:
    try:
        return [folder for folder in raw_dir.iterdir() if folder.is_dir()]
    except OSError:
        return []


#: line numbers named per corrections file on the terminal (the rest are counted)
LINES_SHOWN = 10


def lines_not_applied(database: Path, raw_dir: Path) -> list[str]:
    """Per corrections file with lines that are not applied, as the published release found them
    (a correction finding of severity fatal or error in its validation_issues): one phrase with
    the file, the count and the first LINES_SHOWN line numbers, and where the reasons are. Empty
    when there is none, or no release to read. One query over the release's findings: the same
    every run until the file is fixed (the corrections files are part of the release's inputs).
    Asked only when raw_dir holds a corrections file: the query costs 0.05-0.14 CPU s (DuckDB
    opened), which a run with nothing new and no corrections file need not pay."""
    import duckdb

    from transforms.corrections import corrections_path

    if not database.is_file() or not any(
            corrections_path(raw_dir, folder.name) for folder in _folders(raw_dir)):
        return []
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.execute("""
                select file, delivery_id, list(distinct excel_row order by excel_row) filter (excel_row is not null),
                    count(*) filter (excel_row is null) > 0
                from validation_issues
                where level = 'correction' and severity in ('fatal', 'error')
                group by file, delivery_id order by file
            """).fetchall()
    except duckdb.Error:  # a damaged release: the run repairs it and says so
        return []
    phrases = []
    for file, delivery_id, lines, whole in rows:
        where = f"the reasons in validation_issues under {delivery_id}"
        if whole:
            phrases.append(f"corrections not applied: {file} cannot be read, no line of it applied ({where})")
            continue
        shown = ", ".join(map(str, lines[:LINES_SHOWN])) + (", ..." if len(lines) > LINES_SHOWN else "")
        phrases.append(f"corrections not applied: {len(lines)} line{'s' if len(lines) != 1 else ''} of {file} "
                       f"(line{'s' if len(lines) != 1 else ''} {shown}; {where})")
    return phrases


def waiting_for_steward(run_record: dict, staged: Path, database: Path | None = None,
                        raw_dir: Path | None = None) -> list[str]:
    """What a finished run leaves for a steward, one phrase each (none: everything is in force and
    published): the flow's final state is named `Needs steward` and `lvv run` exits 1 when there is
    any. A held delivery counts until it is released or a later delivery of its municipality is in
    force, so every run says so, not only the one that held it; a rejected delivery counts while
    its raw file is still in data/raw unchanged (a file fixed is processed again, a file removed
    takes its record with it) and, where it has a period, no later delivery of its municipality is
    in force, every run, with the file named; lines of a corrections file not
    applied count while the release (database) says so and raw_dir holds a corrections file.
    Quarantined rows do not count (their delivery is in force, the report lists them)."""
    from transforms.gate import HELD, with_gate_status
    from transforms.store import load_records

    waiting = []
    if run_record["status"] == "awaiting-acceptance":
        waiting.append("the new release awaits acceptance (`lvv run --accept-revisions`)")
    records = load_records(staged)
    # as a held delivery: a rejection with a later delivery of its municipality in force no longer
    # waits (each delivery is a whole snapshot, so the later one holds everything it would have); a
    # rejection without a period (a folder not named YYYY-MM) waits until it is fixed or removed
    in_force: dict[str, str] = {}
    for r in records:
        if r.get("status") == "accepted":
            in_force[r["municipality"]] = max(in_force.get(r["municipality"], ""), r.get("period") or "")
    rejected = [f"{r['delivery_id']} ({r['file']})" if r.get("file") else r["delivery_id"]
                for r in records if r.get("status") == "rejected"
                and not (r.get("period") and in_force.get(r["municipality"], "") > r["period"])]
    if rejected:
        waiting.append(f"rejected whole, nothing of it in force: {', '.join(rejected)} (fix or remove the file)")
    held = [r["delivery_id"] for r in with_gate_status(records) if r.get("status") == HELD]
    if held:
        waiting.append(f"held, not in force: {', '.join(held)} (`lvv deliveries list --held`)")
    if database is not None and raw_dir is not None:
        waiting += lines_not_applied(database, raw_dir)
    return waiting
