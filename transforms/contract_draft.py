"""A draft source contract from a new municipality's export(s): `lvv contract draft`.

What a steward would otherwise find by reading the workbook by hand: the data sheet (the sheet
whose rows look most like a register, so a summary sheet in front is passed over), the header row
(the row within the first rows that names most known columns, also below a title block; a header
over two rows, merged cells or a group row above the names, read as one and marked to check), the
'stand per' date (a label in the title block, else a date in the file name), a CSV's encoding
and delimiter, each column's field (by header: the synonyms of every existing contract plus
schemas/synonyms.yaml, exactly or fuzzily), how dates are stored and written, the rows under
the data that are not data, and every distinct outcome and follow-up label with a suggested
taxonomy code. Labels are matched with rapidfuzz against the labels of all contracts and the
taxonomy's Dutch and English names; each guess carries its confidence, and an uncertain one is
marked for the steward with a `# CHECK` comment. Where nothing fits, the draft says `???` and
a `# DECIDE` comment: such a draft does not load until the steward fills it in.

The draft is text (YAML with comments); `check_draft` loads it as a contract and checks the
files with it, so the steward sees either that it works or the lines left to decide.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from schemas import load_yaml
from schemas.contracts import (LABEL_CODE_PREFIX, MappedOutcome, SourceContract, contracts, normalise_label)
from schemas.checks import Finding
from schemas.taxonomy import OUTCOMES_WITH_FOLLOW_UP, taxonomy
from transforms import limits as limits_check
from transforms.read import (OLE_MAGIC, _utf16_unmarked, by_byte_order_mark, calamine_error,
                             column_letter, office_container, open_workbook, separator_line)
from transforms.values import SERIAL_RANGE, is_blank

SYNONYMS_FILE = Path(__file__).resolve().parent.parent / "schemas" / "synonyms.yaml"
#: a guess at or above this confidence is written as is; below it, with a '# CHECK' comment
SURE = 0.9
#: below this, no guess: '???' and a '# DECIDE' comment
GUESS = 0.7
#: rows searched for the header
HEADER_SEARCH_ROWS = 30
DATE_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%y", "%d/%m/%y", "%Y%m%d")
FILE_NAME_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%d-%m-%Y", "%Y_%m_%d", "%d%m%Y")
ENCODINGS = ("utf-8-sig", "cp1252")
DATE_FIELDS = ("intake_date", "exit_date", "birth_date")


class DraftError(ValueError):
    """A file the draft cannot start from (not a workbook or CSV, no header found)."""


@dataclass
class Guess:
    """A suggested value with its confidence (1.0: exact) and where it came from."""

    value: Any
    confidence: float
    source: str = ""


@dataclass
class Grid:
    """One sheet (or CSV) as rows of cells, with how it was read."""

    file: Path
    sheet: str | None
    rows: list[list[Any]]
    encoding: str | None = None
    delimiter: str | None = None
    hidden: bool = False  # a workbook's sheet its owner hid (a lookup list, an older copy, or the data)


@dataclass
class Layout:
    """What one file's layout was found to be."""

    grid: Grid
    header_row: int                                  # 1-based
    columns: dict[str, Guess]                        # field -> header
    ignored: list[str]
    unknown: list[str]
    data: list[list[Any]]                            # rows under the header, blank rows dropped
    stand_per_label: str | None = None
    stand_per_file_name: str | None = None
    not_data: list[str] = field(default_factory=list)
    row_count_label: str | None = None
    #: the column names as found: the header row's, or over two rows the lower row's with the upper
    #: row's where the lower is blank (a group row or merged cells above the names)
    headers: list[Any] = field(default_factory=list)
    #: over two rows: the upper row's number (1-based); header_row is then the lower one
    upper_row: int | None = None


# ------------------------------------------------------------------ vocabularies
@cache
def synonyms() -> dict[str, Any]:
    return load_yaml(SYNONYMS_FILE.read_text(encoding="utf-8"))


def header_synonyms() -> dict[str, set[str]]:
    """field -> every normalised header that names it, in any contract or in synonyms.yaml."""
    found: dict[str, set[str]] = {f: {normalise_label(h) for h in hs} for f, hs in synonyms()["columns"].items()}
    for contract in contracts().values():
        for f, header in contract.columns.items():
            found.setdefault(f, set()).add(normalise_label(header))
    return found


