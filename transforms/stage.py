"""Standardise one delivery: contract columns to canonical fields, every cell parsed, then validated.

`parse_rows` reads each data row's cells into typed values (plain Python) with the findings of
parsing; `parse_columns` does the same column by column (each distinct cell parsed once, only the
rows with a finding parsed row by row), which is what `stage_rows` and `stage_many` use to build
a typed StagedEpisodes frame (tests/test_stage_columns.py holds the two to the same result);
`validate_staged` runs the pandera contract lazily and turns its failure cases into located
findings. `row_findings` is the same contract row by row without pandas, for `lvv validate`,
which must answer a steward in a second or two from a cold start (importing pandas and pandera
alone takes longer than that on a small machine). Both apply the one set of row rules in schemas/row_rules.py and locate a broken
rule with the one `rule_findings`; tests/test_checks.py holds the two paths to the same findings.
Rows with an error-severity finding are quarantined by the caller, never dropped.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from itertools import chain, compress
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from schemas.checks import Finding
from schemas.contracts import DATE_FIELDS, DROPPED_IDENTIFIERS, SourceContract, normalise_label
from schemas.row_rules import PERSON_ID_PATTERN, ROW_RULES, before
from schemas.taxonomy import DEFAULT_FOLLOW_UP, OUTCOMES_WITH_FOLLOW_UP
from transforms.date_notations import written_in
from transforms.read import RawSheet, column_letter
from transforms.scrub import RowScrubber
from transforms.values import (EXCEL_EPOCH, SERIAL_RANGE, Unparseable, fixed_width, as_text, is_blank,
                              normalise_person_id, notation, parse_date_value, parse_identifier)

if TYPE_CHECKING:
    import pandas as pd

FIELD_LABELS_NL = {"intake_date": "instroomdatum", "exit_date": "uitstroomdatum", "birth_date": "geboortedatum"}
IDENTIFIER_FIELDS = ("person_id", "record_id", *DROPPED_IDENTIFIERS)


@dataclass
class Staged:
    """One delivery after parsing: typed rows (index = sheet row), findings, skipped rows.

    The raw text of rows (for the quarantine) is built on demand with `raw_text_for`, for the
    few rows that need it: pseudonymising every identifier cell of a big sheet up front is slow.
    """

    frame: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    raw: RawSheet | None = None
    hide: Any = None
    #: the parsed records the frame was built from (plain Python, for record-level checks)
    records: list[dict[str, Any]] | None = None

    def raw_text_for(self, rows: Any = None) -> pd.DataFrame:
        """The contract cells as text of the given sheet rows (all data rows when None)."""
        import pandas as pd

        if self.raw is None:
            return pd.DataFrame()
        return _raw_text(self.raw, self.skipped_rows, self.hide, rows)

    @property
    def raw_text(self) -> pd.DataFrame:
        return self.raw_text_for(None)


def row_scrubber(raw: RawSheet) -> RowScrubber:
    """Scrubs text kept from a row of `raw` of that row's own identifiers (transforms/scrub.py)."""
    positions = [raw.positions[f] for f in IDENTIFIER_FIELDS if f in raw.positions]
    birth = raw.positions.get("birth_date")
    formats = ("%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d%m%Y")

    def identifiers(excel_row: int) -> list[Any]:
        index = raw.row_index().get(excel_row)
        if index is None:
            return []
        cells = [raw.rows[index][i] for i in positions]
        if birth is not None:  # the birth date as a date too, whatever way the cell holds it
            day = parse_date_value(raw.rows[index][birth], formats)
            if isinstance(day, date):
                cells.append(day)
        return cells

    return RowScrubber(identifiers)


class Locator:
    """Builds findings located in one sheet, hiding identifier values behind a pseudonym and
    scrubbing every other value kept of the row's identifiers."""

    def __init__(self, raw: RawSheet, hide: Any = None):
        self.raw = raw
        self.hide = hide
        self.scrubber = row_scrubber(raw)

    def finding(self, code: str, excel_row: int | None, field_name: str = "", value: Any = None,
                **params: Any) -> Finding:
        position = self.raw.positions.get(field_name)
        text = as_text(value)
        if field_name in IDENTIFIER_FIELDS and text:
            text = self.hide(text) if self.hide else "(verborgen)"
        else:
            text = self.scrubber.scrub(text, excel_row)
        return Finding(
            code, file=self.raw.file, sheet=self.raw.sheet, excel_row=excel_row,
            column_letter=column_letter(position) if position is not None else "",
            column_header=self.raw.headers[position] if position is not None else "",
            field=field_name, value=text, params=params,
        )


def is_not_data(cells: list[Any], contract: SourceContract, pattern: re.Pattern | None = None) -> str | None:
    """The first cell's text when the row is a totals or notes line, else None.

    pattern: the contract's not-data patterns as one compiled expression (ParseMemo.not_data).
    """
    first = next((c for c in cells if not is_blank(c)), None)
    if first is None:
        return None
    pattern = _not_data_pattern(contract) if pattern is None else pattern
    if pattern is None:
        return None
    return as_text(first) if pattern.search(str(first).strip().casefold()) else None


def _not_data_pattern(contract: SourceContract) -> re.Pattern | None:
    patterns = contract.not_data_patterns
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE) if patterns else None


