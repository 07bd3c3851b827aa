"""The row rules of the StagedEpisodes contract, each written once (issue 11, item 7).

A rule says whether a row breaks it, as a function of the row's typed fields `r[...]`. Written
with the operators below, the same function takes one row (a dict of plain values, None for a
missing one: `lvv validate`, which must not import pandas) or every row at once (a DataFrame,
NaT/NA for a missing value: the pandera schema in schemas/episodes.py wraps each rule in a
vectorised check named after its code). Adding a rule here adds it to both paths.

The person-number pattern and the duplicate record number (a rule over the rows, not of one row)
are kept beside them: PERSON_ID_PATTERN, and each path's own grouping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from schemas.taxonomy import OUTCOMES_WITH_FOLLOW_UP

#: ten ASCII digits: not `\d`, which Python's re and pandas take for a digit of any script (Arabic-
#: Indic, full-width), so that such a V-number never reaches a pseudonym as typed
#: (values.normalise_person_id writes those digits in ASCII first)
PERSON_ID_PATTERN = r"^[0-9]{10}$"


def _columns(x: Any) -> bool:
    return hasattr(x, "notna")


def present(x: Any) -> Any:
    """The value is there (not None, NaT or NA)."""
    return x.notna() if _columns(x) else x is not None and x == x


def both(*xs: Any) -> Any:
    out = xs[0]
    for x in xs[1:]:
        out = out & x
    return out


def either(a: Any, b: Any) -> Any:
    return a | b


def negate(x: Any) -> Any:
    return ~x if _columns(x) else not x


def before(a: Any, b: Any) -> Any:
    """a < b; false where either is missing."""
    if _columns(a) or _columns(b):
        return a < b  # NaT compares false
    return present(a) and present(b) and a < b


def one_of(x: Any, values: frozenset[str]) -> Any:
    return x.isin(sorted(values)) if _columns(x) else x in values


@dataclass(frozen=True)
class RowRule:
    """A rule of one row: the field a finding points at, and when the row breaks it."""

    field: str
    broken: Callable[[Any], Any]


#: code -> rule, in the order findings are reported; each code is a check in schemas/checks.yaml
ROW_RULES: dict[str, RowRule] = {
    "exit-before-intake": RowRule("exit_date", lambda r: before(r["exit_date"], r["intake_date"])),
    "exit-without-outcome": RowRule("outcome", lambda r: both(present(r["exit_date"]),
                                                              negate(r["has_outcome_label"]))),
    "outcome-without-exit": RowRule("exit_date", lambda r: both(r["has_outcome_label"],
                                                                negate(r["has_exit_value"]))),
    "follow-up-not-detention": RowRule("follow_up", lambda r: both(
        r["has_follow_up_label"], present(r["outcome_code"]),
        negate(one_of(r["outcome_code"], OUTCOMES_WITH_FOLLOW_UP)))),
    "date-after-delivery": RowRule("intake_date", lambda r: either(before(r["known_from"], r["intake_date"]),
                                                                   before(r["known_from"], r["exit_date"]))),
}


__all__ = ["PERSON_ID_PATTERN", "ROW_RULES", "RowRule", "before", "both", "either", "negate", "one_of", "present"]