def outcome_candidates() -> dict[str, tuple[tuple[str, str | None], str]]:
    """normalised label -> ((outcome, follow-up or None), where the label comes from)."""
    found: dict[str, tuple[tuple[str, str | None], str]] = {}
    for term in taxonomy().outcomes:
        for text, lang in ((term.nl, "taxonomy nl"), (term.en, "taxonomy en")):
            found.setdefault(normalise_label(text), ((term.code, None), lang))
    for name, contract in sorted(contracts().items()):
        for label, target in contract.outcomes.items():
            value = ((str(target.outcome), str(target.follow_up) if target.follow_up else None)
                     if isinstance(target, MappedOutcome) else (str(target), None))
            found.setdefault(contract.label_key(label), (value, name))
    return found


def follow_up_candidates() -> dict[str, tuple[str, str]]:
    """normalised label -> (follow-up code, where the label comes from)."""
    found: dict[str, tuple[str, str]] = {}
    for term in taxonomy().follow_ups:
        for text, lang in ((term.nl, "taxonomy nl"), (term.en, "taxonomy en")):
            found.setdefault(normalise_label(text), (term.code, lang))
    for name, contract in sorted(contracts().items()):
        for label, code in contract.follow_ups.items():
            found.setdefault(contract.label_key(label), (str(code), name))
        for label, target in contract.outcomes.items():  # 'VB - uitgezet': 'uitgezet' is a follow-up word
            if isinstance(target, MappedOutcome) and target.follow_up:
                tail = re.split(r"\s*[-,:/]\s*", contract.label_key(label))[-1]
                found.setdefault(tail, (str(target.follow_up), name))
    return found


def best_match(text: str, candidates: dict[str, Any]) -> tuple[str, float] | None:
    """The closest candidate (rapidfuzz WRatio on normalised text) and its confidence 0..1."""
    if text in candidates:
        return text, 1.0
    hit = process.extractOne(text, list(candidates), scorer=fuzz.WRatio)
    return (hit[0], hit[1] / 100) if hit else None


# ------------------------------------------------------------------ reading
def _refuse(over_limit: Finding | None) -> None:
    """A file the delivery reader refuses (past a limit, a damaged zip, no workbook or text) as the
    draft's one-line error: the reader's finding in its words, what it is and what to do."""
    if over_limit is not None:
        said = over_limit.as_row("en")
        raise DraftError(f"{over_limit.file}: {said['message']} {said['fix']}")


