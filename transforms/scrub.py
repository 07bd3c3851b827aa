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

import heapq
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from functools import lru_cache
from typing import Any, NamedTuple

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


def identifier_pattern(values: Iterable[Any]) -> IdentifierPattern | None:
    """What matches any of a row's identifiers in the notations people type them in: numbers with
    or without separators and leading zeros, words (names) whole and in any case, dates in the
    usual day-month-year and year-month-day forms."""
    parts: set[_Part] = set()
    for value in values:
        if value is None or value == "":
            continue
        parts.update(_value_parts(value))
    if not parts:
        return None
    # the longest first, so a full notation is masked whole rather than piece by piece; parts of one
    # length in a fixed order (their text: _Part sorts so), not the set's, which follows the
    # process's string hashes: a family name whose whole text is as long as its first word's part
    # was masked whole in one process and word by word in another, so the same delivery gave other
    # findings text run to run
    return IdentifierPattern(tuple(sorted(parts)))


class _Part(NamedTuple):
    """One part of a row's identifiers: its expression, and what a text it matches holds for
    certain: the needle, found in the text's skeleton (_skeleton) or, where of_digits, in its
    decimal digits. Parts sort as the alternation tried them (identifier_pattern)."""

    longest_first: int  # minus the expression's length
    expression: str
    needle: str
    of_digits: bool


def _part(expression: str, needle: str, of_digits: bool = False) -> _Part:
    return _Part(-len(expression), expression, needle, of_digits)


#: every character but ASCII's digits, punctuation, spaces and controls: each of those matches
#: only itself, case ignored; any other may match another character (k and the Kelvin sign K)
_CASED_OR_WIDE = re.compile(r"[^\x00-\x40\x5b-\x60\x7b-\x7f]")
_NOT_DIGIT = re.compile(r"\D")


def _skeleton(text: str) -> str:
    """The text with every character that may match another one, case ignored, as one placeholder:
    a literal matches a text only where its skeleton stands in the text's skeleton."""
    return _CASED_OR_WIDE.sub("\x00", text)


def _literal(text: str) -> _Part:
    return _part(re.escape(text), _skeleton(text))