class ParseMemo:
    """One contract's vocabularies, and each distinct row of a batch parsed once (see parse_rows).

    A monthly register repeats nearly every row of the month before, so a batch of deliveries
    of one municipality shares one memo.
    """

    def __init__(self, contract: SourceContract):
        self.formats = contract.dates.formats
        #: the accepted notations in a steward's words, as each date-unparseable finding names them
        self.accepted = notation(self.formats)
        #: field -> its column's name as the contract matches headers (a repeated header row's cells)
        self.header_labels = {f: normalise_label(name) for f, name in contract.columns.items()}
        #: (date field, a text of its cell) -> whether it is the column's name (repeats_header)
        self.header_cells: dict[tuple[str, str], bool] = {}
        self.outcomes = contract.outcome_lookup()
        self.follow_ups = contract.follow_up_lookup()
        self.not_data = _not_data_pattern(contract)
        #: per sheet layout: a row's cells (and their types) -> its parse
        self.rows: dict[tuple, dict[tuple, tuple[dict[str, Any] | None, RowIssues]]] = {}
        #: per field and cell type (None: mixed types, keyed by type and value): a cell -> its parse
        #: (parse_columns)
        self.cells: dict[tuple[str, type | None], dict[Any, tuple]] = {}


@dataclass
class Parsed:
    """A delivery's data rows as typed records (plain Python), the findings of parsing, skipped rows."""

    records: list[dict[str, Any]]
    findings: list[Finding]
    skipped_rows: list[int]


def stage_rows(raw: RawSheet, contract: SourceContract, stand_per: date, hide: Any = None) -> Staged:
    """Parse every data row of a delivery into a typed frame, recording each cell that fails."""
    return stage_many([(raw, stand_per)], contract, hide).parts[0]


@dataclass
class StagedBatch:
    """Several deliveries of one municipality staged together, to be validated in one pandera call.

    frame: every delivery's typed rows in one StagedEpisodes frame (columns `delivery`, the
    position in `parts`, and `excel_row`); parts: each delivery's own Staged (index = sheet row).
    """

    frame: pd.DataFrame
    parts: list[Staged]


def stage_many(sheets: list[tuple[RawSheet, date]], contract: SourceContract, hide: Any = None,
               memo: ParseMemo | None = None) -> StagedBatch:
    """Parse the data rows of several deliveries (sheet, stand-per date) of one contract."""
    memo = memo or ParseMemo(contract)
    parsed = [parse_columns(raw, contract, hide, memo) for raw, _ in sheets]
    frame = _typed_frame([(p.columns, stand_per) for p, (_, stand_per) in zip(parsed, sheets)])
    # each delivery's rows are one contiguous run of the batch: its part is a slice of one frame
    by_row = frame.drop(columns="delivery").set_index("excel_row")
    parts, start = [], 0
    for p, (raw, _) in zip(parsed, sheets):
        end = start + len(p.columns["excel_row"])
        parts.append(Staged(by_row.iloc[start:end], p.findings, p.skipped_rows, raw, hide))
        start = end
    return StagedBatch(frame, parts)


def parse_rows(raw: RawSheet, contract: SourceContract, hide: Any = None, memo: ParseMemo | None = None) -> Parsed:
    """Parse every data row of a delivery into typed fields, recording each cell that fails.

    A row whose cells are exactly those of a row already parsed with the same layout (the same
    memo) takes that parse and its findings, located at its own sheet row.
    """
    memo = memo or ParseMemo(contract)
    loc = Locator(raw, hide)
    findings = list(raw.findings)
    skipped: list[int] = []
    records: list[dict[str, Any]] = []
    layout = tuple(raw.positions.items())
    seen = memo.rows.setdefault(layout, {})
    for cells, excel_row in zip(raw.rows, raw.excel_rows):
        rec = _row_findings(cells, excel_row, layout, contract, memo, seen, loc, findings)
        if rec is None:
            skipped.append(excel_row)
        else:
            records.append({"excel_row": excel_row, **rec})
    normalised = sum(1 for rec in records if rec["person_id_normalised"])
    if normalised:  # one finding per delivery, never the values: they are identifiers
        findings.append(loc.finding("person-id-normalised", None, "person_id", None, count=normalised))
    return Parsed(records, findings, skipped)


def _row_findings(cells: list[Any], excel_row: int, layout: tuple[tuple[str, int], ...], contract: SourceContract,
                  memo: ParseMemo, seen: dict, loc: Locator, findings: list[Finding]) -> dict[str, Any] | None:
    """One row's typed fields (None: a totals or notes line); its parsing issues, located at
    its own sheet row, are added to findings. A row already parsed (same cells, same types) is
    taken from `seen`."""
    try:
        # with the cells' types: 1, 1.0 and True are equal but are different cells
        key: tuple | None = (tuple(cells), tuple(c.__class__ for c in cells))
        parsed = seen.get(key)
    except TypeError:  # an unhashable cell: parse without the memo
        key, parsed = None, None
    if parsed is None:
        parsed = _parse_row(cells, layout, contract, memo)
        if key is not None:
            seen[key] = parsed
    rec, issues = parsed
    for code, field_name, value, params in issues:
        findings.append(loc.finding(code, excel_row, field_name, value, **params))
    return rec


@dataclass
class ParsedColumns:
    """A delivery's data rows parsed column by column (parse_columns): one list per typed field,
    rows in sheet order without the totals and notes lines; the findings of parsing; skipped rows.

    columns: excel_row, record_id, person_id, intake_days and exit_days (days since 1970,
    _NO_DAY for none), outcome_code, follow_up_code, has_outcome_label, has_follow_up_label,
    has_exit_value, person_id_normalised.
    """

    columns: dict[str, list[Any]]
    findings: list[Finding]
    skipped_rows: list[int]


