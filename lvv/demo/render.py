"""From what a delivery states to the cells of one data row, in a municipality's own words.

Driven by the source contract only (columns and their order, date notation, outcome and
follow-up labels); the register habits (scenario.Habits) add the noise real registers have.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from lvv.demo.scenario import Habits
from lvv.demo.truth import Episode, MistakeSpec
from schemas.contracts import ContractError, MappedOutcome, SourceContract, normalise_label
from schemas.taxonomy import DEFAULT_FOLLOW_UP, OUTCOMES_WITH_FOLLOW_UP

EXCEL_EPOCH = date(1899, 12, 30)
#: share of text dates in the contract's first format (the rest spread over the others)
FIRST_FORMAT_SHARE = 0.8
#: share of labels that are the contract's first label for a code (the rest: its other labels)
FIRST_LABEL_SHARE = 0.7


def excel_serial(day: date) -> int:
    return (day - EXCEL_EPOCH).days


def _target(target: object) -> tuple[str, str | None]:
    if isinstance(target, MappedOutcome):
        return str(target.outcome), str(target.follow_up) if target.follow_up else None
    return str(target), None


def _pick(options: list[str], u: float) -> str:
    if len(options) == 1 or u < FIRST_LABEL_SHARE:
        return options[0]
    rest = options[1:]
    return rest[
        min(int((u - FIRST_LABEL_SHARE) / (1 - FIRST_LABEL_SHARE) * len(rest)), len(rest) - 1)
    ]


def add_noise(label: str, u_noise: float, u_variant: float, level: float) -> str:
    """The label as typed by hand: odd capitals or spaces that normalise_label absorbs."""
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
    assert normalise_label(noisy) == normalise_label(label), (label, noisy)
    return noisy


class Renderer:
    """Cells of data rows for one contract: columns in the contract's order (+ an extra one)."""

    def __init__(self, contract: SourceContract, habits: Habits) -> None:
        self.contract = contract
        self.habits = habits
        self.fields = list(contract.columns)
        self.headers = list(contract.columns.values())
        if habits.extra_column:
            if habits.extra_column in self.headers:
                raise ContractError(
                    f"{contract.municipality}: extra column {habits.extra_column!r} is named"
                )
            self.headers.append(habits.extra_column)
        self.index = {f: i for i, f in enumerate(self.fields)}
        self.lookup = contract.outcome_lookup()
        self._outcome_labels: dict[tuple[str, str | None], list[str]] = {}
        self._follow_up_labels: dict[str, list[str]] = {}
        for label, code in contract.follow_ups.items():
            self._follow_up_labels.setdefault(str(code), []).append(label)
        self._cache: dict[tuple[Any, ...], list[Any]] = {}

    # -- vocabulary --------------------------------------------------------------------------
    def outcome_labels(self, outcome: str, follow_up: str | None) -> list[str]:
        """The contract's labels for an outcome (with its follow-up when the label carries it)."""
        key = (outcome, follow_up)
        if key not in self._outcome_labels:
            items = [(label, _target(t)) for label, t in self.contract.outcomes.items()]
            found: list[str] = []
            if self.contract.follow_up_in_label and outcome in OUTCOMES_WITH_FOLLOW_UP:
                wanted = follow_up or DEFAULT_FOLLOW_UP
                found = [label for label, (o, f) in items if o == outcome and f == wanted]
            if not found:
                found = [label for label, (o, f) in items if o == outcome and f is None]
            if not found:
                found = [self.contract.label_for(outcome, follow_up)]
            self._outcome_labels[key] = found
        return self._outcome_labels[key]

    def follow_up_cell(self, follow_up: str | None, e: Episode) -> str | None:
        code = follow_up or DEFAULT_FOLLOW_UP
        labels = self._follow_up_labels.get(code, [])
        if code == DEFAULT_FOLLOW_UP and (not labels or e.u_blank_follow_up < 0.5):
            return None  # an empty follow-up means unknown
        if not labels:
            raise ContractError(f"{self.contract.municipality}: no follow-up label for {code!r}")
        return add_noise(_pick(labels, e.u_label), e.u_noise, e.u_variant, self.habits.label_noise)

    # -- dates -------------------------------------------------------------------------------
    def date_cell(self, day: date, u_format: float) -> date | int | str:
        notation = self.contract.dates
        if notation.stored_as == "date":
            return day
        if notation.stored_as == "excel_serial":
            return excel_serial(day)
        formats = notation.formats
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
                    label = _pick(self.outcome_labels(outcome, follow_up), e.u_label)
                    cells.append(add_noise(label, e.u_noise, e.u_variant, self.habits.label_noise))
            elif f == "follow_up":
                has = outcome is not None and outcome in OUTCOMES_WITH_FOLLOW_UP
                cells.append(self.follow_up_cell(follow_up, e) if has else None)
            else:  # pragma: no cover - contracts.py allows no other field
                raise ContractError(f"{self.contract.municipality}: unknown field {f!r}")
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
            if normalise_label(typo) not in self.lookup:
                return typo
        return label + "x"