def read_grids(path: Path) -> list[Grid]:
    """Every sheet of a workbook (hidden ones marked so), or the one grid of a CSV; the limits of
    schemas/checks.yaml checked before either is parsed, as for a delivery (transforms.limits)."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if not head:  # as a delivery's reader says of it
        _refuse(Finding("file-not-spreadsheet", file=path.name, params={"detail": "empty file"}))
    if head.startswith(OLE_MAGIC):  # an .xls or a password-protected workbook: as a delivery's, in its words
        _refuse(office_container(path, path.name))
    # the one checked open of transforms.limits, as for a delivery: the same limits in the same order
    checked = limits_check.checked_open(path, path.name, csv=not head.startswith(b"PK\x03\x04"))
    _refuse(checked.finding)
    if head.startswith(b"PK\x03\x04"):
        try:
            book = open_workbook(path)  # by its content, as a delivery's (read.open_workbook)
            grids = []
            for meta in book.sheets_metadata:
                rows = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
                grids.append(Grid(path, meta.name, [[None if v == "" else v for v in r] for r in rows],
                                  hidden=str(meta.visible).lower().endswith(("hidden", "veryhidden"))))
        except BaseException as exc:  # calamine raises several unrelated types (or panics) for a damaged workbook
            exc = calamine_error(exc)
            raise DraftError(f"{path.name}: the workbook cannot be read; it is damaged or truncated "
                             f"({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None
        return grids
    # a byte-order mark says the encoding, as for a delivery (read.by_byte_order_mark): UTF-16 text
    # (Excel's 'Unicode text') holds a NUL in every other byte and is text all the same
    raw, marked = by_byte_order_mark(checked.raw or b"", "")
    if b"\x00" in raw[:4096] and not marked.startswith("utf-16"):  # in the words of a delivery's reader
        _refuse(Finding("file-not-spreadsheet", file=path.name, params={"detail": (
            "UTF-16 text without a byte-order mark; save it as 'CSV UTF-8'" if _utf16_unmarked(raw[:4096])
            else "binary content, neither a workbook nor text (CSV)")}))
    text, encoding = _decoded(raw, path.name, (marked,) if marked else ENCODINGS)
    text, said = separator_line(text)  # Excel's 'sep=;' line: not a row, as for a delivery (read.csv_text)
    lines = [line for line in text.splitlines() if line.strip()][:50]
    if not lines:  # blank lines only: no delimiter to find
        _refuse(Finding("file-empty", file=path.name))
    counts = {d: [line.count(d) for line in lines] for d in (";", ",", "\t", "|")}
    # the delimiter that splits most lines the same number of times, at least once: lines it does
    # not split are not counted (a title block of lines without one made a comma in one title line,
    # 'Rapportage LVV, uitstroom', the delimiter: the lines with no comma were the most alike)
    splits = {d: Counter(n for n in found if n).most_common(1) for d, found in counts.items()}
    delimiter = said or max(splits, key=lambda d: splits[d][0][::-1] if splits[d] else (0, 0))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [[None if c.strip() == "" else c for c in row] for row in reader]
    except csv.Error as exc:  # a cell past the csv module's field limit, say
        raise DraftError(f"{path.name}: line {reader.line_num} cannot be read as CSV ({exc})") from None
    return [Grid(path, None, rows, "utf-8" if encoding == "utf-8-sig" else encoding, delimiter)]


def _decoded(raw: bytes, name: str, encodings: tuple[str, ...]) -> tuple[str, str]:
    """A CSV file's text in the first of the encodings that reads it, and that encoding; a DraftError
    naming the line where none does (the last one tried), as a delivery's reader names it."""
    for encoding in encodings:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            failed = exc
    line = raw[: failed.start].count(b"\n") + 1
    raise DraftError(f"{name}: line {line} is not text in {' or '.join(encodings)}; save the export as "
                     "'CSV UTF-8' (or as .xlsx)")


# ------------------------------------------------------------------ layout
def _map_headers(headers: list[Any], body: list[list[Any]]) -> tuple[dict[str, Guess], list[str], list[str]]:
    """field -> header (with confidence), the headers to ignore, and the headers left unknown."""
    known = header_synonyms()
    by_text = {h: f for f, hs in known.items() for h in hs}
    ignore = {normalise_label(h) for h in synonyms()["ignore"]}
    scored: list[tuple[float, str, int]] = []
    for i, header in enumerate(headers):
        if is_blank(header):
            continue
        text = normalise_label(header)
        fields = [f for f, hs in known.items() if text in hs]
        if len(fields) > 1:  # 'Uitstroom' is a date in one contract and an outcome in another
            dated = _share_dates([row[i] for row in body if i < len(row)])
            fields = [f for f in fields if (f in DATE_FIELDS) == (dated > 0.5)] or fields
        if fields:
            scored.append((1.0, fields[0], i))
            continue
        hit = best_match(text, by_text)
        if hit and hit[1] >= GUESS and text not in ignore:
            scored.append((hit[1], by_text[hit[0]], i))
    position: dict[str, int] = {}  # each field its best header, each header one field
    for confidence, f, i in sorted(scored, key=lambda s: -s[0]):
        if f not in position and i not in position.values():
            position[f] = i
    if "full_name" in position and ({"family_name", "given_name"} & set(position)):
        del position["full_name"]  # a name in parts: a 'name' column is one of the parts
    confidence = {i: c for c, _, i in scored}
    columns = {f: Guess(str(headers[i]).strip(), confidence[i]) for f, i in position.items()}
    rest = [str(h).strip() for i, h in enumerate(headers) if not is_blank(h) and i not in position.values()]
    ignored = [h for h in rest if (best_match(normalise_label(h), dict.fromkeys(ignore)) or ("", 0))[1] >= SURE]
    return columns, ignored, [h for h in rest if h not in ignored]


def _share_dates(values: list[Any]) -> float:
    filled = [v for v in values if not is_blank(v)]
    if not filled:
        return 0.0
    return sum(1 for v in filled if _date_kind(v) is not None) / len(filled)