def parse_columns(raw: RawSheet, contract: SourceContract, hide: Any = None,
                  memo: ParseMemo | None = None) -> ParsedColumns:
    """parse_rows column by column: the same typed fields and the same findings, in the same order.

    Each field's cells are parsed with the same functions as parse_rows, once per distinct cell
    (its type and value) of the memo's batch, and put back in place by a lookup; only the rows
    with a finding (a cell that fails, a totals line, an intake before the pilot) go through
    parse_rows' row by row parse, which says what the findings are and in which order.
    """
    # imported here, not at the top: `lvv validate` imports this module (parse_rows, row_findings)
    # and must stay free of numpy and pandas to answer a steward from a cold start in a second or two
    import numpy as np

    memo = memo or ParseMemo(contract)
    rows, n = raw.rows, len(raw.rows)
    try:
        parsed = {f: _parse_column(f, list(map(itemgetter(raw.positions[f]), rows)) if f in raw.positions
                                   else [None] * n, contract, memo)
                  for f in _CELL_PARSERS}
    except TypeError:  # an unhashable cell: row by row
        return _as_columns(parse_rows(raw, contract, hide, memo))
    rid, rid_bad = parsed["record_id"]
    pid, normalised, pid_bad = parsed["person_id"]
    intake, intake_bad = parsed["intake_date"]
    exit_, has_exit, exit_bad = parsed["exit_date"]
    outcome, implied, has_outcome, outcome_bad = parsed["outcome"]
    follow, has_follow, follow_bad = parsed["follow_up"]
    bad = np.zeros(n, dtype=bool)
    for flags in (rid_bad, pid_bad, intake_bad, exit_bad, outcome_bad, follow_bad):
        bad |= np.array(flags, dtype=bool)
    if memo.not_data is not None:
        bad |= np.array(_not_data_rows(rows, contract, memo.not_data), dtype=bool)
    loc = Locator(raw, hide)
    findings = list(raw.findings)
    skipped: list[int] = []
    layout = tuple(raw.positions.items())
    seen = memo.rows.setdefault(layout, {})
    for i in np.flatnonzero(bad).tolist():
        if _row_findings(rows[i], raw.excel_rows[i], layout, contract, memo, seen, loc, findings) is None:
            skipped.append(i)
    follow = [f if f is not None else (DEFAULT_FOLLOW_UP if i is None and o in OUTCOMES_WITH_FOLLOW_UP else i)
              for f, i, o in zip(follow, implied, outcome)]
    columns = {"excel_row": raw.excel_rows, "record_id": rid, "person_id": pid, "intake_days": intake,
               "exit_days": exit_, "outcome_code": outcome, "follow_up_code": follow,
               "has_outcome_label": has_outcome, "has_follow_up_label": has_follow, "has_exit_value": has_exit,
               "person_id_normalised": normalised}
    if skipped:
        keep = np.ones(n, dtype=bool)
        keep[skipped] = False
        columns = {name: list(compress(values, keep.tolist())) for name, values in columns.items()}
    normalised_count = sum(columns["person_id_normalised"])
    if normalised_count:  # one finding per delivery, never the values: they are identifiers
        findings.append(loc.finding("person-id-normalised", None, "person_id", None, count=normalised_count))
    return ParsedColumns(columns, findings, [raw.excel_rows[i] for i in skipped])


def _parse_column(field_name: str, values: list[Any], contract: SourceContract,
                  memo: ParseMemo) -> list[list[Any]]:
    """One field's cells parsed, each distinct cell once per memo: one list per part of the
    parse, the last one whether the cell makes a finding for its row.

    The cells not parsed before (a month's new identifiers: all of a delivery's in a new
    process) are parsed in one call of the field's _COLUMN_PARSERS, not one call each."""
    types = set(map(type, values))
    types.discard(_NONE)  # None equals no cell of another type: it needs no type in its key
    if len(types) <= 1:  # one type (the usual column, blanks aside): the cells themselves are the keys
        known = memo.cells.setdefault((field_name, types.pop() if types else _NONE), {})
        keys: list[Any] = values
    else:  # with the cells' types: 1, 1.0 and True are equal but are different cells
        known = memo.cells.setdefault((field_name, None), {})
        keys = list(zip(map(type, values), values))
    found = list(map(known.get, keys))
    if None in found:  # the cells not parsed before: a month adds a few to the last one's
        new = list(dict.fromkeys([key for key, hit in zip(keys, found) if hit is None]))
        cells = new if keys is values else [value for _, value in new]
        known.update(zip(new, _COLUMN_PARSERS[field_name](cells, contract, memo)))
        found = list(map(known.__getitem__, keys))
    if not found:
        return [[] for _ in range(_CELL_PARTS[field_name])]
    return list(map(list, zip(*found)))


_NONE = type(None)


def _not_data_rows(rows: list[list[Any]], contract: SourceContract, pattern: re.Pattern) -> list[bool]:
    """Whether each row is a totals or notes line (is_not_data, with the first cell filled as the
    usual case taken first)."""
    search = pattern.search
    # a filled first cell is the one is_not_data looks at: its text (a number's or a date's too)
    texts = [first.strip() if first.__class__ is str else "" if first is None or first != first else str(first).strip()
             for first in map(itemgetter(0), rows)]
    return [search(text.casefold()) is not None if text else is_not_data(cells, contract, pattern) is not None
            for text, cells in zip(texts, rows)]


def _record_id_cell(value: Any, contract: SourceContract, memo: ParseMemo) -> tuple[str | None, bool]:
    rid = contract.record_ids.normalise(parse_identifier(value))
    return rid, rid is None


def _person_id_cell(value: Any, contract: SourceContract, memo: ParseMemo) -> tuple[str | None, bool, bool]:
    pid, normalised = normalise_person_id(value)
    return pid, normalised, pid is None


def _intake_cell(value: Any, contract: SourceContract, memo: ParseMemo) -> tuple[int, bool]:
    """Days since 1970 (_NO_DAY: none) and whether it makes a finding (unparseable, missing,
    before the pilot)."""
    day = parse_date_value(value, memo.formats)
    if day is None or isinstance(day, Unparseable):
        return _NO_DAY, True
    return day.toordinal() - _EPOCH_ORDINAL, day < contract.pilot_start


