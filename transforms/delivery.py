"""One delivery from file to protected rows: read, stage, validate, quarantine, pseudonymise.

`process_delivery` is the whole per-delivery path as a plain function; the flow runs it as one
task per delivery. Its result holds no direct identifier: person and record numbers are
pseudonymised and names and birth dates are gone before it returns.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from schemas.checks import Finding
from schemas.contracts import SourceContract
from schemas.episodes import PERSON_ID_PATTERN
from transforms.protect import Pseudonymiser
from transforms.read import DeliveryRejected, RawSheet, column_letter, read_source
from transforms.stage import Locator, Staged, record_findings, stage_rows, validate_staged

PERIOD_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
EPISODE_COLUMNS = ["delivery_id", "municipality", "known_from", "excel_row", "episode_id", "person_id",
                   "intake_date", "exit_date", "outcome_code", "follow_up_code"]


@dataclass
class DeliveryResult:
    """What one delivery contributed: its record, curated rows, quarantined rows and findings."""

    delivery: dict
    episodes: pd.DataFrame
    quarantine: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.delivery["status"] == "accepted"


def month_end(period: str) -> date:
    year, month = (int(x) for x in period.split("-"))
    return date(year, month, calendar.monthrange(year, month)[1])


def parse_period(text: str) -> str | None:
    match = PERIOD_PATTERN.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return text.strip()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def process_delivery(path: Path, contract: SourceContract, period: str | None,
                     pseudonymiser: Pseudonymiser, display_name: str | None = None,
                     infer_period: bool = False) -> DeliveryResult:
    """Read, stage, validate and protect one delivery. Never raises for bad input.

    With infer_period (a steward's check before delivery), a missing period is taken from the
    file's own 'stand per' date, or else is the month before today.
    """
    name = display_name or path.name
    municipality = contract.municipality
    record = {
        "delivery_id": f"{municipality}/{period or '?'}", "municipality": municipality,
        "period": period, "file": name, "sha256": file_sha256(path) if path.exists() else None,
        "stand_per": None, "stand_per_stated": False, "status": "rejected",
        "rows_read": 0, "rows_curated": 0, "rows_quarantined": 0, "rows_skipped": 0,
    }
    try:
        if period is None and not infer_period:
            raise DeliveryRejected([Finding("period-missing", file=name,
                                            params={"found": path.parent.name})])
        raw = read_source(path, contract, name)
        if period is None:
            period = (raw.stand_per or date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
            record["period"], record["delivery_id"] = period, f"{municipality}/{period}"
        stand_per = raw.stand_per or month_end(period)
        if raw.stand_per and raw.stand_per.strftime("%Y-%m") != period:
            raise DeliveryRejected([Finding("period-inconsistent", file=name, sheet=raw.sheet, params={
                "period": period, "stand_per": raw.stand_per.strftime("%d-%m-%Y")})])
    except DeliveryRejected as rejected:
        return DeliveryResult(record, _empty_episodes(), pd.DataFrame(), rejected.findings)
    staged = stage_rows(raw, contract, stand_per, hide=pseudonymiser.hide)
    loc = Locator(raw, pseudonymiser.hide)
    findings = staged.findings + validate_staged(staged, loc) + record_findings(staged, loc)
    bad_rows = {f.excel_row for f in findings if f.severity == "error" and f.excel_row is not None}
    frame = staged.frame
    is_bad = frame.index.isin(sorted(bad_rows))
    episodes = _protect(frame[~is_bad], contract, pseudonymiser)
    quarantine = _quarantine(frame[is_bad], staged, findings, contract, pseudonymiser)
    record.update(
        layout=sheet_layout(raw),
        stand_per=stand_per, stand_per_stated=raw.stand_per is not None, status="accepted",
        rows_read=len(raw.rows), rows_curated=len(episodes), rows_quarantined=len(quarantine),
        rows_skipped=len(staged.skipped_rows),
    )
    for table in (episodes, quarantine):
        if len(table):
            table.insert(0, "delivery_id", record["delivery_id"])
    return DeliveryResult(record, episodes, quarantine, findings)


def _protect(frame: pd.DataFrame, contract: SourceContract, pseudo: Pseudonymiser) -> pd.DataFrame:
    out = pd.DataFrame({
        "municipality": contract.municipality,
        "known_from": frame["known_from"].dt.date,
        "excel_row": frame.index.astype("int64"),
        "episode_id": [pseudo.episode(contract.municipality, r) for r in frame["record_id"]],
        "person_id": [pseudo.person(p) for p in frame["person_id"]],
        "intake_date": frame["intake_date"].dt.date,
        "exit_date": frame["exit_date"].dt.date,
        "outcome_code": frame["outcome_code"],
        "follow_up_code": frame["follow_up_code"],
    })
    return out.reset_index(drop=True)


def sheet_layout(raw: RawSheet) -> dict:
    """Where each field stands in this delivery's sheet (for locating later findings)."""
    return {"sheet": raw.sheet, "header_row": raw.header_row,
            "columns": {f: [column_letter(i), raw.headers[i]] for f, i in raw.positions.items()}}


def _quarantine(frame: pd.DataFrame, staged: Staged, findings: list[Finding],
                contract: SourceContract, pseudo: Pseudonymiser) -> pd.DataFrame:
    """Quarantined rows: location, reasons, pseudonyms and every contract cell as text."""
    if frame.empty:
        return pd.DataFrame()
    reasons: dict[int, list[str]] = {}
    for f in findings:
        if f.severity == "error" and f.excel_row is not None:
            reasons.setdefault(f.excel_row, []).append(f.code)
    out = pd.DataFrame({
        "municipality": contract.municipality,
        "excel_row": frame.index.astype("int64"),
        "episode_id": [pseudo.episode(contract.municipality, r) if isinstance(r, str) and r else None
                       for r in frame["record_id"]],
        "reasons": [", ".join(sorted(set(reasons.get(int(r), [])))) for r in frame.index],
        "person_id": [pseudo.person(p) if isinstance(p, str) and re.match(PERSON_ID_PATTERN, p) else None
                      for p in frame["person_id"]],
    })
    raw_text = staged.raw_text_for(frame.index)
    if not raw_text.empty:
        out = out.join(raw_text, on="excel_row")
    return out.reset_index(drop=True)


def _empty_episodes() -> pd.DataFrame:
    return pd.DataFrame(columns=EPISODE_COLUMNS[1:])
