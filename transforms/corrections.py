"""Corrections between deliveries: a steward's file of fixes, applied on top of the history.

A municipality's steward keeps data/raw/<municipality>/corrections.csv (semicolon or comma, as
Excel saves it) or corrections.xlsx (first sheet), one correction per row:

    verblijf | levering | rij | veld | nieuwe waarde | reden | door | datum
    (episode | period   | row | field | new value    | reason | who | when)

The stay is named by its pseudonym (verblijf) or by the row of a delivery (levering YYYY-MM +
rij as Excel shows it). A correction is knowledge from its date on: it is applied on top of the
delivery in force on that date and holds until the next delivery, which either states the same
(confirmed) or something else (the correction is superseded and reported). A correction that
fixes every error of a quarantined row releases that row. Corrected values pass through the same
parsing and checks as a delivery's cells (transforms.stage), so nothing invalid gets in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from schemas.checks import Finding, Lang
from schemas.contracts import MappedOutcome, SourceContract, normalise_label
from schemas.taxonomy import OUTCOMES_WITH_FOLLOW_UP, taxonomy
from transforms.history import episode_versions
from transforms.read import RawSheet, column_letter
from transforms.revisions import DeliveryFinding, outcome_text
from transforms.stage import Locator, stage_rows, validate_staged
from transforms.values import as_text, ascii_digits, is_blank, parse_date_value

FILE_NAMES = ("corrections.csv", "corrections.xlsx", "correcties.csv", "correcties.xlsx")
#: canonical column -> accepted headers (compared after normalise_label)
HEADERS = {
    "episode": ("verblijf", "episode", "episode_id", "pseudoniem"),
    "period": ("levering", "period", "delivery"),
    "row": ("rij", "row", "excel_row"),
    "field": ("veld", "field"),
    "new_value": ("nieuwe waarde", "new value", "new_value", "waarde"),
    "reason": ("reden", "reason"),
    "who": ("door", "who", "by"),
    "when": ("datum", "when", "date"),
}
REQUIRED_COLUMNS = ("field", "new_value", "reason", "who", "when")
#: correctable field -> its names in a corrections file (the contract's own header is also accepted)
FIELDS = {
    "intake_date": ("instroomdatum", "intake_date", "intake date", "instroom"),
    "exit_date": ("uitstroomdatum", "exit_date", "exit date", "uitstroom"),
    "outcome": ("uitstroomreden", "outcome", "reden uitstroom"),
    "follow_up": ("vervolg", "follow_up", "follow-up", "vervolg na vreemdelingenbewaring"),
}
FIELD_LABELS = {"intake_date": "instroomdatum (intake date)", "exit_date": "uitstroomdatum (exit date)",
                "outcome": "uitstroomreden (outcome)", "follow_up": "vervolg (follow-up)"}
DATE_FORMATS = ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d")
EPISODE_PATTERN = re.compile(r"^E[0-9a-f]{20}$")
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
#: a sheet row: at most 7 digits (Excel has 1,048,576 rows; int() refuses more than 4,300 digits)
_ROW = re.compile(r"^[0-9]{1,7}$")
#: the findings of the identifier-carrying quarantine reasons a correction cannot fix
#: findings about one cell's own value: a correction that causes one is left out, the rest retried
PARSE_CODES = {"date-unparseable", "date-missing", "outcome-unknown-label", "follow-up-unknown-label"}
UNFIXABLE = {"person-id-missing", "person-id-malformed", "record-id-missing", "episode-duplicate"}


@dataclass(frozen=True)
class Correction:
    """One valid row of a corrections file, not yet resolved to an episode."""

    municipality: str
    line: int
    field: str
    new_value: str
    reason: str
    who: str
    when: date
    episode_id: str | None = None
    period: str | None = None
    excel_row: int | None = None


@dataclass
class CorrectionsFile:
    """A parsed corrections file: its valid corrections, its findings, and where its columns stand."""

    municipality: str
    file: str
    sheet: str = ""
    corrections: list[Correction] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    columns: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def delivery_id(self) -> str:
        return f"{self.municipality}/corrections"

    def finding(self, code: str, line: int | None, column: str, value: Any = "", **params: Any) -> Finding:
        letter, header = self.columns.get(column, ("", ""))
        return Finding(code, file=self.file, sheet=self.sheet, excel_row=line, column_letter=letter,
                       column_header=header, field=column, value=as_text(value), params=params)


# ------------------------------------------------------------------ reading the file
def corrections_path(raw_dir: Path, municipality: str) -> Path | None:
    """The municipality's corrections file under raw_dir, if there is one."""
    folder = raw_dir / municipality
    return next((folder / name for name in FILE_NAMES if (folder / name).is_file()), None)