def _exit_cell(value: Any, contract: SourceContract, memo: ParseMemo) -> tuple[int, bool, bool]:
    """Days since 1970 (_NO_DAY: none), whether the cell holds anything, whether it is unparseable."""
    day = parse_date_value(value, memo.formats)
    if day is None or isinstance(day, Unparseable):
        return _NO_DAY, day is not None, day is not None
    return day.toordinal() - _EPOCH_ORDINAL, True, False


def _outcome_cell(value: Any, contract: SourceContract, memo: ParseMemo) -> tuple[str | None, str | None, bool, bool]:
    """Outcome code, the follow-up its label implies, whether there is a label, whether it is unknown."""
    if is_blank(value):
        return None, None, False, False
    hit = memo.outcomes.get(contract.label_key(value))
    return (None, None, True, True) if hit is None else (*hit, True, False)


def _follow_up_cell(value: Any, contract: SourceContract, memo: ParseMemo) -> tuple[str | None, bool, bool]:
    """Follow-up code, whether there is a label, whether it is unknown."""
    if is_blank(value):
        return None, False, False
    code = memo.follow_ups.get(contract.label_key(value))
    return code, True, code is None


def _record_id_cells(values: list[Any], contract: SourceContract, memo: ParseMemo) -> list[tuple]:
    """_record_id_cell of each cell; a text cell without parse_identifier's steps for other types."""
    rules = contract.record_ids
    normalise = rules.normalise
    # the usual rules (trim, case kept, no prefix) leave a stripped ASCII text as it is
    plain = rules.trim and rules.case == "keep" and not rules.strip_prefix
    out = []
    for value in values:
        if value.__class__ is str:  # parse_identifier of a text cell: the text stripped, None if blank
            text = value.strip()
            rid = (text or None) if plain and text.isascii() else normalise(text or None)
            out.append((rid, rid is None))
        else:
            out.append(_record_id_cell(value, contract, memo))
    return out


def _person_id_cells(values: list[Any], contract: SourceContract, memo: ParseMemo) -> list[tuple]:
    """_person_id_cell of each cell; ten ASCII digits (the usual V-number) stand as they are."""
    return [(value, False, False) if value.__class__ is str and len(value) == 10 and value.isdigit()
            and value.isascii() else _person_id_cell(value, contract, memo) for value in values]


def _days(values: list[Any], memo: ParseMemo) -> list[int | None]:
    """Each cell's day (days since 1970) where it is one of the usual date cells, else None (the
    cell takes parse_date_value): a date cell; an Excel serial number cell (a float) in
    SERIAL_RANGE; text written in the contract's first notation at full width (fixed_width), a
    date that exists. parse_date_value gives these the same day (tests/test_stage_columns.py)."""
    fixed = fixed_width(memo.formats[0]) if memo.formats else None
    # a notation of digits alone ('%Y%m%d') writes texts that parse_date_value may take for an
    # Excel serial first ('00020101'); one with a separator never does: a text _DIGITS takes has at
    # most a '.' with zeros after it, a day, month or year 0 that is no date
    match = fixed.fullmatch if fixed is not None and re.sub("%[dmY]", "", memo.formats[0]) else None
    low, high = SERIAL_RANGE
    out: list[int | None] = []
    for value in values:
        kind = value.__class__
        if kind is date:
            out.append(value.toordinal() - _EPOCH_ORDINAL)
        elif kind is float and low <= value <= high and value.is_integer():
            out.append(_SERIAL_ORDINAL + int(value) - _EPOCH_ORDINAL)
        elif kind is str and match is not None and (found := match(value)) is not None:
            try:
                out.append(date(int(found["Y"]), int(found["m"]), int(found["d"])).toordinal() - _EPOCH_ORDINAL)
            except ValueError:  # 31-02-2020: parse_date_value tries strptime and the other notations
                out.append(None)
        else:
            out.append(None)
    return out


def _intake_cells(values: list[Any], contract: SourceContract, memo: ParseMemo) -> list[tuple]:
    """_intake_cell of each cell, the usual ones by _days."""
    pilot = contract.pilot_start.toordinal() - _EPOCH_ORDINAL
    return [(day, day < pilot) if day is not None else _intake_cell(value, contract, memo)
            for value, day in zip(values, _days(values, memo))]


def _exit_cells(values: list[Any], contract: SourceContract, memo: ParseMemo) -> list[tuple]:
    """_exit_cell of each cell, the usual ones by _days."""
    return [(day, True, False) if day is not None else _exit_cell(value, contract, memo)
            for value, day in zip(values, _days(values, memo))]


def _each_cell(parse: Any) -> Any:
    """A cell parser as a column parser: parse(cell) of each cell."""
    def column(values: list[Any], contract: SourceContract, memo: ParseMemo) -> list[tuple]:
        return [parse(value, contract, memo) for value in values]
    return column


#: field -> its cell parser for parse_columns, each the same steps as _parse_row's for that field
_CELL_PARSERS = {"record_id": _record_id_cell, "person_id": _person_id_cell, "intake_date": _intake_cell,
                 "exit_date": _exit_cell, "outcome": _outcome_cell, "follow_up": _follow_up_cell}
#: field -> the same parse of a list of distinct cells, in one call (parse_columns' new cells)
_COLUMN_PARSERS = {"record_id": _record_id_cells, "person_id": _person_id_cells, "intake_date": _intake_cells,
                   "exit_date": _exit_cells, "outcome": _each_cell(_outcome_cell), "follow_up": _each_cell(_follow_up_cell)}
