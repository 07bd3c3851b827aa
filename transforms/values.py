"""Parsing single cell values: blanks, dates in any of the notations a contract allows, identifiers."""

from __future__ import annotations

import math
import re
from functools import cache
from datetime import date, datetime, timedelta
from typing import Any

from schemas import ascii_digits, without_invisible  # noqa: F401  (values.ascii_digits: the name transforms use)

EXCEL_EPOCH = date(1899, 12, 30)
#: serial numbers of 1950-01-01 .. 2100-12-31: a plain number outside this is not a plausible date
SERIAL_RANGE = (18264, 73415)
_DIGITS = re.compile(r"^\d+(\.0+)?$")


class Unparseable(str):
    """Marker for a value that could not be parsed; holds the text as found."""


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def as_text(value: Any) -> str:
    """A cell as the steward reads it: numbers without a trailing .0, dates as dd-mm-yyyy."""
    if is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d-%m-%Y") if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.strftime("%d-%m-%Y")
    return str(value)


def serial_to_date(serial: float) -> date:
    return EXCEL_EPOCH + timedelta(days=int(serial))


def parse_date_value(value: Any, formats: tuple[str, ...]) -> date | None | Unparseable:
    """A date from a cell: a date cell, an Excel serial number, or text in one of `formats`.

    Returns None for a blank cell and an Unparseable (the text as found) when nothing fits.
    """
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if SERIAL_RANGE[0] <= value <= SERIAL_RANGE[1] and float(value).is_integer():
            return serial_to_date(value)
        return Unparseable(as_text(value))
    text = str(value).strip()
    if _DIGITS.match(text) and SERIAL_RANGE[0] <= float(text) <= SERIAL_RANGE[1]:
        return serial_to_date(float(text))
    for fmt in formats:
        fast = fixed_width(fmt)
        if fast is not None:
            if (found := fast.fullmatch(text)) is not None:
                try:
                    return date(int(found["Y"]), int(found["m"]), int(found["d"]))
                except ValueError:  # 31-02-2020: strptime says what it says
                    pass
            elif _loose(fmt).fullmatch(text) is None:
                continue  # no text strptime takes: its ValueError, at ten times the cost
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return Unparseable(text)


#: the directives a date notation may hold for fixed_width, with the digits each takes there
_WIDTHS = {"d": 2, "m": 2, "Y": 4}


@cache
def fixed_width(fmt: str) -> re.Pattern | None:
    """A date notation made of %d, %m and %Y once each, between separators other than letters,
    digits, spaces and '%' (the usual '%d-%m-%Y'), as a regular expression of ASCII digits at full
    width: '31-10-2020', not '1-10-2020'. A text it matches is a date by the notation when
    date(...) takes its numbers, the date strptime gives ten times slower (strptime takes every
    other text: tests/test_values.py holds the two to the same answers). None for any other notation.
    """
    parts = re.split(r"%(.)", fmt)
    directives, separators = parts[1::2], parts[0::2]
    if sorted(directives) != sorted(_WIDTHS) or any(
            ch.isalnum() or ch.isspace() or ch == "%" for ch in "".join(separators)):
        return None
    pattern = "".join(re.escape(separators[i]) + f"(?P<{d}>[0-9]{{{_WIDTHS[d]}}})"
                      for i, d in enumerate(directives)) + re.escape(separators[-1])
    return re.compile(pattern)


@cache
def _loose(fmt: str) -> re.Pattern:
    """For a notation fixed_width takes: a regular expression that matches every text
    `datetime.strptime(text, fmt)` takes, and more. strptime matches %d as one or two digits or a
    space and a digit, %m as one or two digits, %Y as four, where a digit is a decimal digit of
    any script (its `\\d`), the other characters as they stand, ignoring case, and takes a text
    only if that match runs to its end. A text this does not match fails strptime for certain
    (tests/test_values.py holds the two to the same answers)."""
    parts = re.split(r"%(.)", fmt)
    widths = {"d": r"[\d ]{1,2}", "m": r"\d{1,2}", "Y": r"\d{4}"}
    return re.compile("".join(re.escape(parts[i]) + (widths[parts[i + 1]] if i + 1 < len(parts) else "")
                              for i in range(0, len(parts), 2)), re.IGNORECASE)


def notation(formats: tuple[str, ...]) -> str:
    """The accepted date notations in a steward's words: '31-10-2020' style examples."""
    sample = date(2020, 10, 31)
    return ", ".join(sample.strftime(f) for f in formats)


def parse_identifier(value: Any, width: int | None = None) -> str | None:
    """An identifier cell as text: numbers lose no digits, a number cell gets its zeros back."""
    if is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
        return text.zfill(width) if width else text
    if isinstance(value, int):
        return str(value).zfill(width) if width else str(value)
    return str(value).strip()


PERSON_ID_DIGITS = 10
#: a leading 'V' (for V-nummer) and its separator, and the separators typed between digit groups
_V_PREFIX = re.compile(r"^v\s*[-.:]?\s*", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s.\-\u00a0\u2009\u202f]+")
_NUMBER_AS_TEXT = re.compile(r"^[0-9]{1,10}\.0+$")


def normalise_person_id(value: Any) -> tuple[str | None, bool]:
    """A V-number cell in its canonical form (10 digits) and whether that changed what was typed.

    Spaces, dots and dashes between the digits and a leading 'V' are dropped ('V 6652.327.800',
    '6652 327 800'), digits of another script become ASCII digits (ascii_digits), characters nobody
    sees are dropped (without_invisible); a number cell
    gets back the leading zeros Excel took off (12345678 -> '0012345678'). A value that still is not 10 digits is returned as found (stripped), so that
    the check on its form reports it; a text cell of fewer digits is never padded, since nothing
    says a zero was lost.
    """
    if is_blank(value):
        return None, False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        text = str(int(value))
        if 0 < int(value) and len(text) <= PERSON_ID_DIGITS:
            return text.zfill(PERSON_ID_DIGITS), len(text) < PERSON_ID_DIGITS
        return text, False
    found = str(value).strip()
    text = ascii_digits(without_invisible(found))
    if _NUMBER_AS_TEXT.match(text):  # '665232780.0': a number cell written out as text, not a dot
        canonical, _ = normalise_person_id(int(text.split(".")[0]))
        return canonical, True
    digits = _SEPARATORS.sub("", _V_PREFIX.sub("", text))
    if len(digits) == PERSON_ID_DIGITS and digits.isascii() and digits.isdigit():
        return digits, digits != found
    return found, False