def read_corrections(path: Path, contract: SourceContract, display_name: str | None = None) -> CorrectionsFile:
    """Parse and check a corrections file; rows that cannot be used become located findings."""
    result = CorrectionsFile(contract.municipality, display_name or path.name)
    try:
        grid, result.sheet = _grid(path)
    except ValueError as exc:
        result.findings.append(Finding("corrections-unreadable", file=result.file, params={"detail": str(exc)}))
        return result
    header = ["" if is_blank(v) else str(v).strip() for v in (grid[0] if grid else [])]
    positions = _header_positions(header)
    result.columns = {c: (column_letter(i), header[i]) for c, i in positions.items()}
    missing = [HEADERS[c][0] for c in REQUIRED_COLUMNS if c not in positions]
    if "episode" not in positions and not {"period", "row"} <= set(positions):
        missing.append("verblijf (of levering + rij)")
    if missing:
        result.findings.append(Finding("corrections-unreadable", file=result.file, sheet=result.sheet, excel_row=1,
                                       params={"detail": "kolom ontbreekt / column missing: " + ", ".join(missing)}))
        return result
    for line, cells in enumerate(grid[1:], start=2):
        if all(is_blank(v) for v in cells):
            continue
        get = {c: (cells[i] if i < len(cells) else None) for c, i in positions.items()}
        parsed = _correction(get, line, contract, result)
        if isinstance(parsed, Correction):
            result.corrections.append(parsed)
        else:
            result.findings.append(parsed)
    return result


def _grid(path: Path) -> tuple[list[list[Any]], str]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import python_calamine

        try:
            book = python_calamine.CalamineWorkbook.from_path(str(path))
            sheet = book.sheet_names[0]
            return book.get_sheet_by_index(0).to_python(skip_empty_area=False), sheet
        except Exception as exc:  # calamine raises several unrelated types for damaged files
            raise ValueError(str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__) from None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    if b"\x00" in raw[:4096] or raw.startswith(b"PK\x03\x04"):
        raise ValueError("binary content, expected CSV text")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError("not UTF-8 or Windows-1252 text")
    first = text.splitlines()[0] if text else ""
    delimiter = max((";", ",", "\t"), key=first.count)
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)], ""


def _header_positions(header: list[str]) -> dict[str, int]:
    names = {normalise_label(n): c for c, spellings in HEADERS.items() for n in spellings}
    positions: dict[str, int] = {}
    for i, text in enumerate(header):
        column = names.get(normalise_label(text)) if text else None
        if column and column not in positions:
            positions[column] = i
    return positions


def _correction(get: dict[str, Any], line: int, contract: SourceContract,
                sheet: CorrectionsFile) -> Correction | Finding:
    def incomplete(column: str, detail: str, value: Any = "") -> Finding:
        return sheet.finding("correction-incomplete", line, column, value, detail=detail)

    for column in ("reason", "who"):
        if is_blank(get.get(column)):
            return incomplete(column, f"'{HEADERS[column][0]}' is leeg / empty")
    when = parse_date_value(get.get("when"), DATE_FORMATS)
    if not isinstance(when, date):
        return incomplete("when", "'datum' is geen datum / not a date (dd-mm-jjjj)", get.get("when"))
    if when > date.today():
        return incomplete("when", "'datum' ligt in de toekomst / is in the future", get.get("when"))
    target = _target(get)
    if isinstance(target, str):
        column = "episode" if "episode" in sheet.columns and not is_blank(get.get("episode")) else "row"
        return incomplete(column, target, _shown_episode(get.get("episode")) if column == "episode" else get.get("row"))
    field_name = _field(get.get("field"), contract)
    if field_name is None:
        return sheet.finding("correction-unknown-field", line, "field", get.get("field"),
                             accepted=", ".join(spellings[0] for spellings in FIELDS.values()))
    episode_id, period, excel_row = target
    return Correction(contract.municipality, line, field_name, _value_text(get.get("new_value")),
                      str(get["reason"]).strip(), str(get["who"]).strip(), when, episode_id, period, excel_row)