_CELL_PARTS = {"record_id": 2, "person_id": 3, "intake_date": 2, "exit_date": 3, "outcome": 4, "follow_up": 3}


def _as_columns(parsed: Parsed) -> ParsedColumns:
    """parse_rows' records as parse_columns' columns."""
    def days(value: date | None) -> int:
        return _NO_DAY if value is None else value.toordinal() - _EPOCH_ORDINAL

    recs = parsed.records
    columns = {name: [r[name] for r in recs] for name in (
        "excel_row", "record_id", "person_id", "outcome_code", "follow_up_code", "has_outcome_label",
        "has_follow_up_label", "has_exit_value", "person_id_normalised")}
    columns["intake_days"] = [days(r["intake_date"]) for r in recs]
    columns["exit_days"] = [days(r["exit_date"]) for r in recs]
    return ParsedColumns(columns, parsed.findings, parsed.skipped_rows)


#: what parsing one row found: (code, field, cell value, message parameters), in order
RowIssues = list[tuple[str, str, Any, dict[str, Any]]]


def _parse_row(cells: list[Any], layout: tuple[tuple[str, int], ...], contract: SourceContract,
               memo: ParseMemo) -> tuple[dict[str, Any] | None, RowIssues]:
    """One data row's typed fields (None for a totals or notes line) and its parsing issues."""
    issues: RowIssues = []
    label = is_not_data(cells, contract, memo.not_data)
    if label is not None:
        return None, [("row-not-data", "", label, {})]
    get = {f: cells[i] for f, i in layout}
    intake = parse_date_value(get.get("intake_date"), memo.formats)
    # the header repeated below (two exports joined): its intake cell, the column's name, is no
    # date; only a row whose intake cell is none has its cells compared with the header's names
    matched = isinstance(intake, Unparseable) and repeats_header(get, memo.header_labels, memo.header_cells)
    if matched:
        return None, [("row-header-repeated", "", None, {"matched": matched, "columns": len(get)})]
    rec: dict[str, Any] = {}
    rec["record_id"] = contract.record_ids.normalise(parse_identifier(get.get("record_id")))
    if rec["record_id"] is None:
        issues.append(("record-id-missing", "record_id", None, {}))
    rec["person_id"], rec["person_id_normalised"] = normalise_person_id(get.get("person_id"))
    if rec["person_id"] is None:
        issues.append(("person-id-missing", "person_id", None, {}))
    for f in ("intake_date", "exit_date"):
        value = intake if f == "intake_date" else parse_date_value(get.get(f), memo.formats)
        if isinstance(value, Unparseable):
            # the notations that would read the cell (never its text): date_notations tells the column's
            issues.append(("date-unparseable", f, get.get(f), {"accepted": memo.accepted,
                                                               "written": written_in(get.get(f))}))
            value = None
        elif value is None and f == "intake_date":
            issues.append(("date-missing", f, None, {"field_label": FIELD_LABELS_NL[f]}))
        rec[f] = value
    rec["has_exit_value"] = not is_blank(get.get("exit_date"))
    rec["outcome_code"], implied = _outcome(get.get("outcome"), memo, contract, issues)
    rec["has_outcome_label"] = not is_blank(get.get("outcome"))
    rec["follow_up_code"] = implied
    rec["has_follow_up_label"] = False
    if "follow_up" in get and not is_blank(get["follow_up"]):
        rec["has_follow_up_label"] = True
        key = contract.label_key(get["follow_up"])
        if key in memo.follow_ups:
            rec["follow_up_code"] = memo.follow_ups[key]
        else:
            issues.append(("follow-up-unknown-label", "follow_up", get["follow_up"],
                           {"suggestions": _suggest(get["follow_up"], contract.follow_ups)}))
    if rec["outcome_code"] in OUTCOMES_WITH_FOLLOW_UP and rec["follow_up_code"] is None:
        rec["follow_up_code"] = DEFAULT_FOLLOW_UP
    if rec["intake_date"] and rec["intake_date"] < contract.pilot_start:
        issues.append(("intake-before-pilot", "intake_date", get.get("intake_date"),
                       {"pilot_start": contract.pilot_start.strftime("%d-%m-%Y")}))
    return rec, issues


def repeats_header(cells: dict[str, Any], labels: dict[str, str],
                   known: dict[tuple[str, str], bool] | None = None) -> int:
    """How many of a row's contract cells (field -> cell) are their column's name, compared as the
    contract matches headers (normalise_label; labels: field -> the name so normalised), when that
    is most of them: the header row repeated (two exports joined); else 0.

    The cheap test first: unless the intake or the exit date's cell is its column's name, the row
    is no header. Those two cells' texts are compared once each (known: what each gave, kept in
    the memo; a column of unreadable dates repeats its days), so a row of data costs two look-ups;
    only a row that passes has every cell compared, one comparison each."""
    known = {} if known is None else known
    for f in ("intake_date", "exit_date"):
        cell = cells.get(f)
        if cell.__class__ is str:
            hit = known.get((f, cell))
            if hit is None:
                hit = known[(f, cell)] = _is_name(cell, labels.get(f))
            if hit:
                break
    else:
        return 0
    matched = sum(_is_name(cell, labels.get(f)) for f, cell in cells.items())
    return matched if 2 * matched > len(cells) else 0


def _is_name(cell: Any, label: str | None) -> bool:
    return cell.__class__ is str and normalise_label(cell) == label


def _outcome(value: Any, memo: ParseMemo, contract: SourceContract,
             issues: RowIssues) -> tuple[str | None, str | None]:
    if is_blank(value):
        return None, None
    hit = memo.outcomes.get(contract.label_key(value))
    if hit is None:
        issues.append(("outcome-unknown-label", "outcome", value,
                       {"suggestions": _suggest(value, contract.outcomes)}))
        return None, None
    return hit