def _date_kind(value: Any) -> str | None:
    """'date', 'excel_serial' or a text format the value is written in; None: not a date."""
    if isinstance(value, (datetime, date)):
        return "date"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "excel_serial" if SERIAL_RANGE[0] <= value <= SERIAL_RANGE[1] else None
    text = str(value).strip()
    for fmt in DATE_FORMATS:
        try:
            datetime.strptime(text, fmt)
            return fmt
        except ValueError:
            continue
    return None


def _two_rows(upper: list[Any], lower: list[Any]) -> list[Any]:
    """A header over two rows as one: each column's name in the lower row, else the upper row's
    (a name merged over both rows stands in the upper cell only; a group name above several
    columns, 'Datum' over 'Instroom' and 'Uitstroom', gives way to the names below it)."""
    width = max(len(upper), len(lower))
    upper, lower = list(upper) + [None] * (width - len(upper)), list(lower) + [None] * (width - len(lower))
    return [u if is_blank(v) else v for u, v in zip(upper, lower)]


def _from_upper_row(layout: Layout) -> dict[str, str]:
    """Over a header of two rows: field -> the cell its name stands in, for the names that stand
    in the upper row, not in header_row (a delivery's reader does not find them there)."""
    if layout.upper_row is None:
        return {}
    lower = layout.grid.rows[layout.header_row - 1]
    return {f: f"{column_letter(i)}{layout.upper_row}" for f, g in layout.columns.items()
            for i, h in enumerate(layout.headers)
            if not is_blank(h) and str(h).strip() == g.value and (i >= len(lower) or is_blank(lower[i]))}


def find_layout(grid: Grid) -> Layout | None:
    """The header row (the row of the first ones that names most fields) and what it maps; a
    header over two rows (merged cells, a group row above the names) where the two rows read as
    one name strictly more fields than either row alone: then header_row is the lower row (the
    data starts under it) and upper_row the row above, which the draft marks to check."""
    def sure(headers: list[Any], index: int) -> int:
        columns, _, _ = _map_headers(headers, grid.rows[index + 1:index + 51])
        return sum(1 for g in columns.values() if g.confidence >= SURE)

    rows = grid.rows[:HEADER_SEARCH_ROWS + 1]
    single = [sure(row, index) for index, row in enumerate(rows)]
    best: tuple[int, int, bool] | None = None  # (index of the lower row, fields named, over two rows)
    for index in range(min(len(rows), HEADER_SEARCH_ROWS)):
        if single[index] >= 3 and (best is None or single[index] > best[1]):
            best = (index, single[index], False)
    for index in range(1, len(rows)):
        if single[index] or single[index - 1]:
            both = sure(_two_rows(rows[index - 1], rows[index]), index)
            if both >= 3 and both > max(single[index], single[index - 1]) and (best is None or both > best[1]):
                best = (index, both, True)
    if best is None:
        return None
    index, _, split = best
    headers = _two_rows(grid.rows[index - 1], grid.rows[index]) if split else list(grid.rows[index])
    body = [row for row in grid.rows[index + 1:] if not all(is_blank(v) for v in row)]
    columns, ignored, unknown = _map_headers(headers, body)
    layout = Layout(grid, index + 1, columns, ignored, unknown, body, headers=headers,
                    upper_row=index if split else None)
    layout.stand_per_label = _stand_per_label(grid.rows[:index - 1 if split else index])
    if layout.stand_per_label is None:
        layout.stand_per_file_name = _file_name_notation(grid.file.name)
    layout.not_data, layout.row_count_label = _not_data(body, columns)
    return layout


def _stand_per_label(title: list[list[Any]]) -> str | None:
    labels = [normalise_label(t) for t in synonyms()["stand_per_labels"]]
    labels += [normalise_label(c.file.stand_per.label) for c in contracts().values()
               if c.file.stand_per and c.file.stand_per.label]
    for row in title:
        for i, cell in enumerate(row):
            if is_blank(cell) or not isinstance(cell, str):
                continue
            text = normalise_label(cell)
            for label in sorted(set(labels), key=len, reverse=True):
                rest = text[len(label):].strip(" :")
                after = [v for v in row[i + 1:] if not is_blank(v)][:1]
                if text.startswith(label) and (_date_kind(rest) or (after and _date_kind(after[0]))):
                    return cell.strip()[:len(label)].strip()
    return None