def _target(get: dict[str, Any]) -> tuple[str | None, str | None, int | None] | str:
    """(episode pseudonym, period, row), or what is wrong with them."""
    episode = "" if is_blank(get.get("episode")) else str(get["episode"]).strip()
    if episode:
        if not EPISODE_PATTERN.match(episode):
            return "'verblijf' is geen pseudoniem (E gevolgd door 20 tekens) / not an episode pseudonym"
        return episode, None, None
    # digits of another script as ASCII digits, as in a V-number; then ASCII only: `\d` and
    # isdigit() took '٢٠٢٠-11' for a period and '²' for a row (int() then failed: exit 3)
    period = ascii_digits(as_text(get.get("period")).strip())
    row = ascii_digits(as_text(get.get("row")).strip())
    if not _PERIOD.match(period) or not _ROW.match(row):
        return "geef 'verblijf', of 'levering' (JJJJ-MM) en 'rij' / give the episode, or period and row"
    return None, period, int(row)


def _shown_episode(value: Any) -> str:
    """An episode cell as shown in a report: never a raw identifier typed there by mistake."""
    text = as_text(value).strip()
    return text if EPISODE_PATTERN.match(text) else "(verborgen)"


def _field(value: Any, contract: SourceContract) -> str | None:
    if is_blank(value):
        return None
    key = normalise_label(value)
    for name, spellings in FIELDS.items():
        own = contract.columns.get(name)
        if key in {normalise_label(s) for s in spellings} or (own and key == normalise_label(own)):
            return name
    return None


