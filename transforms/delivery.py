"""One delivery from file to protected rows: read, stage, validate, quarantine, pseudonymise.

`process_deliveries` is the whole path for a municipality's deliveries as a plain function (the
flow runs it in one task per municipality), staging and validating them in batches;
`process_delivery` is the same for one delivery. A result holds no direct identifier: person and
record numbers are pseudonymised and names and birth dates are gone before it returns. `check_delivery` is the
steward's check before delivery (`lvv validate`): the same reading and the same checks, row by
row without pandas or pandera, so it answers from a cold start in a second or two; it keeps
only the delivery record (counts) and the findings.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from schemas.checks import Finding, bounded
from schemas.contracts import SourceContract
from transforms.date_notations import notation_findings
from transforms.limits import Checked
from transforms.protect import Pseudonymiser
from transforms.export_rules import row_count_findings
from transforms.read import DeliveryRejected, RawSheet, column_letter, read_source
from transforms.values import as_text
from transforms import scrub
from transforms.stage import (PERSON_ID_PATTERN, Locator, ParseMemo, Staged, parse_rows, record_findings,
                              row_findings, stage_many, validate_many)

if TYPE_CHECKING:
    import pandas as pd

#: a month folder's name: YYYY-MM in ASCII digits (`\d` is any script's digit: a folder '٢٠٢٢-٠٨'
#: became a period of its own, stored and compared as text beside 2022-08)
PERIOD_PATTERN = re.compile(r"^([0-9]{4})-([0-9]{2})$")
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


class DeliveryInput(NamedTuple):
    """One delivery to process: its file, its period (None: unknown) and the name findings show."""

    path: Path
    period: str | None
    name: str | None = None


class StepClock:
    """Seconds spent in each step of process_deliveries (read, stage, validate, pseudonymise,
    curate), summed over the deliveries: benchmarks/processing.py reports them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        #: the CPU seconds of this process in each step (what a shared machine's load distorts less)
        self.cpu_seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu


#: how many data rows process_deliveries stages and validates in one pandera call at most: large
#: enough that pandera's fixed cost per call disappears, small enough to bound the memory held
BATCH_ROWS = 25_000


def process_delivery(path: Path, contract: SourceContract, period: str | None,
                     pseudonymiser: Pseudonymiser, display_name: str | None = None,
                     infer_period: bool = False) -> DeliveryResult:
    """Read, stage, validate and protect one delivery. Never raises for bad input.

    With infer_period (a steward's check before delivery), a missing period is taken from the
    file's own 'stand per' date, or else is the month before today.
    """
    batch = [DeliveryInput(path, period, display_name)]
    return next(process_deliveries(batch, contract, pseudonymiser, infer_period=infer_period))


def process_deliveries(deliveries: Iterable[DeliveryInput], contract: SourceContract,
                       pseudonymiser: Pseudonymiser, infer_period: bool = False,
                       batch_rows: int = BATCH_ROWS, clock: StepClock | None = None) -> Iterator[DeliveryResult]:
    """process_delivery for several deliveries of one municipality, yielded in the order given.

    The same results as one process_delivery each, but the sheets are staged and validated in
    batches of about `batch_rows` rows: one pandera call and one typed frame per batch, and
    each distinct cell value parsed once (a monthly register repeats last month's cells).
    clock: where the seconds of each step are added up (benchmarks/processing.py).
    """
    memo = ParseMemo(contract)
    clock = clock or StepClock()
    pending: list[tuple[dict, RawSheet, date]] = []
    rows = 0
    try:
        for item in deliveries:
            with clock.step("read"):
                record, opened = _open(item.path, contract, item.period, item.name or item.path.name, infer_period)
            if isinstance(opened, DeliveryRejected):
                yield from _finish(pending, contract, pseudonymiser, memo, clock)
                pending, rows = [], 0
                yield DeliveryResult(record, _empty_episodes(), _empty_frame(), opened.findings)
                continue
            pending.append((record, *opened))
            rows += len(opened[0].rows)
            if rows >= batch_rows:
                yield from _finish(pending, contract, pseudonymiser, memo, clock)
                pending, rows = [], 0
        yield from _finish(pending, contract, pseudonymiser, memo, clock)
    finally:  # also when the caller stops early or fails: no identifier kept past the batch
        scrub.forget()