def _suggest(value: Any, vocabulary: dict[str, Any]) -> str:
    labels = list(vocabulary)
    by_norm = {normalise_label(label): label for label in labels}
    close = difflib.get_close_matches(normalise_label(value), list(by_norm), n=3, cutoff=0.4)
    return ", ".join(f"'{by_norm[c]}'" for c in close) or ", ".join(f"'{label}'" for label in labels[:3])


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SERIAL_ORDINAL = EXCEL_EPOCH.toordinal()  # day 0 of Excel's serial numbers (serial_to_date)
_NO_DAY = -(2**63)  # NaT as datetime64 (numpy is imported lazily: `lvv validate` needs none)


def _typed_frame(deliveries: list[tuple[dict[str, list[Any]], date]]) -> pd.DataFrame:
    """The parsed columns (ParsedColumns.columns) of one or more deliveries as typed columns, each
    built once from plain values (no casts after): `delivery` (position in the list), `excel_row`,
    the fields, `known_from`."""
    import numpy as np
    import pandas as pd

    sizes = [len(columns["excel_row"]) for columns, _ in deliveries]

    def joined(name: str) -> list[Any]:
        return list(chain.from_iterable(columns[name] for columns, _ in deliveries))

    data: dict[str, Any] = {
        "delivery": np.repeat(np.arange(len(deliveries), dtype="int64"), sizes),
        "excel_row": np.array(joined("excel_row"), dtype="int64"),
    }
    for col in ("record_id", "person_id", "outcome_code", "follow_up_code"):
        data[col] = _text_array(joined(col))
    for col in ("intake_date", "exit_date"):  # days since 1970; NaT for none
        days = np.array(joined(col.replace("_date", "_days")), dtype="int64")
        data[col] = days.astype("datetime64[D]").astype("datetime64[ns]")
    for col in ("has_outcome_label", "has_follow_up_label", "has_exit_value"):
        data[col] = np.array(joined(col), dtype=bool)
    stand_pers = np.array([np.datetime64(stand_per, "D") for _, stand_per in deliveries], dtype="datetime64[ns]")
    data["known_from"] = np.repeat(stand_pers, sizes)
    return pd.DataFrame(data)


