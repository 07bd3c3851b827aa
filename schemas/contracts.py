"""Source contracts: how one municipality's export is laid out, as data (schemas/sources/*.yaml).

A contract is validated strictly when loaded: an unknown key, an outcome label mapped to a code
outside the taxonomy, or a missing required column is an error that names the file and the key.
Onboarding a sixth municipality means writing one such file; no code changes.
"""

from __future__ import annotations

import os
import re
import unicodedata
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.taxonomy import DEFAULT_FOLLOW_UP, OUTCOMES_WITH_FOLLOW_UP, FollowUp, Outcome

SOURCES_DIR = Path(__file__).resolve().parent / "sources"
#: a directory of further source contracts, read besides schemas/sources/ (optional)
SOURCES_DIR_ENV = "LVV_SOURCES_DIR"

#: canonical fields a contract maps to column headers; the first group is required
REQUIRED_FIELDS = ("record_id", "person_id", "intake_date", "exit_date", "outcome")
OPTIONAL_FIELDS = ("follow_up", "family_name", "given_name", "birth_date")
#: direct identifiers: pseudonymised (person_id, record_id) or dropped (the rest) at the protect step
DROPPED_IDENTIFIERS = ("family_name", "given_name", "birth_date")
DATE_FIELDS = ("intake_date", "exit_date", "birth_date")


class ContractError(ValueError):
    """A source contract that cannot be used, with the file and key that are wrong."""


def normalise_label(label: object) -> str:
    """A label as compared against a vocabulary: case-folded, accents kept, spaces collapsed."""
    text = unicodedata.normalize("NFC", str(label))
    text = re.sub(r"\s+", " ", text).strip().casefold()
    return text.rstrip(" .")


class StandPer(BaseModel):
    """Where the file states its own 'stand per' date: a cell in the title block after a label."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str = Field(description="text in the title block; the date follows it in the same or next cell")


class FileLayout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["xlsx", "csv"]
    sheet: str | None = None
    header_row: int = Field(1, ge=1, description="1-based row of the header, as Excel shows it")
    encoding: str = "utf-8"
    delimiter: str = ","
    stand_per: StandPer | None = None

    @model_validator(mode="after")
    def _sheet_for_xlsx(self) -> "FileLayout":
        if self.type == "xlsx" and not self.sheet:
            raise ValueError("file.sheet is required for an xlsx source")
        return self


class DateNotation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stored_as: Literal["date", "excel_serial", "text"]
    formats: tuple[str, ...] = ("%d-%m-%Y",)


class MappedOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    outcome: Outcome  # type: ignore[valid-type]
    follow_up: FollowUp | None = None  # type: ignore[valid-type]


class NotData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    first_cell_matches: tuple[str, ...] = ()


class SourceContract(BaseModel):
    """One municipality's export layout and vocabulary."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    municipality: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    display_name: str
    pilot_start: date
    grain: str
    file: FileLayout
    columns: dict[str, str]
    dates: DateNotation
    outcomes: dict[str, Outcome | MappedOutcome]  # type: ignore[valid-type]
    follow_ups: dict[str, FollowUp] = Field(default_factory=dict)  # type: ignore[valid-type]
    not_data: NotData = Field(default_factory=NotData)
    gates: dict[str, float] = Field(default_factory=dict, description=(
        "plausibility thresholds of this municipality in place of those in schemas/checks.yaml"))

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {REQUIRED_FIELDS + OPTIONAL_FIELDS}")
        missing = [f for f in REQUIRED_FIELDS if f not in columns]
        if missing:
            raise ValueError(f"required field(s) {missing} have no column")
        return columns

    @field_validator("gates")
    @classmethod
    def _known_gates(cls, gates: dict[str, float]) -> dict[str, float]:
        from schemas.gates import default_gates

        unknown = sorted(set(gates) - set(default_gates()))
        if unknown:
            raise ValueError(f"unknown gate(s) {unknown}; known: {sorted(default_gates())}")
        if any(not 0 <= v for v in gates.values()):
            raise ValueError("a gate threshold is a share of at least 0")
        return gates

    @model_validator(mode="after")
    def _labels_unique_after_normalising(self) -> "SourceContract":
        for name, vocab in (("outcomes", self.outcomes), ("follow_ups", self.follow_ups)):
            seen: dict[str, str] = {}
            for label in vocab:
                key = normalise_label(label)
                if key in seen:
                    raise ValueError(f"{name}: labels {seen[key]!r} and {label!r} are the same label")
                seen[key] = label
        return self

    def outcome_lookup(self) -> dict[str, tuple[str, str | None]]:
        """normalised label -> (outcome code, follow-up code implied by the label or None)."""
        lookup: dict[str, tuple[str, str | None]] = {}
        for label, target in self.outcomes.items():
            if isinstance(target, MappedOutcome):
                follow = str(target.follow_up) if target.follow_up else None
                lookup[normalise_label(label)] = (str(target.outcome), follow)
            else:
                lookup[normalise_label(label)] = (str(target), None)
        return lookup

    def follow_up_lookup(self) -> dict[str, str]:
        return {normalise_label(label): str(code) for label, code in self.follow_ups.items()}

    def label_for(self, outcome: str, follow_up: str | None) -> str:
        """The municipality's own label for a taxonomy outcome (the first one listed)."""
        fallback = None
        for label, target in self.outcomes.items():
            if isinstance(target, MappedOutcome):
                if target.outcome == outcome and (target.follow_up or None) == (follow_up or None):
                    return label
                if target.outcome == outcome and fallback is None and target.follow_up is None:
                    fallback = label
            elif target == outcome:
                return label
        if fallback is None:
            raise KeyError(f"{self.municipality}: no label for {outcome}/{follow_up}")
        return fallback

    @property
    def follow_up_in_label(self) -> bool:
        """True when the follow-up is part of the outcome label instead of its own column."""
        return "follow_up" not in self.columns