def _finish(pending: list[tuple[dict, RawSheet, date]], contract: SourceContract, pseudonymiser: Pseudonymiser,
            memo: ParseMemo, clock: StepClock) -> Iterator[DeliveryResult]:
    """Stage and validate the opened deliveries as one batch, then quarantine and protect each."""
    import numpy as np

    if not pending:
        return
    with clock.step("stage"):
        batch = stage_many([(raw, stand_per) for _, raw, stand_per in pending], contract, pseudonymiser.hide, memo)
    with clock.step("validate"):
        locs = [Locator(raw, pseudonymiser.hide) for _, raw, _ in pending]
        validated = validate_many(batch, locs)
        findings = [staged.findings + checked + record_findings(staged, loc)
                    + row_count_findings(staged.raw, contract, staged.skipped_rows)
                    for staged, loc, checked in zip(batch.parts, locs, validated)]
    # the rows with an error are quarantined; all others are protected in one pass over the batch
    with clock.step("pseudonymise"):
        bad = np.zeros(len(batch.frame), dtype=bool)
        bad_rows = [_bad_rows(found) for found in findings]
        start = 0
        for staged, rows in zip(batch.parts, bad_rows):
            end = start + len(staged.frame)
            if rows:
                bad[start:end] = staged.frame.index.isin(sorted(rows))
            start = end
        good = batch.frame[~bad]
        protected = _protect(good.set_index("excel_row"), contract, pseudonymiser,
                             [record["delivery_id"] for record, _, _ in pending])
        bounds = np.searchsorted(good["delivery"].to_numpy(), np.arange(len(pending) + 1))
    for d, ((record, raw, stand_per), staged) in enumerate(zip(pending, batch.parts)):
        with clock.step("curate"):
            episodes = protected.iloc[bounds[d]:bounds[d + 1]].reset_index(drop=True)
            if not len(episodes):  # an empty table has no delivery_id column, as an empty quarantine
                episodes = episodes.drop(columns="delivery_id")
            frame = staged.frame
            quarantine = (_quarantine(frame[frame.index.isin(sorted(bad_rows[d]))], staged, findings[d],
                                      contract, pseudonymiser) if bad_rows[d] else _empty_frame())
            _accept(record, raw, stand_per, len(episodes), len(quarantine), len(staged.skipped_rows))
            if len(quarantine):
                quarantine.insert(0, "delivery_id", record["delivery_id"])
            # every finding marks its row for quarantine above; the result keeps a bounded number per
            # check, and a note per column of dates in another notation, told from all its cells
            # (date_notations), not from the ones the bound keeps
            notes = notation_findings(findings[d])
            result = DeliveryResult(record, episodes, quarantine, bounded(findings[d] + notes))
        yield result


@dataclass
class CheckResult:
    """A steward's check of one file: the delivery record it would make, and every finding."""

    delivery: dict
    findings: list[Finding] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.delivery["status"] == "accepted"


def check_delivery(path: Path, contract: SourceContract, period: str | None, pseudonymiser: Pseudonymiser,
                   display_name: str | None = None, infer_period: bool = True,
                   reveal: bool = False, checked: Checked | None = None) -> CheckResult:
    """The findings and counts process_delivery would give, without pandas. Never raises for bad input.

    reveal: findings show identifier cells as they stand in the file, not as a pseudonym (the
    steward's own check of their own file, on their own machine: `lvv validate`); nothing that
    is stored or published is built with it. checked: filled by the limits' pass over a workbook
    (`Checked(layout=True)`: what the steward report needs, so it streams no part again).
    """
    record, opened = _open(path, contract, period, display_name or path.name, infer_period, checked)
    if isinstance(opened, DeliveryRejected):
        return CheckResult(record, opened.findings)
    raw, stand_per = opened
    hide = _as_found if reveal else pseudonymiser.hide
    try:
        parsed = parse_rows(raw, contract, hide=hide)
        loc = Locator(raw, hide)
        findings = (parsed.findings + row_findings(parsed, loc, stand_per) + record_findings(parsed, loc)
                    + row_count_findings(raw, contract, parsed.skipped_rows))
        findings += notation_findings(findings)  # as process_delivery stores them
    finally:  # no identifier kept past the file
        scrub.forget()
    bad = len(_bad_rows(findings) & {rec["excel_row"] for rec in parsed.records})
    _accept(record, raw, stand_per, len(parsed.records) - bad, bad, len(parsed.skipped_rows))
    return CheckResult(record, findings)


