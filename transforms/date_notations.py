"""Which other notation a column of unreadable dates is written in, told once per column.

A text date in a notation the source contract does not list is a `date-unparseable` finding, one
per cell; accepting it would go past the contract, which is the recorded decision. What a steward
facing thousands of them needs to see is that the column is simply written another way, and how.
`written_in` says of one cell's text which of a fixed list of notations read it as a date (stage
keeps that on the finding as `written`: strptime notations, never the text), and
`notation_findings` turns a delivery's date-unparseable findings into one finding per file, sheet
and column where most of them are read by one notation: `date-notation-other` (that notation, as a
pattern like yyyy-mm-dd and as the strptime notation the contract takes) or, where another
notation reads the same cells as well (07/08/2019: day first or month first), `date-notation-ambiguous`,
which names both and guesses neither. Nothing here makes a cell readable: the figures do not change.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

from schemas.checks import Finding
from transforms.scrub import scrub_digits

#: a date of three groups of ASCII digits between one repeated separator, a time after it or not
_SHAPE = re.compile(r"(?P<a>[0-9]{1,4})(?P<s>[-/.])(?P<b>[0-9]{1,2})(?P=s)(?P<c>[0-9]{1,4})"
                    r"(?:(?P<t>[ T])(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?P<f>\.[0-9]{1,6})?)?)?")
#: a date of eight digits, no separator
_COMPACT = re.compile(r"[0-9]{8}")
#: longer texts are no date in any notation here (a cell holds up to the limits' cell_chars)
_LONGEST = 32
#: the orders tried, by the widths of a text's first and last group, each with where its year,
#: month and day stand among the groups a, b, c: orders a register writes (year-day-month and a
#: two-digit year first are not among them)
_ORDERS = {"year_first": (("%Y{s}%m{s}%d", "abc"),),
           "four_digit_year": (("%d{s}%m{s}%Y", "cba"), ("%m{s}%d{s}%Y", "cab")),
           "two_digit_year": (("%d{s}%m{s}%y", "cba"), ("%m{s}%d{s}%y", "cab"))}
#: eight digits: each order with the slices of its year, month and day
_COMPACT_ORDERS = (("%Y%m%d", slice(0, 4), slice(4, 6), slice(6, 8)),
                   ("%d%m%Y", slice(4, 8), slice(2, 4), slice(0, 2)),
                   ("%m%d%Y", slice(4, 8), slice(0, 2), slice(2, 4)))
_TIMES = ("", " %H:%M", " %H:%M:%S", " %H:%M:%S.%f", "T%H:%M", "T%H:%M:%S", "T%H:%M:%S.%f")
#: every notation written_in may name
NOTATIONS = tuple(order.format(s=s) + time for orders in _ORDERS.values() for order, _ in orders
                  for s in "-/." for time in _TIMES) + tuple(fmt for fmt, *_ in _COMPACT_ORDERS)
#: strptime directives as a steward writes them, per language
_PATTERN_WORDS = {"nl": {"%Y": "jjjj", "%y": "jj", "%m": "mm", "%d": "dd", "%H": "uu", "%M": "mm", "%S": "ss",
                         "%f": "ffffff"},
                  "en": {"%Y": "yyyy", "%y": "yy", "%m": "mm", "%d": "dd", "%H": "hh", "%M": "mm", "%S": "ss",
                         "%f": "ffffff"}}
#: a reading before this year is no reading (a day and month taken for a year: '20121012' as dmY)
FIRST_YEAR = 1900
CODES = ("date-notation-other", "date-notation-ambiguous")


def written_in(value: Any) -> tuple[str, ...]:
    """The notations of NOTATIONS that read a text cell as a date in FIRST_YEAR or after, day
    first before month first; () for a cell that is no text or a text none of them reads. Two:
    the text alone does not say which (07/08/2019). "Reads" as the contract's own parse would once
    the notation is among its formats (strptime, transforms.values.parse_date_value), worked out
    from the digits with date() (strptime costs ten times more; tests/test_date_notations.py holds
    the two to the same answers). Bounded: a text longer than a date with its time is not looked at."""
    if value.__class__ is not str:
        return ()
    text = value.strip()
    if len(text) > _LONGEST:
        return ()
    if _COMPACT.fullmatch(text):
        return tuple(fmt for fmt, y, m, d in _COMPACT_ORDERS if _is_day(text[y], text[m], text[d]))
    shape = _SHAPE.fullmatch(text)
    if shape is None:
        return ()
    a, separator, c, before_time = shape["a"], shape["s"], shape["c"], shape["t"]
    kind = ("year_first" if len(a) == 4 and len(c) <= 2 else "four_digit_year" if len(a) <= 2 and len(c) == 4
            else "two_digit_year" if len(a) <= 2 and len(c) == 2 else None)
    if kind is None:
        return ()
    time = ""
    if before_time is not None:
        seconds, fraction = shape["S"], shape["f"]
        if int(shape["H"]) > 23 or int(shape["M"]) > 59 or (seconds is not None and int(seconds) > 59):
            return ()
        time = f"{before_time}%H:%M" + (":%S" if seconds else "") + (".%f" if fraction else "")
    groups = shape.group("a", "b", "c")
    found = []
    for order, places in _ORDERS[kind]:
        year, month, day = (groups["abc".index(p)] for p in places)
        if len(year) == 2:  # strptime's %y: 69-99 are 1969-1999, 00-68 are 2000-2068
            year = str(int(year) + (1900 if int(year) >= 69 else 2000))
        if _is_day(year, month, day):
            found.append(order.format(s=separator) + time)
    return tuple(found)


def _is_day(year: str, month: str, day: str) -> bool:
    if int(year) < FIRST_YEAR:
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def pattern(fmt: str, lang: str) -> str:
    """A strptime notation as a steward writes it: '%Y-%m-%d' -> 'jjjj-mm-dd' (nl), 'yyyy-mm-dd' (en)."""
    words = _PATTERN_WORDS[lang]
    return re.sub(r"%[a-zA-Z]", lambda m: words.get(m.group(), m.group()), fmt)


def notation_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per file, sheet and column whose date-unparseable findings are, more than half
    of them, read by one notation their `written` parameter names: `date-notation-other` when no
    other notation reads as many, `date-notation-ambiguous` (naming each) when another does.
    Located at the column, no row and no value; linear in the findings."""
    cells: dict[tuple[str, str, str, str, str], int] = {}
    read_by: dict[tuple[str, str, str, str, str], Counter[str]] = {}
    accepted: dict[tuple[str, str, str, str, str], str] = {}
    for f in findings:
        if f.code != "date-unparseable":
            continue
        where = (f.file, f.sheet, f.column_letter, f.column_header, f.field)
        cells[where] = cells.get(where, 0) + 1
        read_by.setdefault(where, Counter()).update(f.params.get("written", ()))
        accepted.setdefault(where, f.params.get("accepted", "?"))
    out = []
    for where, n in cells.items():
        counts = read_by[where]
        if not counts:
            continue
        most = max(counts.values())
        if 2 * most <= n:  # not most of the column's unreadable cells: no one notation to tell of
            continue
        tied = [fmt for fmt, k in counts.items() if k == most]
        file, sheet, letter, header, field_name = where
        params: dict[str, Any] = {"count": most, "cells": n, "accepted": accepted[where],
                                  "column": f"{letter} ({scrub_digits(header)})" if header else letter}
        if len(tied) == 1:
            params.update(format=tied[0], pattern_nl=pattern(tied[0], "nl"), pattern_en=pattern(tied[0], "en"))
        else:
            params.update(patterns_nl=" of ".join(pattern(fmt, "nl") for fmt in tied),
                          patterns_en=" or ".join(pattern(fmt, "en") for fmt in tied))
        out.append(Finding(CODES[len(tied) > 1], file=file, sheet=sheet, column_letter=letter,
                           column_header=header, field=field_name, params=params))
    return out


__all__ = ["CODES", "FIRST_YEAR", "NOTATIONS", "notation_findings", "pattern", "written_in"]
