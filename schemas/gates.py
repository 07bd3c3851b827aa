"""The plausibility gates' thresholds and words: the `gates:` section of schemas/checks.yaml."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache


from schemas import load_yaml
from schemas.checks import CHECKS_FILE


@dataclass(frozen=True)
class Gate:
    """One measure: its threshold, the size below which it is not applied, and its words."""

    code: str
    threshold: float
    min_compared: int
    nl: str
    en: str

    def reason(self, lang: str, **values: object) -> str:
        return string.Formatter().vformat(self.nl if lang == "nl" else self.en, (), values)


@cache
def default_gates() -> dict[str, Gate]:
    """The gates of schemas/checks.yaml, by code."""
    raw = load_yaml(CHECKS_FILE.read_text(encoding="utf-8"))
    return {g["code"]: Gate(g["code"], float(g["threshold"]), int(g.get("min_compared", 0)), g["nl"], g["en"])
            for g in raw.get("gates", [])}


def gates_for(overrides: dict[str, float] | None = None) -> dict[str, Gate]:
    """The gates with a municipality's thresholds (its contract's `gates:`) in place of the defaults."""
    gates = dict(default_gates())
    for code, threshold in (overrides or {}).items():
        if code not in gates:
            raise KeyError(f"unknown gate {code!r}; known: {sorted(gates)}")
        gate = gates[code]
        gates[code] = Gate(code, float(threshold), gate.min_compared, gate.nl, gate.en)
    return gates


@dataclass(frozen=True)
class RevisionTolerance:
    """How far the figures already published may move before a person must accept it."""

    months: int
    persons: int
    share: float

    def is_large(self, before: int, change: int) -> bool:
        return abs(change) > self.persons and abs(change) > self.share * abs(before)


@cache
def revision_tolerance() -> RevisionTolerance:
    """The `revisions:` section of schemas/checks.yaml."""
    raw = load_yaml(CHECKS_FILE.read_text(encoding="utf-8"))["revisions"]
    return RevisionTolerance(int(raw["months"]), int(raw["persons"]), float(raw["share"]))