def _text_array(values: list[str | None]) -> Any:
    """`pd.array(values, dtype="str")` of a parsed text column (text and None), by way of an Arrow
    array: pandas' own conversion of a list checks and converts each value in Python first, at
    twice the cost. Anything else in the list takes pandas' own way."""
    import pandas as pd
    import pyarrow as pa

    try:
        arrow = pa.array(values, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.array(values, dtype="str")
    return pd.array(arrow, dtype="str")


def _raw_text(raw: RawSheet, skipped: list[int], hide: Any, wanted: Any = None) -> pd.DataFrame:
    """Data rows' contract cells as text (identifiers pseudonymised, names dropped)."""
    import pandas as pd

    keep = {f: i for f, i in raw.positions.items() if f not in DROPPED_IDENTIFIERS}
    scrubber = row_scrubber(raw)
    skip = set(skipped)
    only = None if wanted is None else {int(r) for r in wanted}
    rows = []
    for cells, excel_row in zip(raw.rows, raw.excel_rows):
        if excel_row in skip or (only is not None and excel_row not in only):
            continue
        row = {"excel_row": excel_row}
        for f, i in keep.items():
            text = as_text(cells[i])
            if f in ("person_id", "record_id") and text:
                text = hide(text) if hide else "(verborgen)"
            else:
                text = scrubber.scrub(text, excel_row)
            row[f"raw_{f}"] = text
        rows.append(row)
    return pd.DataFrame(rows).set_index("excel_row") if rows else pd.DataFrame()


def validate_staged(staged: Staged, loc: Locator) -> list[Finding]:
    """Run the pandera contract lazily on one delivery; every failure case becomes one located finding."""
    frame = staged.frame.reset_index()
    frame.insert(0, "delivery", 0)
    return validate_many(StagedBatch(frame, [staged]), [loc])[0]


def validate_many(batch: StagedBatch, locs: list[Locator]) -> list[list[Finding]]:
    """Run the pandera contract lazily on a batch of deliveries, in one call; the located findings
    of each delivery, in the order of batch.parts."""
    import pandas as pd
    import pandera.errors

    from schemas.episodes import StagedEpisodes, validating

    out: list[list[Finding]] = [[] for _ in batch.parts]
    try:
        with validating():
            StagedEpisodes.validate(batch.frame, lazy=True)
        return out
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    seen: set[tuple[int, int, str]] = set()
    memos: dict[int, dict[str, Any]] = {}
    deliveries = batch.frame["delivery"].to_numpy()
    excel_rows = batch.frame["excel_row"].to_numpy()
    unexplained = []
    for case in cases.itertuples(index=False):
        code, field_name = _code_for(case.check, case.column)
        if code is None or pd.isna(case.index):
            unexplained.append(case)
            continue
        position = int(case.index)
        d, row = int(deliveries[position]), int(excel_rows[position])
        if (d, row, code) in seen:
            continue
        seen.add((d, row, code))
        out[d].extend(_finding_for(code, field_name, row, batch.parts[d].frame, locs[d], memos.setdefault(d, {})))
    if unexplained:
        raise StagedFrameError(_unexplained(unexplained, batch))
    return out


class StagedFrameError(RuntimeError):
    """The staged frame breaks the StagedEpisodes contract in a way no finding stands for: a
    column of another dtype, missing or not in the contract, or a value the parse never gives. No
    delivery can cause that (staging builds each column with its dtype from parsed values): it is a
    fault of the staging, so the batch stops here instead of being stored as if it were valid."""


def _unexplained(cases: list[Any], batch: StagedBatch) -> str:
    """What the staged frame broke, per column and check: the column's dtype and, where pandera
    names rows, how many and the first by its file and sheet row. Never a failing value: it may
    be an identifier."""
    import pandas as pd

    by_check: dict[tuple[str, str], list[Any]] = {}
    for case in cases:
        by_check.setdefault((str(case.column), str(case.check)), []).append(case.index)
    files = sorted({part.raw.file for part in batch.parts if part.raw is not None})
    lines = []
    for (column, check), rows in by_check.items():
        dtype = f" (the column is {batch.frame[column].dtype})" if column in batch.frame.columns else ""
        located = [int(r) for r in rows if not pd.isna(r) and 0 <= int(r) < len(batch.frame)]
        where = ""
        if located:
            first = batch.frame.iloc[located[0]]
            part = batch.parts[int(first["delivery"])]
            where = (f", on {len(located)} row(s), first {part.raw.file if part.raw else '?'} "
                     f"row {int(first['excel_row'])}")
        lines.append(f"column '{column}': check {check} failed{dtype}{where}")
    return (f"the staged rows of {', '.join(files) or 'a batch'} break the StagedEpisodes contract in a way no "
            "finding stands for (a fault in staging, not in the delivery): " + "; ".join(lines))


def _code_for(check: str, column: Any) -> tuple[str | None, str]:
    from schemas.episodes import CHECK_FIELDS

    if check in CHECK_FIELDS:
        return check, CHECK_FIELDS[check]
    if str(check).startswith("str_matches") and column == "person_id":
        return "person-id-malformed", "person_id"
    return None, ""


def _finding_for(code: str, field_name: str, row: int, frame: pd.DataFrame, loc: Locator,
                 memo: dict[str, Any]) -> list[Finding]:
    rec = frame.loc[row]
    if code == "episode-duplicate":
        if "record" not in memo:  # once per delivery, not once per duplicate row
            memo["record"] = rows_by_record(frame.index.tolist(), frame["record_id"].tolist())
        rows = memo["record"][rec["record_id"]]
        return [loc.finding(code, row, "record_id", _cell(loc.raw, row, "record_id"), **other_rows(rows, row))]
    if code in ROW_RULES:
        return rule_findings(code, rec, row, loc)
    return [loc.finding(code, row, field_name, _cell(loc.raw, row, field_name))]


def rule_findings(code: str, rec: Any, row: int, loc: Locator) -> list[Finding]:
    """The located finding(s) of a row that breaks the row rule `code` (schemas/row_rules.py), from
    its typed fields (a dict of plain values, or a staged frame's row): one path for both checks."""
    field_name = ROW_RULES[code].field
    if code == "exit-before-intake":
        return [loc.finding(code, row, "exit_date", _cell(loc.raw, row, "exit_date"), intake=_fmt(rec["intake_date"]))]
    if code == "date-after-delivery":  # a finding on each date that is late
        return [loc.finding(code, row, f, _cell(loc.raw, row, f), field_label=FIELD_LABELS_NL[f],
                            stand_per=_fmt(rec["known_from"]))
                for f in ("intake_date", "exit_date") if before(rec["known_from"], rec[f])]
    return [loc.finding(code, row, field_name, _cell(loc.raw, row, field_name))]


#: other sheet rows a finding names at most; its message gives how many there are in all
ROWS_NAMED = 5


def other_rows(rows: list[int], own: int, total: int | None = None) -> dict[str, Any]:
    """The message parameters of a finding about several rows: `rows`, the first ROWS_NAMED rows
    other than its own (then '...'), and `count`, how many rows take part (its own included).
    Bounded, so a value repeated on every row of a big sheet costs linear, not quadratic, text."""
    others = [r for r in rows[:ROWS_NAMED + 1] if r != own][:ROWS_NAMED]
    count = len(rows) if total is None else total
    more = count - 1 > len(others)
    return {"rows": ", ".join(map(str, others)) + (", ..." if more else ""), "count": count, "others": count - 1}


def rows_by_record(rows: Any, records: Any) -> dict[Any, list[int]]:
    """Record number -> its sheet rows, in sheet order (one pass)."""
    out: dict[Any, list[int]] = {}
    for row, record in zip(rows, records):
        out.setdefault(record, []).append(row)
    return out


def row_findings(parsed: Parsed, loc: Locator, stand_per: date) -> list[Finding]:
    """The StagedEpisodes contract row by row, without pandas: the same rules (schemas/row_rules.py)
    and the same findings, at the same cells, as `validate_staged` on the staged frame."""
    findings: list[Finding] = []
    by_record = rows_by_record((rec["excel_row"] for rec in parsed.records),
                               (rec["record_id"] for rec in parsed.records))
    by_record.pop(None, None)
    for rec in parsed.records:
        row = rec["excel_row"]
        if rec["person_id"] is not None and not re.match(PERSON_ID_PATTERN, rec["person_id"]):
            findings.append(loc.finding("person-id-malformed", row, "person_id", _cell(loc.raw, row, "person_id")))
        rows = by_record.get(rec["record_id"], [])
        if len(rows) > 1:
            findings.append(loc.finding("episode-duplicate", row, "record_id", _cell(loc.raw, row, "record_id"),
                                        **other_rows(rows, row)))
        typed = {**rec, "known_from": stand_per}
        for code, rule in ROW_RULES.items():
            if rule.broken(typed):
                findings.extend(rule_findings(code, typed, row, loc))
    return findings


def overlapping_stays(stays: Any) -> dict[int, tuple[list[int], int]]:
    """Sheet row -> (up to ROWS_NAMED rows of the same person's other stays whose dates overlap it,
    how many such stays there are in all).

    stays: records (dicts with excel_row, person_id, record_id, intake_date, exit_date) or a
    staged frame indexed by sheet row. A stay runs from intake up to (not including) its exit
    date; an open stay runs on; a stay that ends on its intake day is that one day. A move on the
    exit day (next intake = exit) is no overlap. Rows without a person, a record number or a
    usable intake, rows whose exit precedes their intake, and the rows of the same record number
    (already duplicates) are left out.

    O(n log n) in the stays, whatever their shape: the counts come from sorted starts and ends
    (the stays that start before this one ends, less those that end before it starts), the rows
    named from a bounded look at the stays around it, so one person with 20,000 open stays costs
    no more than 20,000 people with one each.
    """
    import heapq
    from bisect import bisect_left, bisect_right

    if hasattr(stays, "columns"):  # a frame: only the rows of a person named twice or more can overlap
        twice = stays["person_id"].duplicated(keep=False).to_numpy()
        if not twice.any():
            return {}
        stays = stays.loc[twice, ["person_id", "record_id", "intake_date", "exit_date"]]
        columns = [stays.index.tolist(), stays["person_id"].tolist(), stays["record_id"].tolist()]
        columns += [stays[c].to_numpy().astype("datetime64[D]").tolist() for c in ("intake_date", "exit_date")]
        stays = [{"excel_row": row, "person_id": p, "record_id": r, "intake_date": i, "exit_date": e}
                 for row, p, r, i, e in zip(*columns)]
    stays = list(stays)
    # only a person with two or more stays can have stays that overlap
    twice = {p for p, n in Counter(rec["person_id"] for rec in stays).items() if n > 1}
    by_person: dict[str, list[tuple[int, int, int, Any]]] = {}
    for rec in stays:
        if rec["person_id"] not in twice:
            continue
        person, intake, exit_ = rec["person_id"], _day(rec["intake_date"]), _day(rec["exit_date"])
        if _missing(person) or _missing(rec["record_id"]) or intake is None:
            continue
        if exit_ is not None and exit_ < intake:
            continue
        # half days: [2 * intake, 2 * exit), a one-day stay [2 * day, 2 * day + 1)
        start = 2 * intake.toordinal()
        end = (2 * date.max.toordinal() + 2 if exit_ is None
               else max(2 * exit_.toordinal(), start + 1))
        by_person.setdefault(person, []).append((start, end, int(rec["excel_row"]), rec["record_id"]))
    overlaps: dict[int, tuple[list[int], int]] = {}
    look = 4 * ROWS_NAMED  # stays looked at on either side when naming rows
    for person_stays in by_person.values():
        if len(person_stays) < 2:
            continue
        person_stays.sort(key=lambda s: (s[0], s[2]))
        counts = _overlap_counts(person_stays, bisect_left, bisect_right)
        same: dict[Any, list[tuple[int, int, int, Any]]] = {}
        for stay in person_stays:
            same.setdefault(stay[3], []).append(stay)
        for group in same.values():
            if len(group) > 1:
                for row, n in _overlap_counts(group, bisect_left, bisect_right).items():
                    counts[row] -= n
        active: list[tuple[int, int, Any]] = []  # (end, row, record) of the stays begun before
        for i, (start, end, row, record) in enumerate(person_stays):
            while active and active[0][0] <= start:
                heapq.heappop(active)
            if counts[row] > 0:
                named = [r for _, r, rec in active[:look] if rec != record]
                named += [r for s, _, r, rec in person_stays[i + 1:i + 1 + look] if s < end and rec != record]
                overlaps[row] = (sorted(named)[:ROWS_NAMED], counts[row])
            heapq.heappush(active, (end, row, record))
    return overlaps


def _overlap_counts(group: list[tuple[int, int, int, Any]], bisect_left: Any, bisect_right: Any) -> dict[int, int]:
    """Sheet row -> how many other stays of the group overlap it (intervals [start, end), all non-empty)."""
    starts = sorted(s[0] for s in group)
    ends = sorted(s[1] for s in group)
    return {row: bisect_left(starts, end) - bisect_right(ends, start) - 1 for start, end, row, _ in group}


def record_findings(staged: Staged | Parsed, loc: Locator) -> list[Finding]:
    """Record-level checks within one delivery: one person's stays that overlap (a warning)."""
    stays = staged.frame if staged.records is None else staged.records
    findings = []
    for row, (named, others) in sorted(overlapping_stays(stays).items()):
        findings.append(loc.finding("episodes-overlap", row, "intake_date", _cell(loc.raw, row, "intake_date"),
                                    **other_rows([row, *named], row, others + 1)))
    return findings


def _cell(raw: RawSheet, excel_row: int, field_name: str) -> Any:
    position = raw.positions.get(field_name)
    if position is None:
        return None
    return raw.rows[raw.row_index()[excel_row]][position]


def _missing(value: Any) -> bool:
    """None, NaN or NaT (NaN and NaT are the only values unequal to themselves)."""
    return value is None or value != value


def _day(value: Any) -> date | None:
    if _missing(value):
        return None
    return value.date() if isinstance(value, datetime) else value


def _fmt(value: Any) -> str:
    day = _day(value)
    return day.strftime("%d-%m-%Y") if day else ""


__all__ = ["DATE_FIELDS", "Locator", "ParseMemo", "Parsed", "ParsedColumns", "Staged", "StagedBatch", "StagedFrameError", "overlapping_stays",
           "parse_columns", "parse_rows", "record_findings", "row_findings", "stage_many", "stage_rows", "validate_many",
           "validate_staged"]
