"""Scrubbing of free text kept from a row: no identifier in a label, a quarantined cell or a finding.

A steward types what they like into a label column: 'Terug naar BBB 0970859557 Traoré' carries a
V-number and a name. Every text value that is kept from a row (an unknown label, a raw cell in
quarantine, a finding's value) passes `RowScrubber.scrub` first, which masks the row's own
identifiers (its V-number in any notation, its record number, its names, its birth date in the
usual notations) and `scrub_digits`, which masks any run of six or more digits (someone else's
V-number, a BSN, a phone number). What is kept says where the problem is (the cell) and what kind
of text stood there; the identifier is gone before anything is stored or shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from schemas import ascii_digits

MASK = "***"
_LONG_DIGITS = re.compile(r"\d{6,}")
_SEPARATOR = r"[\s.\-/]?"
#: date notations a birth date may be typed in
_DATE_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d", "%d%m%Y", "%d-%m-%y", "%Y%m%d")


#: what a spreadsheet may take for the start of a formula (or a DDE command) when a CSV is opened
RISKY_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """A value for a cell or CSV field the project writes: text that Excel could take for a
    formula gets a leading apostrophe (= + - @ tab CR); numbers and dates pass unchanged."""
    if isinstance(value, str) and value.startswith(RISKY_START):
        return "'" + value
    return value


def scrub_digits(text: str) -> str:
    """Mask every run of six or more digits."""
    return _LONG_DIGITS.sub(MASK, text)


def identifier_pattern(values: Iterable[Any]) -> re.Pattern | None:
    """One expression matching any of a row's identifiers in the notations people type them in:
    numbers with or without separators and leading zeros, words (names) whole and in any case,
    dates in the usual day-month-year and year-month-day forms."""
    parts: list[str] = []
    for value in values:
        if value is None or value == "":
            continue
        if isinstance(value, (date, datetime)):
            day = value.date() if isinstance(value, datetime) else value
            parts += [re.escape(day.strftime(f)) for f in _DATE_FORMATS]
            parts.append(rf"0?{day.day}[-/.]0?{day.month}[-/.]{day.year}")
            continue
        text = ascii_digits(str(value).strip())  # a number typed in another script's digits is the same number
        digits = re.sub(r"\D", "", text)
        significant = digits.lstrip("0")
        if len(significant) >= 4 and len(digits) >= len(re.sub(r"\s", "", text)) - 2:
            # a number (a V-number, a record number): its digits with any separators, leading zeros optional
            parts.append(r"(?<!\d)(?:0" + _SEPARATOR + ")*" + _SEPARATOR.join(significant) + r"(?!\d)")
        for word in re.findall(r"[^\W_]{2,}|\d+", text):
            if len(word) >= 3 or (len(word) == 2 and not word.isdigit()):
                parts.append(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])")
        if len(text) >= 3:
            parts.append(re.escape(text))
    if not parts:
        return None
    # the longest first, so a full notation is masked whole rather than piece by piece; parts of one
    # length in a fixed order (their text), not the set's, which follows the process's string hashes:
    # a family name whose whole text is as long as its first word's part was masked whole in one
    # process and word by word in another, so the same delivery gave other findings text run to run
    return re.compile("|".join(sorted(set(parts), key=lambda part: (-len(part), part))), re.IGNORECASE)


def scrub(text: str, pattern: re.Pattern | None) -> str:
    """Mask the identifiers `pattern` matches, then any run of six or more digits."""
    if not text:
        return text
    if pattern is not None:
        text = _masked(text, pattern)
    return scrub_digits(text)


def _masked(text: str, pattern: re.Pattern) -> str:
    """The text with what `pattern` matches masked, looked for in the text with ASCII digits
    (identifier_pattern builds its numbers from them): a record number '34567' in a label typed
    with Arabic-Indic or full-width digits is found too. ascii_digits turns each character into one,
    so a match's span in it is the same span of the text as it stands, which is what is kept."""
    probe = ascii_digits(text)
    if probe == text:
        return pattern.sub(MASK, text)
    parts, at = [], 0
    for found in pattern.finditer(probe):
        parts += [text[at:found.start()], MASK]
        at = found.end()
    return "".join(parts) + text[at:]


class RowScrubber:
    """Scrubs text kept from the rows of one sheet, each with that row's own identifiers.

    cells: excel_row -> the row's identifier cells (person, record, names, birth date); the
    expression of a row is built on first use, so a sheet with few findings costs little.
    """

    def __init__(self, identifiers: Any):
        self._identifiers = identifiers
        self._patterns: dict[int, re.Pattern | None] = {}

    def scrub(self, text: str, excel_row: int | None) -> str:
        if not text:
            return text
        if excel_row is None:
            return scrub_digits(text)
        if excel_row not in self._patterns:
            self._patterns[excel_row] = identifier_pattern(self._identifiers(excel_row))
        return scrub(text, self._patterns[excel_row])


__all__ = ["MASK", "RISKY_START", "formula_safe", "RowScrubber", "identifier_pattern", "scrub", "scrub_digits"]