def _as_found(value: str) -> str:
    """An identifier cell shown as it stands (`check_delivery(..., reveal=True)` only)."""
    return value


def _open(path: Path, contract: SourceContract, period: str | None, name: str, infer_period: bool,
          checked: Checked | None = None) -> tuple[dict, tuple[RawSheet, date] | DeliveryRejected]:
    """The delivery record (rejected until accepted) and the sheet with its stand-per date,
    or the rejection with its fatal finding."""
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
        raw = read_source(path, contract, name, checked)
        if period is None:
            period = (raw.stand_per or date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
            record["period"], record["delivery_id"] = period, f"{municipality}/{period}"
        if raw.stand_per and raw.stand_per.strftime("%Y-%m") != period:
            row, column, cell = raw.stand_per_cell or (None, None, None)
            raise DeliveryRejected([Finding(
                "period-inconsistent", file=name, sheet=raw.sheet, excel_row=row,
                column_letter=column_letter(column) if column is not None else "", value=as_text(cell),
                params={"period": period, "stand_per": raw.stand_per.strftime("%d-%m-%Y")})])
    except DeliveryRejected as rejected:
        return record, rejected
    return record, (raw, raw.stand_per or month_end(period))


def _accept(record: dict, raw: RawSheet, stand_per: date, curated: int, quarantined: int, skipped: int) -> None:
    record.update(
        layout=sheet_layout(raw), stand_per=stand_per, stand_per_stated=raw.stand_per is not None,
        status="accepted", rows_read=len(raw.rows), rows_curated=curated, rows_quarantined=quarantined,
        rows_skipped=skipped,
    )


def _bad_rows(findings: list[Finding]) -> set[int]:
    """The sheet rows with an error: these are quarantined."""
    return {f.excel_row for f in findings if f.severity == "error" and f.excel_row is not None}


def _protect(frame: pd.DataFrame, contract: SourceContract, pseudo: Pseudonymiser,
             delivery_ids: list[str]) -> pd.DataFrame:
    """A batch's curated rows (frame: indexed by sheet row, column `delivery` the position in
    delivery_ids): identifiers pseudonymised, each distinct one once; dates as dates."""
    import pandas as pd

    municipality = contract.municipality
    out = pd.DataFrame({
        "delivery_id": _each_once(frame["delivery"], lambda positions: [delivery_ids[p] for p in positions]),
        "municipality": municipality,
        "known_from": _dates(frame["known_from"]),
        "excel_row": frame.index.astype("int64"),
        "episode_id": _each_once(frame["record_id"], lambda records: pseudo.episodes(municipality, records)),
        "person_id": _each_once(frame["person_id"], pseudo.persons),
        "intake_date": _dates(frame["intake_date"]),
        "exit_date": _dates(frame["exit_date"]),
        "outcome_code": frame["outcome_code"],
        "follow_up_code": frame["follow_up_code"],
    })
    return out.reset_index(drop=True)


def _each_once(values: pd.Series, convert: Callable[[list[Any]], list[str]]) -> Any:
    """convert(distinct values), one answer per value, spread over the rows: each distinct value
    converted once (a batch repeats the same persons and records month after month); an object
    array, None where the value is missing (never for a curated row: a missing identifier
    quarantines its row)."""
    import numpy as np
    import pandas as pd

    codes, distinct = pd.factorize(values)
    converted = np.array(convert(distinct.tolist()) + [None], dtype=object)
    return converted[codes]


def _dates(values: pd.Series) -> Any:
    """A datetime column as `datetime.date` objects (NaT stays NaT), as `.dt.date` gives them,
    each distinct day converted once."""
    import pandas as pd

    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return pd.Series(distinct).dt.date.to_numpy()[codes]


def sheet_layout(raw: RawSheet) -> dict:
    """Where each field stands in this delivery's sheet (for locating later findings)."""
    return {"sheet": raw.sheet, "header_row": raw.header_row,
            "columns": {f: [column_letter(i), raw.headers[i]] for f, i in raw.positions.items()}}


def _quarantine(frame: pd.DataFrame, staged: Staged, findings: list[Finding],
                contract: SourceContract, pseudo: Pseudonymiser) -> pd.DataFrame:
    """Quarantined rows: location, reasons, pseudonyms and every contract cell as text."""
    import pandas as pd

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
    import pandas as pd

    return pd.DataFrame(columns=EPISODE_COLUMNS[1:])


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame()
