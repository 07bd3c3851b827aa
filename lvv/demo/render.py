"""From what a delivery states to the cells of one data row, in a municipality's own words.

Driven by the demo's own register tables only (registers.py: columns and their order, date
notation, outcome and follow-up labels), never by a source contract; the register habits
(scenario.Habits) add the noise real registers have.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import re
import unicodedata

from lvv.demo.registers import FOLLOW_UP_OUTCOMES, UNKNOWN_FOLLOW_UP, Register
from lvv.demo.scenario import Habits
from lvv.demo.truth import Episode, MistakeSpec

EXCEL_EPOCH = date(1899, 12, 30)
#: share of text dates in the register's first format (the rest spread over the others)
FIRST_FORMAT_SHARE = 0.8
#: share of labels that are the register's first label for a code (the rest: its other labels)
FIRST_LABEL_SHARE = 0.7


def excel_serial(day: date) -> int:
    return (day - EXCEL_EPOCH).days


class RegisterError(ValueError):
    """A register table the renderer cannot write from."""


def squash(label: object) -> str:
    """A label as a reader would match it: case-folded, spaces collapsed, trailing dot dropped."""
    text = unicodedata.normalize("NFC", str(label))
    return re.sub(r"\s+", " ", text).strip().casefold().rstrip(" .")


def _pick(options: list[str], u: float) -> str:
    if len(options) == 1 or u < FIRST_LABEL_SHARE:
        return options[0]
    rest = options[1:]
    return rest[
        min(int((u - FIRST_LABEL_SHARE) / (1 - FIRST_LABEL_SHARE) * len(rest)), len(rest) - 1)
    ]


def add_noise(label: str, u_noise: float, u_variant: float, level: float) -> str:
    """The label as typed by hand: odd capitals or spaces that a reader absorbs."""
    if u_noise >= level:
        return label
    variant = int(u_variant * 5)
    if variant == 0:
        noisy = label.lower()
    elif variant == 1:
        noisy = label.upper()
    elif variant == 2:
        noisy = " " + label
    elif variant == 3:
        noisy = label + "  "
    else:
        noisy = label.replace(" ", "  ", 1) if " " in label else label + " "
    assert squash(noisy) == squash(label), (label, noisy)
    return noisy


class Renderer:
    """Cells of data rows for one register: columns in the register's order (+ an extra one)."""

    def __init__(self, register: Register, habits: Habits) -> None:
        self.register = register
        self.habits = habits
        self.fields = list(register.columns)
        self.headers = list(register.columns.values())
        if habits.extra_column:
            if habits.extra_column in self.headers:
                raise RegisterError(
                    f"{register.municipality}: extra column {habits.extra_column!r} is named"
                )
            self.headers.append(habits.extra_column)
        self.index = {f: i for i, f in enumerate(self.fields)}
        self.known_labels = {squash(label) for label in register.all_outcome_labels()}
        self._cache: dict[tuple[Any, ...], list[Any]] = {}

    # -- vocabulary --------------------------------------------------------------------------
    def outcome_labels(self, outcome: str, follow_up: str | None) -> tuple[str, ...]:
        """The register's labels for an outcome (with its follow-up when the label carries it)."""
        key = (outcome, None)
        if self.register.follow_up_in_label and outcome in FOLLOW_UP_OUTCOMES:
            key = (outcome, follow_up or UNKNOWN_FOLLOW_UP)
        labels = self.register.outcome_labels.get(key)
        if not labels:
            raise RegisterError(f"{self.register.municipality}: no label for {key}")
        return labels

    def follow_up_cell(self, follow_up: str | None, e: Episode) -> str | None:
        code = follow_up or UNKNOWN_FOLLOW_UP
        labels = list(self.register.follow_up_labels.get(code, ()))
        if code == UNKNOWN_FOLLOW_UP and (not labels or e.u_blank_follow_up < 0.5):
            return None  # an empty follow-up means unknown
        if not labels:
            raise RegisterError(f"{self.register.municipality}: no follow-up label for {code!r}")
        return add_noise(_pick(labels, e.u_label), e.u_noise, e.u_variant, self.habits.label_noise)

    # -- dates -------------------------------------------------------------------------------
    def date_cell(self, day: date, u_format: float) -> date | int | str:
        stored_as = self.register.date_stored_as
        if stored_as == "date":
            return day
        if stored_as == "excel_serial":
            return excel_serial(day)
        formats = self.register.date_formats
        if len(formats) == 1 or u_format < FIRST_FORMAT_SHARE:
            fmt = formats[0]
        else:
            share = (u_format - FIRST_FORMAT_SHARE) / (1 - FIRST_FORMAT_SHARE)
            fmt = formats[1 + min(int(share * (len(formats) - 1)), len(formats) - 2)]
        return day.strftime(fmt)

    # -- rows --------------------------------------------------------------------------------
    def row(self, e: Episode, period: int) -> list[Any]:
        """A fresh list of the cells of an episode's row in the delivery of `period`."""
        stated = e.stated(period)
        key = (e.key, stated)
        cells = self._cache.get(key)
        if cells is None:
            cells = self._cells(e, *stated)
            self._cache[key] = cells
        return list(cells)

    def _cells(
        self, e: Episode, exit_date: date | None, outcome: str | None, follow_up: str | None
    ) -> list[Any]:
        cells: list[Any] = []
        for f in self.fields:
            if f == "record_id":
                cells.append(e.record_id)
            elif f in ("person_id", "family_name", "given_name"):
                cells.append(getattr(e, f))
            elif f in ("intake_date", "birth_date"):
                cells.append(self.date_cell(getattr(e, f), e.u_date_format[f]))
            elif f == "exit_date":
                cells.append(
                    None if exit_date is None else self.date_cell(exit_date, e.u_date_format[f])
                )
            elif f == "outcome":
                if outcome is None:
                    cells.append(None)
                else:
                    label = _pick(list(self.outcome_labels(outcome, follow_up)), e.u_label)
                    cells.append(add_noise(label, e.u_noise, e.u_variant, self.habits.label_noise))
            elif f == "follow_up":
                has = outcome is not None and outcome in FOLLOW_UP_OUTCOMES
                cells.append(self.follow_up_cell(follow_up, e) if has else None)
            else:  # pragma: no cover - registers.py names no other field
                raise RegisterError(f"{self.register.municipality}: unknown field {f!r}")
        if self.habits.extra_column:
            cells.append(e.remark)
        return cells

    # -- planted mistakes --------------------------------------------------------------------
    def plant(self, cells: list[Any], e: Episode, mistake: MistakeSpec) -> Any:
        """Put a planted mistake into the cells; returns the value as written."""
        i = self.index[mistake.field]
        if mistake.kind == "date-unparseable":
            value: Any = str(mistake.param)
        elif mistake.kind == "outcome-unknown-label":
            value = self._typo(str(cells[i]), int(mistake.param or 0))
        elif mistake.kind == "person-id-missing":
            value = None
        elif mistake.kind == "exit-before-intake":
            value = self.date_cell(
                e.intake_date - timedelta(days=int(mistake.param or 1)),
                e.u_date_format["exit_date"],
            )
        else:
            raise ValueError(f"unknown mistake kind {mistake.kind!r}")
        cells[i] = value
        return value

    def _typo(self, label: str, start: int) -> str:
        """The label with two neighbouring letters swapped (or one dropped), mapped by nothing."""
        n = len(label)
        candidates = []
        for k in range(n - 1):
            i = (start + k) % (n - 1)
            a, b = label[i], label[i + 1]
            if a.isalpha() and b.isalpha() and a.lower() != b.lower():
                candidates.append(label[:i] + b + a + label[i + 2 :])
        candidates += [label[:i] + label[i + 1 :] for i in range(n) if label[i].isalpha()]
        for typo in candidates:
            if squash(typo) not in self.known_labels:
                return typo
        return label + "x"
