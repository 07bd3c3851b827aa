"""The shared outcome taxonomy, reporting lines, durability classes and counting rules.

Everything here is loaded from the YAML files beside this module (``taxonomy.yaml`` and
``rules/*.rule.yaml``); nothing is retyped in code. The enums below are generated from that data.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas import load_yaml

SCHEMAS_DIR = Path(__file__).resolve().parent
TAXONOMY_FILE = SCHEMAS_DIR / "taxonomy.yaml"
RULES_DIR = SCHEMAS_DIR / "rules"


class Term(BaseModel):
    """One entry of a controlled vocabulary: a stable code with Dutch and English labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    nl: str
    en: str
    has_follow_up: bool = False


class Taxonomy(BaseModel):
    """The controlled vocabularies of taxonomy.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    outcomes: tuple[Term, ...]
    follow_ups: tuple[Term, ...]
    reporting_lines: tuple[Term, ...]
    durability_classes: tuple[Term, ...]

    def codes(self, vocabulary: str) -> list[str]:
        return [term.code for term in getattr(self, vocabulary)]


@cache
def taxonomy() -> Taxonomy:
    """The taxonomy, loaded once from taxonomy.yaml."""
    return Taxonomy.model_validate(load_yaml(TAXONOMY_FILE.read_text(encoding="utf-8")))


def _enum(name: str, vocabulary: str) -> type[StrEnum]:
    return StrEnum(name, {code: code for code in taxonomy().codes(vocabulary)})


Outcome = _enum("Outcome", "outcomes")
FollowUp = _enum("FollowUp", "follow_ups")
ReportingLine = _enum("ReportingLine", "reporting_lines")
Durability = _enum("Durability", "durability_classes")

#: the outcomes that take a follow-up (immigration detention)
OUTCOMES_WITH_FOLLOW_UP: frozenset[str] = frozenset(
    term.code for term in taxonomy().outcomes if term.has_follow_up
)
#: what an empty follow-up of such an outcome means
DEFAULT_FOLLOW_UP = "unknown"


class RuleRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    outcome: Outcome  # type: ignore[valid-type]
    follow_up: FollowUp | None = None  # type: ignore[valid-type]
    line: ReportingLine  # type: ignore[valid-type]
    durability: Durability  # type: ignore[valid-type]


class RuleChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    case: str
    choice: str
    why: str


class CountingRule(BaseModel):
    """A named, versioned mapping from outcome (+ follow-up) to reporting line and durability."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: int
    title: str
    source: str
    mapping: tuple[RuleRow, ...]
    choices: tuple[RuleChoice, ...] = Field(default_factory=tuple)

    @model_validator(mode="after")
    def _covers_every_case(self) -> "CountingRule":
        cases = self.cases()
        missing = [c for c in all_cases() if c not in cases]
        if missing:
            raise ValueError(f"rule {self.name!r} does not classify {missing}")
        return self

    def cases(self) -> dict[tuple[str, str | None], tuple[str, str]]:
        """(outcome, follow_up or None) -> (line, durability), with follow-ups expanded."""
        out: dict[tuple[str, str | None], tuple[str, str]] = {}
        for row in self.mapping:
            follow_ups: list[str | None]
            if row.outcome in OUTCOMES_WITH_FOLLOW_UP:
                follow_ups = [row.follow_up] if row.follow_up else taxonomy().codes("follow_ups")
            else:
                follow_ups = [None]
            for follow_up in follow_ups:
                key = (str(row.outcome), str(follow_up) if follow_up else None)
                if key in out:
                    raise ValueError(f"rule {self.name!r} classifies {key} twice")
                out[key] = (str(row.line), str(row.durability))
        return out


def all_cases() -> list[tuple[str, str | None]]:
    """Every (outcome, follow_up) pair a counting rule must classify."""
    cases: list[tuple[str, str | None]] = []
    for outcome in taxonomy().codes("outcomes"):
        if outcome in OUTCOMES_WITH_FOLLOW_UP:
            cases += [(outcome, f) for f in taxonomy().codes("follow_ups")]
        else:
            cases.append((outcome, None))
    return cases


@cache
def counting_rules() -> dict[str, CountingRule]:
    """All counting rules in rules/, by name."""
    rules: dict[str, CountingRule] = {}
    for path in sorted(RULES_DIR.glob("*.rule.yaml")):
        rule = CountingRule.model_validate(load_yaml(path.read_text(encoding="utf-8")))
        if rule.name in rules:
            raise ValueError(f"{path.name}: counting rule {rule.name!r} is defined twice")
        rules[rule.name] = rule
    return rules


def counting_rule_rows() -> list[dict[str, Any]]:
    """The counting rules as flat rows (one per rule, outcome and follow-up), for DuckDB."""
    rows = []
    for rule in counting_rules().values():
        for (outcome, follow_up), (line, durability) in rule.cases().items():
            rows.append(
                {
                    "definition": rule.name,
                    "definition_version": rule.version,
                    "outcome_code": outcome,
                    "follow_up_code": follow_up,
                    "line": line,
                    "durability": durability,
                }
            )
    return rows


def taxonomy_rows() -> list[dict[str, Any]]:
    """Every vocabulary entry as a flat row (vocabulary, position, code, nl, en), for DuckDB."""
    rows = []
    for vocabulary in ("outcomes", "follow_ups", "reporting_lines", "durability_classes"):
        for position, term in enumerate(getattr(taxonomy(), vocabulary), start=1):
            rows.append(
                {"vocabulary": vocabulary, "position": position, "code": term.code,
                 "label_nl": term.nl, "label_en": term.en}
            )
    return rows


PUBLISHED_FILE = SCHEMAS_DIR / "published_figures.yaml"


def published_figure_rows() -> list[dict[str, Any]]:
    """The published figures (reference data) as flat rows, for DuckDB."""
    raw = load_yaml(PUBLISHED_FILE.read_text(encoding="utf-8"))["figures"]
    keys = ("table", "reference_date", "definition", "measure", "municipality", "line", "persons", "note")
    rows = [{k: item.get(k) for k in keys} for item in raw]
    for row in rows:
        row["table_name"] = row.pop("table")
    return rows
