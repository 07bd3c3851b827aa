"""The validation check catalogue (checks.yaml) and the finding record every step produces."""

from __future__ import annotations

import string
import dataclasses
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from schemas import load_yaml

CHECKS_FILE = Path(__file__).resolve().parent / "checks.yaml"
Severity = Literal["fatal", "error", "warning", "info"]
Lang = Literal["nl", "en"]


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    level: Literal["file", "field", "record", "revision", "correction", "row"]
    severity: Severity
    nl: str
    en: str
    fix_nl: str
    fix_en: str
    example: str = ""

    def render(self, lang: Lang, params: dict[str, Any]) -> tuple[str, str]:
        """(message, fix) in the language asked, with every placeholder filled."""
        values = _Defaulting(params)
        fmt = string.Formatter()
        message = fmt.vformat(self.nl if lang == "nl" else self.en, (), values)
        fix = fmt.vformat(self.fix_nl if lang == "nl" else self.fix_en, (), values)
        return message, fix


class Limits(BaseModel):
    """The limits checked before a delivery is parsed, and the bound on stored findings (checks.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file_mb: float
    member_mb: float
    compression_ratio: float
    sheets: int
    rows: int
    columns: int
    cells: int
    cell_chars: int
    findings_per_check: int
    findings_shown: int


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "?"


@cache
def _checks_file() -> dict[str, Any]:
    return load_yaml(CHECKS_FILE.read_text(encoding="utf-8"))


@cache
def limits() -> Limits:
    """The limits section of checks.yaml."""
    return Limits.model_validate(_checks_file()["limits"])


@cache
def catalogue() -> dict[str, Check]:
    """Every check, by code."""
    raw = _checks_file()
    checks = [Check.model_validate(item) for item in raw["checks"]]
    return {check.code: check for check in checks}


@dataclass
class Finding:
    """One problem (or skipped row) found in a delivery, located as the steward sees it.

    `value` is the cell exactly as it stands in the file, except for identifier columns, where it
    holds the pseudonym (or nothing): no raw person identifier ever leaves the read step.
    """

    code: str
    file: str = ""
    sheet: str = ""
    excel_row: int | None = None
    column_letter: str = ""
    column_header: str = ""
    field: str = ""
    value: str = ""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def check(self) -> Check:
        return catalogue()[self.code]

    @property
    def severity(self) -> Severity:
        return self.check.severity

    @property
    def cell_ref(self) -> str:
        if self.column_letter and self.excel_row:
            return f"{self.column_letter}{self.excel_row}"
        return ""

    def as_row(self, lang: Lang = "nl") -> dict[str, Any]:
        check = self.check
        message, fix = check.render(lang, {"value": self.value, **self.params})
        # the fields but params, as they stand (plain values: dataclasses.asdict's deep copy is not needed)
        row = {name: getattr(self, name) for name in _ROW_FIELDS}
        row.update(severity=check.severity, level=check.level, cell_ref=self.cell_ref, message=message, fix=fix)
        return row


#: the fields of a Finding a row shows as they stand (params fill in the message instead)
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(Finding) if f.name != "params")


def bounded(findings: list[Finding], per_check: int | None = None) -> list[Finding]:
    """The first `per_check` findings of each check (default: the limits' findings_per_check), in
    their order, and for each check with more one `findings-more` finding that counts the rest.
    What a run stores of one delivery is then bounded whatever the delivery holds."""
    per_check = limits().findings_per_check if per_check is None else per_check
    counts: dict[str, int] = {}
    kept: list[Finding] = []
    for f in findings:
        counts[f.code] = counts.get(f.code, 0) + 1
        if counts[f.code] <= per_check:
            kept.append(f)
    file = findings[0].file if findings else ""
    kept += [Finding("findings-more", file=file, params={"check": code, "more": n - per_check, "kept": per_check})
             for code, n in counts.items() if n > per_check]
    return kept


FINDING_COLUMNS = [
    "code", "severity", "level", "file", "sheet", "excel_row", "column_letter", "column_header",
    "cell_ref", "field", "value", "message", "fix",
]