def _file_name_notation(name: str) -> str | None:
    for fmt in FILE_NAME_FORMATS:
        pattern = re.escape(fmt).replace("%Y", r"\d{4}").replace("%m", r"\d{2}").replace("%d", r"\d{2}")
        for match in re.finditer(pattern, name):
            try:
                datetime.strptime(match.group(0), fmt)
                return fmt
            except ValueError:
                continue
    return None


def _not_data(body: list[list[Any]], columns: dict[str, Guess]) -> tuple[list[str], str | None]:
    """not_data patterns for the closing rows (totals, counts, remarks) and a row-count label."""
    words = [normalise_label(w) for w in synonyms()["not_data"]]
    counts = [normalise_label(w) for w in synonyms()["row_count_labels"]]
    patterns, row_count = [], None
    for row in body:
        first = next((v for v in row if not is_blank(v)), None)
        if not isinstance(first, str):
            continue
        text = normalise_label(first)
        label = next((c for c in counts if text.startswith(c)), None)
        if label:
            row_count = first.strip()[:len(label)]
            continue
        word = next((w for w in words if text.startswith(w)), None)
        if word and f"^{word}" not in patterns:
            patterns.append(f"^{word}")
    return patterns, row_count


# ------------------------------------------------------------------ values
def column_values(layout: Layout, field_name: str) -> list[Any]:
    header = layout.columns.get(field_name)
    if header is None:
        return []
    headers = [None if is_blank(h) else str(h).strip() for h in layout.headers]
    i = headers.index(header.value)
    not_data = re.compile("|".join(layout.not_data), re.IGNORECASE) if layout.not_data else None
    out = []
    for row in layout.data:
        first = next((v for v in row if not is_blank(v)), None)
        if isinstance(first, str) and ((not_data and not_data.search(first.strip().casefold())) or (
                layout.row_count_label and normalise_label(first).startswith(normalise_label(layout.row_count_label)))):
            continue
        if i < len(row) and not is_blank(row[i]):
            out.append(row[i])
    return out


def date_notation(layouts: list[Layout]) -> tuple[str, list[str]]:
    """stored_as (the commonest kind) and the text formats seen, commonest first."""
    kinds: Counter[str] = Counter()
    for layout in layouts:
        for f in ("intake_date", "exit_date"):
            kinds.update(k for k in map(_date_kind, column_values(layout, f)) if k)
    stored = Counter({"date": kinds["date"], "excel_serial": kinds["excel_serial"],
                      "text": sum(n for k, n in kinds.items() if k.startswith("%"))})
    formats = [k for k, _ in kinds.most_common() if k.startswith("%")]
    return (stored.most_common(1)[0][0] if kinds else "date"), formats


def record_id_rules(layouts: list[Layout]) -> dict[str, Any]:
    """record_ids keys for numbers written with and without a prefix, or in two cases."""
    values = [str(v).strip() for layout in layouts for v in column_values(layout, "record_id")]
    rules: dict[str, Any] = {}
    prefixed = Counter(m.group(1) for v in values if (m := re.match(r"^([A-Za-z]+[-/ ]?)\d+$", v)))
    bare = sum(1 for v in values if v.isdigit())
    if prefixed and bare:
        rules["strip_prefix"] = prefixed.most_common(1)[0][0]
    letters = {v for v in values if any(c.isalpha() for c in v)}
    if len({v.casefold() for v in letters}) < len(letters):
        rules["case"] = "upper"
    return rules