@lru_cache(maxsize=4096, typed=True)
def _value_parts(value: Any) -> tuple[_Part, ...]:
    """The parts one identifier value is matched by (identifier_pattern): the same for every row
    that states it, so worked out once for a person's V-number, names and birth date."""
    if isinstance(value, (date, datetime)):
        day = value.date() if isinstance(value, datetime) else value
        return (*(_literal(day.strftime(f)) for f in _DATE_FORMATS),
                _part(rf"0?{day.day}[-/.]0?{day.month}[-/.]{day.year}", str(day.year), True))
    parts: list[_Part] = []
    text = ascii_digits(str(value).strip())  # a number typed in another script's digits is the same number
    digits = _NOT_DIGIT.sub("", text)
    significant = digits.lstrip("0")
    if len(significant) >= 4 and len(digits) >= len(re.sub(r"\s", "", text)) - 2:
        # a number (a V-number, a record number): its digits with any separators, leading zeros optional
        parts.append(_part(r"(?<!\d)(?:0" + _SEPARATOR + ")*" + _SEPARATOR.join(significant) + r"(?!\d)",
                           significant, True))
    for word in re.findall(r"[^\W_]{2,}|\d+", text):
        if len(word) >= 3 or (len(word) == 2 and not word.isdigit()):
            parts.append(_part(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", _skeleton(word)))
    if len(text) >= 3:
        parts.append(_literal(text))
    return tuple(parts)


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> re.Pattern:
    """One part of a row's identifiers, compiled once for every row that has it."""
    return re.compile(expression, re.IGNORECASE)


#: more parts than this that a text may hold are looked for as their one alternation, compiled once
#: for every text and row that has the same (a row has about 20 parts; a name cell of hundreds of
#: words has as many: one search of each after each match would cost more than the alternation)
_MANY_PARTS = 64


@lru_cache(maxsize=16)
def _alternation(expressions: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(expressions), re.IGNORECASE)


class IdentifierPattern:
    """A row's identifier parts, matched as their alternation ('a|b|c', case ignored) would match:
    leftmost first, and of the parts that match at the same place the first in order. Only the
    parts a text may hold are compiled (their needle is in it), each once for all rows: the
    alternation was compiled again for every row with a finding, about 0.8 ms each (one person's
    20,000 stays: 20 CPU s in `lvv validate`, most of it that)."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[_Part, ...]):
        self.parts = parts

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of each match in `text`, left to right, none overlapping. A part whose
        needle the text does not hold cannot match it and is left out; each other part's next
        match waits in a heap by its start (then its order), and is looked for again only once a
        match taken passes its start: no part searches a stretch of the text twice, and a match
        taken costs the parts it passed, not all of them."""
        skeleton, digits = _skeleton(text), _NOT_DIGIT.sub("", text)
        present = tuple(part.expression for part in self.parts
                        if part.needle in (digits if part.of_digits else skeleton))
        if len(present) > _MANY_PARTS:  # identifier cells of hundreds of words: one expression of them
            yield from (found.span() for found in _alternation(present).finditer(text))
            return
        parts = [_compiled(expression) for expression in present]
        ahead = [(found.start(), k, found) for k, part in enumerate(parts) if (found := part.search(text))]
        heapq.heapify(ahead)
        at = 0
        while ahead:
            start, k, found = heapq.heappop(ahead)
            if start >= at:
                yield found.span()
                at = found.end()
            following = parts[k].search(text, at)
            if following is not None:
                heapq.heappush(ahead, (following.start(), k, following))


def scrub(text: str, pattern: IdentifierPattern | None) -> str:
    """Mask the identifiers `pattern` matches, then any run of six or more digits."""
    if not text:
        return text
    if pattern is not None:
        text = _masked(text, pattern)
    return scrub_digits(text)


def _masked(text: str, pattern: IdentifierPattern) -> str:
    """The text with what `pattern` matches masked, looked for in the text with ASCII digits
    (identifier_pattern builds its numbers from them): a record number '34567' in a label typed
    with Arabic-Indic or full-width digits is found too. ascii_digits turns each character into one,
    so a match's span in it is the same span of the text as it stands, which is what is kept."""
    parts, at = [], 0
    for start, end in pattern.spans(ascii_digits(text)):
        parts += [text[at:start], MASK]
        at = end
    return "".join(parts) + text[at:]


def forget() -> None:
    """Drop every identifier-derived value this module keeps between rows: the parts of each
    identifier value and their compiled expressions (and the compiled expressions the `re` module
    keeps of its own). They are kept only to serve one municipality's deliveries (a person recurs
    in every row and month of them); a long-running worker must not hold a register's V-numbers
    and names from one run to the next. `transforms.delivery` calls it when a batch is done."""
    for cache in (_value_parts, _compiled, _alternation):
        cache.cache_clear()
    re.purge()


def remembered() -> int:
    """How many identifier values and expressions this module holds now (0 after `forget`)."""
    return sum(cache.cache_info().currsize for cache in (_value_parts, _compiled, _alternation))


class RowScrubber:
    """Scrubs text kept from the rows of one sheet, each with that row's own identifiers.

    cells: excel_row -> the row's identifier cells (person, record, names, birth date); the
    parts of a row are gathered on first use, so a sheet with few findings costs little.
    """

    def __init__(self, identifiers: Any):
        self._identifiers = identifiers
        self._patterns: dict[int, IdentifierPattern | None] = {}

    def scrub(self, text: str, excel_row: int | None) -> str:
        if not text:
            return text
        if excel_row is None:
            return scrub_digits(text)
        if excel_row not in self._patterns:
            self._patterns[excel_row] = identifier_pattern(self._identifiers(excel_row))
        return scrub(text, self._patterns[excel_row])


__all__ = ["MASK", "RISKY_START", "IdentifierPattern", "formula_safe", "forget", "RowScrubber", "identifier_pattern",
           "remembered", "scrub", "scrub_digits"]