def _value_text(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return as_text(value)
    return as_text(value).strip()


# ------------------------------------------------------------------ applying corrections
@dataclass
class _Resolved:
    correction: Correction
    episode_id: str
    when: date
    base: str


class _Store:
    """Index of the stored delivery rows, by delivery and episode and by delivery and row."""

    def __init__(self, deliveries: pd.DataFrame, episodes: pd.DataFrame, quarantine: pd.DataFrame):
        accepted = deliveries[deliveries["status"] == "accepted"].sort_values(["municipality", "stand_per"])
        self.timeline: dict[str, list[tuple[date, str, str]]] = {}
        periods = accepted["period"] if "period" in accepted.columns else accepted["delivery_id"]
        for d, m, s, p in zip(accepted["delivery_id"], accepted["municipality"], accepted["stand_per"], periods):
            self.timeline.setdefault(m, []).append((_day(s), d, p))
        self.stand_per = {d: s for rows in self.timeline.values() for s, d, _ in rows}
        self.episodes = episodes
        self.valid = {d: g for d, g in episodes.groupby("delivery_id")} if len(episodes) else {}
        self.valid_rows = {(r["delivery_id"], r["episode_id"]): r for r in episodes.to_dict("records")}
        self.valid_by_row = {(d, int(r)): e for d, r, e in
                             zip(episodes.get("delivery_id", []), episodes.get("excel_row", []),
                                 episodes.get("episode_id", []))}
        rows = quarantine.to_dict("records") if len(quarantine) else []
        self.held = {(r["delivery_id"], r["episode_id"]): r for r in rows if isinstance(r.get("episode_id"), str)}
        self.held_by_row = {(r["delivery_id"], int(r["excel_row"])): r for r in rows}
        self.known = {(m, e) for (d, e) in [*self.valid_rows, *self.held] for m in [d.split("/")[0]]}

    def base(self, municipality: str, when: date) -> str | None:
        """The delivery in force on `when`: the last one stated on or before it."""
        before = [d for s, d, _ in self.timeline.get(municipality, []) if s <= when]
        return before[-1] if before else None

    def next_after(self, municipality: str, when: date) -> tuple[str, str] | None:
        return next(((d, p) for s, d, p in self.timeline.get(municipality, []) if s > when), None)


def apply_corrections(deliveries: pd.DataFrame, episodes: pd.DataFrame, quarantine: pd.DataFrame,
                      files: list[CorrectionsFile], contracts: dict[str, SourceContract],
                      lang: Lang = "nl") -> tuple[pd.DataFrame, list[DeliveryFinding]]:
    """The episode versions with every applicable correction in force, plus a finding per
    correction (applied, superseded, or why it does not apply) and per unusable file row.

    The versions are those of transforms.history.episode_versions plus a `correction` column
    (what was corrected, why, by whom; null for versions a delivery stated).
    """
    store = _Store(deliveries, episodes, quarantine)
    issues = [DeliveryFinding(f.delivery_id, finding) for f in files for finding in f.findings]
    by_file = {id(c): f for f in files for c in f.corrections}
    resolved: list[_Resolved] = []
    for f in files:
        for c in f.corrections:
            target = _resolve(c, store)
            if isinstance(target, _Resolved):
                resolved.append(target)
            else:
                issues.append(_issue(f, c, "correction-unknown-episode", "episode" if c.episode_id else "row",
                                     c.episode_id or c.excel_row, None, when=_fmt(c.when), detail=target))
    snapshots = _Snapshots(store)
    applied: list[tuple[_Resolved, dict[str, Any]]] = []
    for (m, when), group in _by_event(resolved).items():
        outcome = snapshots.apply(m, when, group, contracts[m], lang)
        for item, result in outcome:
            f = by_file[id(item.correction)]
            if isinstance(result, dict):
                applied.append((item, result))
            else:
                code, detail, params = result
                issues.append(_issue(f, item.correction, code, "new_value", item.correction.new_value,
                                     item.episode_id, detail=detail, **params))
    versions = snapshots.versions(deliveries)
    for item, values in applied:
        issues.append(_settled(item, values, store, by_file[id(item.correction)], contracts))
    return versions, issues


def _resolve(c: Correction, store: _Store) -> _Resolved | str:
    """The episode a correction names, the date it is known from and the delivery it corrects."""
    when = c.when
    if c.episode_id:
        if (c.municipality, c.episode_id) not in store.known:
            return "onbekend pseudoniem / unknown pseudonym"
        episode = c.episode_id
    else:
        delivery_id = f"{c.municipality}/{c.period}"
        if delivery_id not in store.stand_per:
            return f"geen aangenomen levering {c.period} / no accepted delivery {c.period}"
        row = (delivery_id, c.excel_row)
        episode = store.valid_by_row.get(row) or (store.held_by_row.get(row) or {}).get("episode_id")
        if not isinstance(episode, str):
            return (f"rij {c.excel_row} van {c.period} is geen verblijf met dossiernummer"
                    " / not a stay with a record number")
        when = max(when, store.stand_per[delivery_id])
    base = store.base(c.municipality, when)
    if base is None:
        return f"geen levering op of voor {_fmt(when)} / no delivery on or before it"
    return _Resolved(c, episode, when, base)


def _by_event(resolved: list[_Resolved]) -> dict[tuple[str, date], list[_Resolved]]:
    events: dict[tuple[str, date], list[_Resolved]] = {}
    for item in sorted(resolved, key=lambda r: (r.correction.municipality, r.when, r.correction.line)):
        events.setdefault((item.correction.municipality, item.when), []).append(item)
    return events


class _Snapshots:
    """Each correction date becomes a snapshot: the delivery in force then, with corrections applied."""

    def __init__(self, store: _Store):
        self.store = store
        self.base: dict[str, str] = {}
        self.overrides: dict[str, dict[str, dict]] = {}
        self.released: dict[str, set[str]] = {}
        self.deliveries: list[dict] = []
        self.rows: list[pd.DataFrame] = []
        self.held: list[dict] = []
        self.texts: dict[tuple[str, str], str] = {}
        self.based_on: dict[str, str] = {}

    def apply(self, municipality: str, when: date, group: list[_Resolved], contract: SourceContract,
              lang: Lang) -> list[tuple[_Resolved, Any]]:
        """Apply one date's corrections of a municipality on top of the delivery then in force."""
        base = group[0].base
        if self.base.get(municipality) != base:
            self.base[municipality], self.overrides[municipality], self.released[municipality] = base, {}, set()
        overrides, released = self.overrides[municipality], self.released[municipality]
        snapshot_id = f"{municipality}/correcties-{when:%Y-%m-%d}"
        results: list[tuple[_Resolved, Any]] = []
        by_episode: dict[str, list[_Resolved]] = {}
        for item in group:
            by_episode.setdefault(item.episode_id, []).append(item)
        for episode, items in by_episode.items():
            current = overrides.get(episode) or self.store.valid_rows.get((base, episode))
            held = None if current or episode in released else self.store.held.get((base, episode))
            if current is None and held is None:
                detail = f"niet in de levering {base} / not in delivery {base}"
                results += [(i, ("correction-unknown-episode", detail, {"when": _fmt(when)})) for i in items]
                continue
            settled, values, used = _correct(current, held, items, contract, when, lang)
            results += settled
            if values is not None:
                overrides[episode] = {**(current or {}), **values, "episode_id": episode,
                                      "municipality": municipality,
                                      "person_id": (current or held or {}).get("person_id"),
                                      "excel_row": int((current or held)["excel_row"])}
                released.add(episode)
                self.texts[(snapshot_id, episode)] = _correction_text(used)
        self._snapshot(municipality, snapshot_id, when, base)
        return results

    def _snapshot(self, municipality: str, snapshot_id: str, when: date, base: str) -> None:
        overrides, released = self.overrides[municipality], self.released[municipality]
        rows = self.store.valid.get(base, pd.DataFrame(columns=self.store.episodes.columns))
        rows = rows[~rows["episode_id"].isin(list(overrides))]
        extra = pd.DataFrame(list(overrides.values()))
        frame = pd.concat([f for f in (rows, extra) if len(f)], ignore_index=True)
        frame["delivery_id"] = snapshot_id
        self.rows.append(frame)
        self.held += [{"delivery_id": snapshot_id, "episode_id": e} for (d, e) in self.store.held
                      if d == base and e not in released]
        self.deliveries.append({"delivery_id": snapshot_id, "municipality": municipality, "stand_per": when,
                                "status": "accepted"})
        self.based_on[snapshot_id] = base

    def versions(self, deliveries: pd.DataFrame) -> pd.DataFrame:
        """The episode versions of the deliveries and the correction snapshots together."""
        store = self.store
        quarantine = pd.DataFrame(list(store.held.keys()), columns=["delivery_id", "episode_id"])
        frames = [deliveries[["delivery_id", "municipality", "stand_per", "status"]],
                  pd.DataFrame(self.deliveries, columns=["delivery_id", "municipality", "stand_per", "status"])]
        all_deliveries = pd.concat([f for f in frames if len(f)], ignore_index=True)
        episodes = pd.concat([store.episodes, *self.rows], ignore_index=True) if self.rows else store.episodes
        held = pd.concat([quarantine, pd.DataFrame(self.held, columns=["delivery_id", "episode_id"])],
                         ignore_index=True)
        versions = episode_versions(all_deliveries, episodes, held)
        if versions.empty:
            return versions.assign(correction=pd.Series(dtype="object"))
        keys = list(zip(versions["stated_in"], versions["episode_id"]))
        versions["correction"] = [self.texts.get(k) for k in keys]
        versions["stated_in"] = versions["stated_in"].map(lambda d: self.based_on.get(d, d))
        versions = versions[~(versions["known_to"].notna() & (versions["known_to"] == versions["known_from"]))]
        versions = versions.sort_values(["episode_id", "known_from"], kind="stable").reset_index(drop=True)
        versions["version"] = versions.groupby("episode_id").cumcount() + 1
        return versions


def _correct(current: dict | None, held: dict | None, items: list[_Resolved], contract: SourceContract,
             when: date, lang: Lang) -> tuple[list[tuple[_Resolved, Any]], dict | None, list[_Resolved]]:
    """Apply one episode's corrections of one date together: (what became of each, the corrected
    values or None, the corrections applied). A correction whose own value does not parse is left
    out and the others are tried again; a row that fails as a whole fails every correction."""
    remaining, settled = list(items), []
    while remaining:
        outcome = _restage(current, held, remaining, contract, when, lang)
        if isinstance(outcome, dict):
            return settled + [(i, outcome) for i in remaining], outcome, remaining
        code, detail, params, caused = outcome
        own = {id(i): [f for f in caused if f.field == i.correction.field and f.code in PARSE_CODES]
               for i in remaining}
        failing = [i for i in remaining if own[id(i)]]
        if code != "correction-invalid-value" or not failing:
            return settled + [(i, (code, detail, params)) for i in remaining], None, []
        for i in failing:
            messages = " ".join(f.as_row(lang)["message"] for f in own[id(i)])
            settled.append((i, ("correction-invalid-value", messages, {})))
        remaining = [i for i in remaining if not own[id(i)]]
    return settled, None, []


def _restage(current: dict | None, held: dict | None, items: list[_Resolved], contract: SourceContract,
             when: date, lang: Lang) -> dict | tuple[str, str, dict, list[Finding]]:
    """The corrected row's typed values, or (code, detail, params, errors the corrections caused)
    when the row does not pass the same checks as a delivery's rows."""
    extended = _extended(contract)
    text = _row_text(current, contract) if current else _held_text(held, contract)
    for item in items:
        _set(text, item.correction, extended)
    fields = ["record_id", "person_id", "intake_date", "exit_date", "outcome"]
    fields += ["follow_up"] if not extended.follow_up_in_label else []
    row = (current or held)["excel_row"]
    raw = RawSheet("", "", 1, fields, [["R", "0000000000", *(text.get(f, "") for f in fields[2:])]],
                   [int(row)], positions={f: i for i, f in enumerate(fields)})
    staged = stage_rows(raw, extended, when)
    findings = staged.findings + validate_staged(staged, Locator(raw))
    errors = [f for f in findings if f.severity == "error"]
    old = set(str((held or {}).get("reasons") or "").split(", ")) - {""}
    touched = {i.correction.field for i in items}
    caused = [f for f in errors if f.code not in old or f.field in touched]
    if caused or (errors and not held):
        detail = " ".join(f.as_row(lang)["message"] for f in (caused or errors))
        return "correction-invalid-value", detail, {}, caused or errors
    unfixable = old & UNFIXABLE or ({"person-id-missing"} if held and not _opt(held.get("person_id")) else set())
    if errors or unfixable:
        period = held["delivery_id"].split("/", 1)[-1]
        return "correction-row-still-invalid", ", ".join(sorted(unfixable | {f.code for f in errors})), {
            "row": int(held["excel_row"]), "period": period}, []
    rec = staged.frame.iloc[0]
    return {"intake_date": _opt_day(rec["intake_date"]), "exit_date": _opt_day(rec["exit_date"]),
            "outcome_code": _opt(rec["outcome_code"]), "follow_up_code": _opt(rec["follow_up_code"])}


def _extended(contract: SourceContract) -> SourceContract:
    """The contract, also accepting taxonomy codes as labels and the dates a steward may type."""
    outcomes: dict[str, Any] = dict(contract.outcomes)
    known = {normalise_label(label) for label in outcomes}
    for code in taxonomy().codes("outcomes"):
        if normalise_label(code) not in known:
            outcomes[code] = code
        if code in OUTCOMES_WITH_FOLLOW_UP and contract.follow_up_in_label:
            for follow in taxonomy().codes("follow_ups"):
                outcomes[f"{code}/{follow}"] = MappedOutcome(outcome=code, follow_up=follow)
    follow_ups: dict[str, Any] = dict(contract.follow_ups)
    for label, code in _follow_up_words():
        if normalise_label(label) not in {normalise_label(known) for known in follow_ups}:
            follow_ups[label] = code
    formats = tuple(dict.fromkeys((*contract.dates.formats, *DATE_FORMATS)))
    dates = contract.dates.model_copy(update={"formats": formats})
    return contract.model_copy(update={"outcomes": outcomes, "follow_ups": follow_ups, "dates": dates})


def _follow_up_words() -> list[tuple[str, str]]:
    """Words for a follow-up a steward may write: the codes, the taxonomy's Dutch and English
    labels, and every municipality's own labels (so 'Uitgezet' works where the label is folded)."""
    from schemas.contracts import contracts

    words = [(w, term.code) for term in taxonomy().follow_ups for w in (term.code, term.nl, term.en)]
    words += [(label, str(code)) for c in contracts().values() for label, code in c.follow_ups.items()]
    meanings: dict[str, set[str]] = {}
    for word, code in words:
        meanings.setdefault(normalise_label(word), set()).add(code)
    return [(w, c) for w, c in words if len(meanings[normalise_label(w)]) == 1]


def _row_text(row: dict, contract: SourceContract) -> dict[str, str]:
    """A valid stored row as the text a steward would type (codes stand in for labels)."""
    outcome, follow = _opt(row.get("outcome_code")), _opt(row.get("follow_up_code"))
    text = {"intake_date": _fmt(row.get("intake_date")), "exit_date": _fmt(row.get("exit_date")),
            "outcome": outcome or "", "follow_up": follow or ""}
    if contract.follow_up_in_label and outcome in OUTCOMES_WITH_FOLLOW_UP:
        text["outcome"] = f"{outcome}/{follow or 'unknown'}"
    return text


def _held_text(held: dict, contract: SourceContract) -> dict[str, str]:
    """A quarantined row's cells as they stood in the file."""
    return {f: _opt(held.get(f"raw_{f}")) or "" for f in ("intake_date", "exit_date", "outcome", "follow_up")}


def _set(text: dict[str, str], c: Correction, contract: SourceContract) -> None:
    """Put a correction's new value in the row; a follow-up folded into the outcome label joins it."""
    if c.field == "follow_up" and contract.follow_up_in_label:
        outcome = text.get("outcome", "")
        code = contract.outcome_lookup().get(contract.label_key(outcome), (outcome.split("/")[0], None))[0]
        follow = contract.follow_up_lookup().get(contract.label_key(c.new_value), c.new_value)
        text["outcome"] = f"{code}/{follow}" if follow else code
        return
    text[c.field] = c.new_value


def _settled(item: _Resolved, values: dict[str, Any], store: _Store, f: CorrectionsFile,
             contracts: dict[str, SourceContract]) -> DeliveryFinding:
    """correction-applied, or correction-superseded when the next delivery states otherwise."""
    c = item.correction
    following = store.next_after(c.municipality, item.when)
    if following is not None:
        later = store.valid_rows.get((following[0], item.episode_id))
        held = (following[0], item.episode_id) in store.held
        if later is None and not held:
            return _issue(f, c, "correction-superseded", "new_value", c.new_value, item.episode_id,
                          period=following[1], after="-")
        if later is not None and _stated(later, c.field) != _stated(values, c.field):
            return _issue(f, c, "correction-superseded", "new_value", c.new_value, item.episode_id,
                          period=following[1], after=_shown(later, c.field))
    return _issue(f, c, "correction-applied", "new_value", c.new_value, item.episode_id,
                  when=_fmt(item.when), field_label=FIELD_LABELS[c.field])


def _stated(row: dict, field_name: str) -> Any:
    if field_name in ("outcome", "follow_up"):
        return (_opt(row.get("outcome_code")), _opt(row.get("follow_up_code")))
    return _opt_day(row.get(field_name))


def _shown(row: dict, field_name: str) -> str:
    if field_name in ("outcome", "follow_up"):
        return outcome_text(row["municipality"], row.get("outcome_code"), row.get("follow_up_code")) or "-"
    return _fmt(row.get(field_name)) or "-"


def _issue(f: CorrectionsFile, c: Correction, code: str, column: str, value: Any, episode: str | None,
           **params: Any) -> DeliveryFinding:
    params.setdefault("field_label", FIELD_LABELS.get(c.field, c.field))
    shown = _shown_episode(value) if column == "episode" else value
    return DeliveryFinding(f.delivery_id, f.finding(code, c.line, column, shown, **params), episode)


def _correction_text(items: list[_Resolved]) -> str:
    parts = [f"{i.correction.field} = '{i.correction.new_value}': {i.correction.reason} "
             f"({i.correction.who}, {_fmt(i.correction.when)})" for i in items]
    return "; ".join(parts)


def _fmt(value: Any) -> str:
    day = _opt_day(value)
    return day.strftime("%d-%m-%Y") if day else ""


def _opt(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _opt_day(value: Any) -> date | None:
    value = _opt(value)
    return None if value is None else _day(value)


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else pd.Timestamp(value).date()


def read_all(raw_dir: Path, contracts: dict[str, SourceContract]) -> list[CorrectionsFile]:
    """Every municipality's corrections file under raw_dir, parsed."""
    files = []
    for municipality, contract in sorted(contracts.items()):
        path = corrections_path(raw_dir, municipality)
        if path is not None:
            files.append(read_corrections(path, contract, f"{municipality}/{path.name}"))
    return files


def corrections_fingerprint(raw_dir: Path, municipalities: Iterable[str]) -> str:
    """One hash over every municipality's corrections file (name and content). A run whose
    deliveries are unchanged must still rebuild the history when this changes."""
    digest = hashlib.sha256()
    for municipality in sorted(municipalities):
        path = corrections_path(raw_dir, municipality)
        if path is not None:
            digest.update(f"{municipality}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


__all__ = ["Correction", "CorrectionsFile", "apply_corrections", "corrections_fingerprint", "corrections_path",
           "read_all", "read_corrections"]