def label_guesses(labels: list[str], with_code: bool, detention_split: bool) -> dict[str, Guess]:
    """label -> Guess((outcome, follow-up), confidence, source); value None when nothing fits."""
    candidates = outcome_candidates()
    follow_ups = follow_up_candidates()
    out: dict[str, Guess] = {}
    for label in labels:
        key = _label_key(label, with_code, candidates)
        hit = best_match(key, candidates)
        guess = Guess(candidates[hit[0]][0], hit[1], f"{hit[0]!r} ({candidates[hit[0]][1]})") if hit else None
        parts = re.split(r"\s*(?:\s-\s|,|:|/)\s*", key, maxsplit=1)
        if detention_split and len(parts) == 2 and (guess is None or guess.confidence < 1.0):
            head, tail = best_match(parts[0], candidates), best_match(parts[1], follow_ups)
            if head and tail and candidates[head[0]][0][0] in OUTCOMES_WITH_FOLLOW_UP:
                confidence = min(head[1], tail[1])
                if guess is None or confidence > guess.confidence:
                    guess = Guess((candidates[head[0]][0][0], follow_ups[tail[0]][0]), confidence,
                                  f"{head[0]!r} + {tail[0]!r}")
        out[label] = guess if guess and guess.confidence >= GUESS else Guess(None, guess.confidence if guess else 0)
    return out


#: a code written after a label's text: 'Terugkeer (03)', 'Terugkeer [03]', 'Terugkeer - 03'
LABEL_CODE_SUFFIX = re.compile(r"\s*(?:[-–:]\s*\d{1,3}|\(\s*\d{1,3}\s*\)|\[\s*\d{1,3}\s*\])\s*$")


def _label_key(label: str, with_code: bool, candidates: dict[str, Any]) -> str:
    """A label as it is matched: normalised, its code in front left out where labels carry one
    (labels_with_code), and a code after its text ('Terugkeer (03)') where the label is not a
    known one as written: its words name the outcome. With the code, known words matched only
    fuzzily (90%), and a label like no outcome ('Doorstroom regulier - 04') was taken at 85% for
    'VB - uitgezet' for the ' - ' they share."""
    key = normalise_label(label)
    if with_code:
        key = LABEL_CODE_PREFIX.sub("", key)
    return key if key in candidates else (LABEL_CODE_SUFFIX.sub("", key) or key)


def follow_up_guesses(labels: list[str], with_code: bool) -> dict[str, Guess]:
    candidates = follow_up_candidates()
    out = {}
    for label in labels:
        key = _label_key(label, with_code, candidates)
        hit = best_match(key, candidates)
        out[label] = (Guess(candidates[hit[0]][0], hit[1], f"{hit[0]!r} ({candidates[hit[0]][1]})")
                      if hit and hit[1] >= GUESS else Guess(None, hit[1] if hit else 0))
    return out


# ------------------------------------------------------------------ the draft
def slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", normalise_label(name).replace("'", "")).strip("-")
    return text if re.match(r"^[a-z]", text) else f"m-{text}"


def choose_layout(path: Path) -> Layout:
    """The data sheet of a file (the one whose header names most fields) and its layout. A hidden
    sheet only where no visible one has a header (a hidden sheet is mostly a lookup list or an older
    copy; but an export may hide its one data sheet, which a delivery is then read from too, with the
    warning sheet-hidden: the draft says so)."""
    found = [(grid, layout) for grid in read_grids(path) if (layout := find_layout(grid))]
    layouts = [layout for grid, layout in found if not grid.hidden] or [layout for _, layout in found]
    if not layouts:
        raise DraftError(f"{path.name}: no sheet has a header naming at least three known columns "
                         f"within its first {HEADER_SEARCH_ROWS} rows")
    return max(layouts, key=lambda lay: (sum(g.confidence for g in lay.columns.values()), len(lay.data)))


def draft_contract(files: list[Path], display_name: str) -> str:
    """The draft contract (YAML with comments) for the exports `files` of one municipality."""
    layouts = [choose_layout(Path(f)) for f in files]
    first = layouts[0]
    labels: dict[str, None] = {}
    follow: dict[str, None] = {}
    for layout in layouts:
        labels.update(dict.fromkeys(str(v).strip() for v in column_values(layout, "outcome")))
        follow.update(dict.fromkeys(str(v).strip() for v in column_values(layout, "follow_up")))
    with_code = bool(labels) and sum(bool(LABEL_CODE_PREFIX.match(v)) for v in labels) > len(labels) / 2
    labels, follow = _distinct(labels, with_code), _distinct(follow, with_code)
    outcome = label_guesses(list(labels), with_code, detention_split="follow_up" not in first.columns)
    follow_up = follow_up_guesses(list(follow), with_code)
    stored_as, formats = date_notation(layouts)
    intakes = [d for layout in layouts for v in column_values(layout, "intake_date") if (d := _as_date(v, formats))]
    return _render(display_name, files, first, outcome, follow_up, with_code, stored_as, formats,
                   min(intakes) if intakes else None, record_id_rules(layouts))