def load_contract(path: Path) -> SourceContract:
    """Load and strictly validate one source contract, naming the file in any error."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return SourceContract.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"{path}: cannot be read: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ContractError(f"{path}: {problems}") from None


def contracts(sources_dir: Path | None = None) -> dict[str, SourceContract]:
    """All source contracts, by municipality: those of one directory when given, else
    schemas/sources/ plus the directory named by $LVV_SOURCES_DIR (extra contracts, such as a
    synthetic network's), which may not redefine a municipality."""
    if sources_dir is not None:
        return _contracts_in(Path(sources_dir))
    extra = os.environ.get(SOURCES_DIR_ENV)
    if not extra:
        return _contracts_in(SOURCES_DIR)
    return _merged(SOURCES_DIR, Path(extra).expanduser().resolve())


@cache
def _merged(base: Path, extra: Path) -> dict[str, SourceContract]:
    found = dict(_contracts_in(base))
    for name, contract in _contracts_in(extra).items():
        if name in found:
            raise ContractError(f"{extra / (name + '.yaml')}: {name!r} already has a contract in {base}")
        found[name] = contract
    return found


@cache
def _contracts_in(sources_dir: Path) -> dict[str, SourceContract]:
    found: dict[str, SourceContract] = {}
    for path in sorted(sources_dir.glob("*.yaml")):
        contract = load_contract(path)
        if contract.municipality != path.stem:
            raise ContractError(f"{path}: municipality {contract.municipality!r} differs from the file name")
        found[contract.municipality] = contract
    return found


def contract_for(municipality: str) -> SourceContract:
    """The contract of one municipality, or a ContractError listing the known ones."""
    known = contracts()
    key = municipality.strip().lower()
    if key not in known:
        raise ContractError(f"no source contract for {municipality!r}; known: {', '.join(sorted(known))}")
    return known[key]


__all__ = [
    "DATE_FIELDS", "DEFAULT_FOLLOW_UP", "DROPPED_IDENTIFIERS", "OUTCOMES_WITH_FOLLOW_UP",
    "REQUIRED_FIELDS", "ContractError", "SourceContract", "contract_for", "contracts",
    "load_contract", "normalise_label",
]
