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

from schemas import ascii_digits, load_yaml, without_invisible
from schemas.taxonomy import DEFAULT_FOLLOW_UP, OUTCOMES_WITH_FOLLOW_UP, FollowUp, Outcome

SOURCES_DIR = Path(__file__).resolve().parent / "sources"
#: a directory of further source contracts, read besides schemas/sources/ (optional)
SOURCES_DIR_ENV = "LVV_SOURCES_DIR"

#: canonical fields a contract maps to column headers; the first group is required
REQUIRED_FIELDS = ("record_id", "person_id", "intake_date", "exit_date", "outcome")
OPTIONAL_FIELDS = ("follow_up", "family_name", "given_name", "full_name", "birth_date")
#: direct identifiers: pseudonymised (person_id, record_id) or dropped (the rest) at the protect step
DROPPED_IDENTIFIERS = ("family_name", "given_name", "full_name", "birth_date")
#: a label written as code and text ('03 - Terugkeer', '3. Terugkeer', '03: Terugkeer'): the code part
LABEL_CODE_PREFIX = re.compile(r"^\s*\d{1,3}\s*[-–.:)]\s*(?=\S)")
DATE_FIELDS = ("intake_date", "exit_date", "birth_date")


class ContractError(ValueError):
    """A source contract that cannot be used, with the file and key that are wrong."""


def normalise_label(label: object) -> str:
    """A label as compared against a vocabulary: case-folded, accents kept, spaces collapsed,
    characters nobody sees left out."""
    text = unicodedata.normalize("NFC", without_invisible(str(label)))
    text = re.sub(r"\s+", " ", text).strip().casefold()
    return text.rstrip(" .")


class StandPer(BaseModel):
    """Where the file states its own 'stand per' date: a cell in the title block after a label,
    or else its file name (`lvv_export_20210331.csv` with file_name `%Y%m%d`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str | None = Field(None, description="text in the title block; the date follows it in the same "
                                                "or next cell")
    file_name: str | None = Field(None, description="strptime notation of a date in the file name")

    @field_validator("file_name")
    @classmethod
    def _date_notation(cls, notation: str | None) -> str | None:
        if notation is not None and not {"%Y", "%m", "%d"} <= set(re.findall(r"%[a-zA-Z]", notation)):
            raise ValueError(f"{notation!r} must hold %Y, %m and %d")
        if notation is not None and set(re.findall(r"%[a-zA-Z]", notation)) - {"%Y", "%m", "%d"}:
            raise ValueError(f"{notation!r}: only %Y, %m and %d are allowed")
        return notation

    @model_validator(mode="after")
    def _somewhere(self) -> "StandPer":
        if self.label is None and self.file_name is None:
            raise ValueError("stand_per needs a label, a file_name notation, or both")
        return self

    def file_name_pattern(self) -> re.Pattern | None:
        """The file_name notation as a regular expression with groups Y, m and d."""
        if self.file_name is None:
            return None
        parts = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})"}
        pieces = re.split(r"(%[Ymd])", self.file_name)
        return re.compile("".join(parts.get(p, re.escape(p)) for p in pieces))


class FileLayout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["xlsx", "csv"]
    sheet: str | None = None
    header_row: int = Field(1, ge=1, description="1-based row of the header, as Excel shows it")
    encoding: str = "utf-8"
    delimiter: str = ","
    stand_per: StandPer | None = None
    row_count_label: str | None = Field(
        None, description="text of a closing line that states the number of data rows ('Aantal regels: 412')")

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

    @field_validator("first_cell_matches")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return patterns


class RecordIds(BaseModel):
    """How a municipality's record numbers are normalised before they are pseudonymised."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    trim: bool = Field(True, description="drop spaces around the number")
    case: Literal["keep", "upper", "lower"] = "keep"
    strip_prefix: str | None = Field(None, description="a prefix some rows carry and others not ('DOS-')")

    def normalise(self, text: str | None) -> str | None:
        """One record number in its canonical form (None stays None). Digits of another script
        are ASCII digits first ('٣٤٥' is 345), and characters nobody sees are dropped (a zero-width
        space pasted after it): the same stay typed either way is one episode."""
        if text is None:
            return None
        text = ascii_digits(without_invisible(text))
        if self.trim:
            text = text.strip()
        if self.case == "upper":
            text = text.upper()
        elif self.case == "lower":
            text = text.lower()
        if self.strip_prefix and text.casefold().startswith(self.strip_prefix.casefold()):
            text = text[len(self.strip_prefix):].lstrip() if self.trim else text[len(self.strip_prefix):]
        return text or None


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
    #: headers of known extra columns (notes, names of staff): dropped when read, never stored
    ignore_columns: tuple[str, ...] = ()
    #: labels written as code and text ('03 - Terugkeer'): the number code is ignored when looking up
    labels_with_code: bool = False
    record_ids: RecordIds = Field(default_factory=RecordIds)

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
    def _ignored_columns_are_not_mapped(self) -> "SourceContract":
        mapped = {normalise_label(c) for c in self.columns.values()}
        both = [c for c in self.ignore_columns if normalise_label(c) in mapped]
        if both:
            raise ValueError(f"ignore_columns: {both} are also mapped under columns")
        return self

    @model_validator(mode="after")
    def _full_name_or_parts(self) -> "SourceContract":
        if "full_name" in self.columns and ({"family_name", "given_name"} & set(self.columns)):
            raise ValueError("columns: full_name replaces family_name and given_name; map one or the others")
        return self

    @property
    def not_data_patterns(self) -> tuple[str, ...]:
        """not_data.first_cell_matches, plus the closing row-count line when the file has one."""
        label = self.file.row_count_label
        extra = ("^" + re.escape(normalise_label(label)),) if label else ()
        return (*self.not_data.first_cell_matches, *extra)

    def label_key(self, label: object) -> str:
        """A label as looked up in this contract's vocabularies (code part dropped when so set)."""
        key = normalise_label(label)
        return LABEL_CODE_PREFIX.sub("", key) if self.labels_with_code else key

    @model_validator(mode="after")
    def _labels_unique_after_normalising(self) -> "SourceContract":
        for name, vocab in (("outcomes", self.outcomes), ("follow_ups", self.follow_ups)):
            seen: dict[str, str] = {}
            for label in vocab:
                key = self.label_key(label)
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
                lookup[self.label_key(label)] = (str(target.outcome), follow)
            else:
                lookup[self.label_key(label)] = (str(target), None)
        return lookup

    def follow_up_lookup(self) -> dict[str, str]:
        return {self.label_key(label): str(code) for label, code in self.follow_ups.items()}

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
        raw = load_yaml(path.read_text(encoding="utf-8"))
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