def _distinct(labels: dict[str, None], with_code: bool) -> dict[str, None]:
    """One spelling per label as a contract compares them (case, spaces, code part)."""
    seen: dict[str, str] = {}
    for label in labels:
        key = normalise_label(label)
        seen.setdefault(LABEL_CODE_PREFIX.sub("", key) if with_code else key, label)
    return dict.fromkeys(seen.values())


def _as_date(value: Any, formats: list[str]) -> date | None:
    from transforms.values import parse_date_value

    parsed = parse_date_value(value, tuple(formats) or DATE_FORMATS)
    return parsed if isinstance(parsed, date) else None


def q(text: Any) -> str:
    """A YAML scalar in double quotes (JSON strings are valid YAML)."""
    return json.dumps(str(text), ensure_ascii=False)


def _render(display_name: str, files: list[Path], layout: Layout, outcome: dict[str, Guess],
            follow_up: dict[str, Guess], with_code: bool, stored_as: str, formats: list[str],
            earliest: date | None, record_ids: dict[str, Any]) -> str:
    grid = layout.grid
    name = slug(display_name)
    start = earliest.replace(day=1) if earliest else None
    lines = [f"# Source contract: LVV {display_name}. Drafted by `lvv contract draft` from "
             f"{', '.join(Path(f).name for f in files)}.",
             "# Keys: docs/steward-guide.md (section 6). Review every '# CHECK'; fill in every '???' ('# DECIDE').",
             f"municipality: {name}", f"display_name: {q(display_name)}",
             (f"pilot_start: {start.isoformat()}  # CHECK: the month of the first intake in the files; "
              "put the pilot's real start date" if start else "pilot_start: ???  # DECIDE: no intake date found"),
             "grain: one row per LVV stay (episode) of one person, open or closed, as registered on the stand-per date",
             "file:"]
    if grid.sheet is None:
        lines += ["  type: csv" + _named_otherwise(grid.file, "csv"), f"  encoding: {grid.encoding}",
                  f"  delimiter: {q(grid.delimiter)}"]
    else:
        lines += ["  type: xlsx" + _named_otherwise(grid.file, "xlsx"), f"  sheet: {q(grid.sheet)}" + (
            "  # CHECK: this sheet is hidden in the file, and no visible sheet has a header; a delivery "
            "is read from it with the warning sheet-hidden: ask the municipality to export it visible"
            if grid.hidden else "")]
    upper = _from_upper_row(layout)
    elsewhere = ", ".join(f"{q(layout.columns[f].value)} ({cell})" for f, cell in upper.items())
    lines.append(f"  header_row: {layout.header_row}" + (
        f"  # CHECK: the column names stand over two rows, {layout.upper_row} and {layout.header_row} (merged "
        f"cells or a group row above the names); a delivery is read from one header row, where {elsewhere} "
        "are not: ask the municipality for an export with every column name in one row" if upper else ""))
    if layout.stand_per_label or layout.stand_per_file_name:
        lines.append("  stand_per:")
        if layout.stand_per_label:
            lines.append(f"    label: {q(layout.stand_per_label)}")
        else:
            lines.append(f"    file_name: {q(layout.stand_per_file_name)}  # the date in the file name")
    if layout.row_count_label:
        lines.append(f"  row_count_label: {q(layout.row_count_label)}")
    lines.append("columns:")
    for f in ("record_id", "person_id", "full_name", "family_name", "given_name", "birth_date", "intake_date",
              "exit_date", "outcome", "follow_up"):
        guess = layout.columns.get(f)
        if guess is None:
            if f in ("record_id", "person_id", "intake_date", "exit_date", "outcome"):
                lines.append(f"  {f}: ???  # DECIDE: no column found; headers left: {', '.join(layout.unknown) or '-'}")
            continue
        note = "" if guess.confidence >= SURE else f"  # CHECK: header matched at {guess.confidence:.0%}"
        if f in upper:
            note = f"  # CHECK: in row {layout.upper_row} ({upper[f]}), not in the header row" + note.replace(
                "  # CHECK:", ";")
        lines.append(f"  {f}: {q(guess.value)}{note}")
    if layout.ignored or layout.unknown:
        lines.append("ignore_columns:  # dropped when read, never stored")
        lines += [f"  - {q(h)}" for h in layout.ignored]
        lines += [f"  - {q(h)}  # CHECK: unknown column, ignored" for h in layout.unknown]
    lines += ["dates:", f"  stored_as: {stored_as}"]
    if formats:
        lines.append(f"  formats: [{', '.join(q(f) for f in formats)}]")
    if with_code:
        lines.append("labels_with_code: true  # labels are written as code and text ('03 - Terugkeer')")
    if record_ids:
        lines.append("record_ids:  # record numbers written in more than one way")
        lines += [f"  {k}: {q(v)}" for k, v in record_ids.items()]
    lines.append("outcomes:")
    for label, guess in outcome.items():
        lines.append(f"  {q(label)}: {_target(guess)}")
    if follow_up:
        lines.append("follow_ups:")
        for label, guess in follow_up.items():
            lines.append(f"  {q(label)}: {_target(guess)}")
    if layout.not_data:
        lines += ["not_data:", f"  first_cell_matches: [{', '.join(q(p) for p in layout.not_data)}]"]
    return "\n".join(lines) + "\n"


#: what a file's name says it is, where it says so
NAMED_AS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xlsx"}


def _named_otherwise(file: Path, kind: str) -> str:
    """A '# CHECK' where the file's name says another type than its content (an .xlsx saved as
    export.csv): a delivery is read as the contract's type says, whatever its name; a municipality
    agreed to send CSV that sends a workbook has its delivery refused as file-not-csv under a
    contract that says csv, so which one it will send is for the steward to settle."""
    named = NAMED_AS.get(file.suffix.lower())
    if named is None or named == kind:
        return ""
    return (f"  # CHECK: {file.name} is named as {'CSV' if named == 'csv' else 'a workbook'} but is "
            f"{'an Excel workbook (.xlsx)' if kind == 'xlsx' else 'CSV text'}; a delivery is read as this type "
            "says: agree with the municipality which one it sends")


def _target(guess: Guess) -> str:
    if guess.value is None:
        return f"???  # DECIDE: no taxonomy code is close (best {guess.confidence:.0%})"
    if isinstance(guess.value, tuple):
        outcome, follow = guess.value
        text = outcome if follow is None else f"{{outcome: {outcome}, follow_up: {follow}}}"
    else:
        text = guess.value
    note = f"  # {guess.confidence:.0%} like {guess.source}"
    return text + (note if guess.confidence >= SURE else f"  # CHECK: only {guess.confidence:.0%} like {guess.source}")


# ------------------------------------------------------------------ does it work?
@dataclass
class DraftCheck:
    """The verdict on a draft: the lines left to decide, else each file's counts and errors."""

    to_decide: list[str]
    files: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.to_decide and all(f["status"] == "accepted" and not f["errors"] for f in self.files)


def check_draft(text: str, files: list[Path]) -> DraftCheck:
    """Load the draft as a contract and check every file with it (as `lvv validate` does)."""
    from pydantic import ValidationError

    from transforms.delivery import check_delivery
    from transforms.protect import Pseudonymiser

    open_lines = [f"line {n}: {line.strip()}" for n, line in enumerate(text.splitlines(), start=1)
                  if "???" in line.split("#", 1)[0]]
    if open_lines:
        return DraftCheck(open_lines)
    try:
        contract = SourceContract.model_validate(load_yaml(text))
    except ValidationError as exc:
        return DraftCheck([f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()])
    verdicts = []
    for path in files:
        result = check_delivery(Path(path), contract, None, Pseudonymiser("draft-check"), infer_period=True)
        errors = Counter(f.code for f in result.findings if f.severity in ("fatal", "error"))
        verdicts.append({"file": Path(path).name, "status": result.delivery["status"],
                         "rows_read": result.delivery["rows_read"], "rows_curated": result.delivery["rows_curated"],
                         "rows_quarantined": result.delivery["rows_quarantined"], "errors": dict(errors)})
    return DraftCheck([], verdicts)


__all__ = ["DraftCheck", "DraftError", "check_draft", "choose_layout", "draft_contract", "slug"]
