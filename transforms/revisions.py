"""Findings that need more than one delivery: duplicates, revisions, one person in two places.

Each check is a pure function over tables the pipeline already has (delivery records, the
episode versions of transforms.history) and returns DeliveryFindings: a located Finding plus the
delivery it belongs to, the episode pseudonym and the value before. Nothing here reads a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from transforms.delivery import DeliveryResult

from schemas.checks import FINDING_COLUMNS, Finding, Lang

#: the columns of the validation_issues table: a finding, where it belongs, and what it was before
ISSUE_COLUMNS = ["delivery_id", *FINDING_COLUMNS, "episode_id", "value_before"]


@dataclass(frozen=True)
class DeliveryFinding:
    """A finding together with the delivery it belongs to (and the episode, for record checks)."""

    delivery_id: str
    finding: Finding
    episode_id: str | None = None
    before: str = ""

    def as_row(self, lang: Lang = "nl") -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, **self.finding.as_row(lang),
                "episode_id": self.episode_id, "value_before": self.before}


def issue_frame(items: Iterable[DeliveryFinding], lang: Lang = "nl") -> pd.DataFrame:
    """DeliveryFindings as rows of validation_issues."""
    frame = pd.DataFrame([item.as_row(lang) for item in items], columns=ISSUE_COLUMNS)
    frame["excel_row"] = frame["excel_row"].astype("Int64")
    return frame


# ------------------------------------------------------------------ same file delivered twice
def duplicate_deliveries(records: Iterable[Mapping[str, Any]]) -> list[DeliveryFinding]:
    """`delivery-duplicate` for every delivery whose file has the same sha256 as an earlier
    delivery (by period) of the same municipality. The earliest one is the original.

    records: dicts with municipality, period, sha256 and optionally delivery_id and file
    (the delivery records of transforms.delivery, or the flow's plan of what to process).
    """
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    found = []
    ordered = sorted((r for r in records if r.get("sha256")), key=lambda r: (r["municipality"], r.get("period") or ""))
    for record in ordered:
        key = (record["municipality"], record["sha256"])
        original = first.setdefault(key, record)
        if original is record:
            continue
        other = f"{original.get('file') or _delivery_id(original)} ({original.get('period')})"
        finding = Finding("delivery-duplicate", file=record.get("file") or "", params={"other": other})
        found.append(DeliveryFinding(_delivery_id(record), finding))
    return found


def reject_if_duplicate(result: "DeliveryResult", others: Iterable[Mapping[str, Any]]) -> "DeliveryResult":
    """The result itself, or, when its file is byte for byte an earlier period's delivery of the
    same municipality, the delivery rejected whole with a `delivery-duplicate` finding (an old
    export sent again as this month's would otherwise withdraw every exit since)."""
    from transforms.delivery import DeliveryResult, _empty_episodes, _empty_frame

    mine = result.delivery
    earlier = [r for r in others if r.get("municipality") == mine["municipality"]
               and (r.get("period") or "") < (mine.get("period") or "")]
    for duplicate in duplicate_deliveries([*earlier, mine]):
        if duplicate.delivery_id == mine["delivery_id"]:
            record = {**mine, "status": "rejected", "rows_read": 0, "rows_curated": 0,
                      "rows_quarantined": 0, "rows_skipped": 0}
            return DeliveryResult(record, _empty_episodes(), _empty_frame(), [duplicate.finding])
    return result


def _delivery_id(record: Mapping[str, Any]) -> str:
    return record.get("delivery_id") or f"{record['municipality']}/{record.get('period') or '?'}"


# ------------------------------------------------------------------ where a delivery's fields stand
class Layouts:
    """Locates a field of a delivery's row: file, sheet, column letter and header."""

    def __init__(self, deliveries: pd.DataFrame):
        self._by_id: dict[str, dict[str, Any]] = {}
        # the three columns, not every record as a dict: built per run over every delivery kept
        files = deliveries["file"] if "file" in deliveries.columns else [None] * len(deliveries)
        layouts = deliveries["layout"] if "layout" in deliveries.columns else [None] * len(deliveries)
        for delivery_id, file, layout in zip(deliveries["delivery_id"], files, layouts):
            layout = layout if isinstance(layout, dict) else {}
            self._by_id[delivery_id] = {"file": file or "", **layout}

    def has(self, delivery_id: str, field_name: str) -> bool:
        """True when the delivery's sheet has a column for the field."""
        return field_name in (self._by_id.get(delivery_id, {}).get("columns") or {})

    def finding(self, code: str, delivery_id: str, excel_row: Any, field_name: str, value: str,
                **params: Any) -> Finding:
        layout = self._by_id.get(delivery_id, {})
        letter, header = (layout.get("columns") or {}).get(field_name, ("", ""))
        row = None if excel_row is None or pd.isna(excel_row) else int(excel_row)
        return Finding(code, file=str(layout.get("file", "")), sheet=str(layout.get("sheet") or ""),
                       excel_row=row, column_letter=letter, column_header=header, field=field_name,
                       value=value, params=params)


# ------------------------------------------------------------------ revisions between deliveries
REVISED = ("intake_date", "exit_date", "outcome_code", "follow_up_code")


def revisions(versions: pd.DataFrame, deliveries: pd.DataFrame) -> list[DeliveryFinding]:
    """Warnings for what a delivery revised of what the one before it stated, per episode.

    versions: transforms.history.episode_versions (from deliveries only, not corrections).
    deliveries: delivery_id, municipality, period, stand_per, status (+ file, layout to locate).
    Each warning belongs to the delivery that states the change, at the row that states it:
    episode-disappeared, intake-changed, exit-withdrawn, exit-changed, outcome-changed.
    """
    if versions.empty:
        return []
    layouts = Layouts(deliveries)
    accepted = deliveries[deliveries["status"] == "accepted"]
    periods = accepted["period"] if "period" in accepted.columns else accepted["delivery_id"]
    by_stand_per = {(m, _day(s)): (d, p) for d, m, s, p in
                    zip(accepted["delivery_id"], accepted["municipality"], accepted["stand_per"], periods)}
    found: list[DeliveryFinding] = []
    ordered = versions.sort_values(["episode_id", "version"], kind="stable")
    ordered = ordered[ordered["episode_id"].isin(_maybe_revised(ordered))]
    rows = ordered.to_dict("records")
    for cur, nxt in zip(rows, rows[1:] + [None]):
        if nxt is not None and nxt["episode_id"] != cur["episode_id"]:
            nxt = None
        known_to = None if pd.isna(cur["known_to"]) else _day(cur["known_to"])
        if known_to is not None and (nxt is None or _day(nxt["known_from"]) != known_to):
            dropped_in, _ = by_stand_per.get((cur["municipality"], known_to), (None, None))
            if dropped_in:
                found.append(_disappeared(cur, dropped_in, by_stand_per, layouts))
        if nxt is not None:
            found.extend(_changes(cur, nxt, layouts))
    return found


def _maybe_revised(ordered: pd.DataFrame) -> pd.Series:
    """The episodes (of versions sorted by episode and version) with a version that the loop in
    `revisions` may turn into a warning, found column-wise: a superset of them, never fewer.

    On a national network nearly every episode has a second version (its exit registered), which
    is no revision; the Python loop then runs over the few episodes that may have one.
    """
    after = ordered.shift(-1)
    has_next = ordered["episode_id"].eq(after["episode_id"])

    def differs(col: str) -> pd.Series:
        return _differs(ordered[col], after[col])

    intake = differs("intake_date")
    exit_ = ordered["exit_date"].notna() & (after["exit_date"].isna() | differs("exit_date"))
    outcome = ordered["outcome_code"].notna() & after["outcome_code"].notna() & (
        differs("outcome_code") | differs("follow_up_code"))
    gone = ordered["known_to"].notna() & (~has_next | _differs(after["known_from"], ordered["known_to"]))
    return ordered.loc[(has_next & (intake | exit_ | outcome)) | gone, "episode_id"].drop_duplicates()


def _differs(a: pd.Series, b: pd.Series) -> pd.Series:
    """Element-wise: not the same value (two blanks are the same)."""
    return ~((a == b).fillna(False).astype(bool) | (a.isna() & b.isna()))


def _disappeared(cur: dict, dropped_in: str, by_stand_per: dict, layouts: Layouts) -> DeliveryFinding:
    """The episode was in force until `dropped_in`, which does not list it."""
    known_to = _day(cur["known_to"])
    previous = max(((s, p) for (m, s), (_, p) in by_stand_per.items()
                    if m == cur["municipality"] and s < known_to), default=(None, cur["stated_in"]))
    before = f"{previous[1]}: {_state_text(cur)}"
    finding = layouts.finding("episode-disappeared", dropped_in, None, "", "", episode=cur["episode_id"],
                              before=before)
    return DeliveryFinding(dropped_in, finding, cur["episode_id"], before)


def _changes(cur: dict, nxt: dict, layouts: Layouts) -> list[DeliveryFinding]:
    out = []

    def add(code: str, field_name: str, before: str, after: str) -> None:
        finding = layouts.finding(code, nxt["stated_in"], nxt["excel_row"], field_name, after,
                                  before=before, episode=nxt["episode_id"])
        out.append(DeliveryFinding(nxt["stated_in"], finding, nxt["episode_id"], before))

    if not _equal(cur["intake_date"], nxt["intake_date"]):
        add("intake-changed", "intake_date", _date_text(cur["intake_date"]), _date_text(nxt["intake_date"]))
    had_exit, has_exit = not _blank(cur["exit_date"]), not _blank(nxt["exit_date"])
    if had_exit and not has_exit:
        add("exit-withdrawn", "exit_date", _date_text(cur["exit_date"]), "")
    elif had_exit and not _equal(cur["exit_date"], nxt["exit_date"]):
        add("exit-changed", "exit_date", _date_text(cur["exit_date"]), _date_text(nxt["exit_date"]))
    same_outcome = _equal(cur["outcome_code"], nxt["outcome_code"])
    if not _blank(cur["outcome_code"]) and not _blank(nxt["outcome_code"]) and not (
            same_outcome and _equal(cur["follow_up_code"], nxt["follow_up_code"])):
        # only the follow-up changed, in its own column: point at that cell
        cell = "follow_up" if same_outcome and layouts.has(nxt["stated_in"], "follow_up") else "outcome"
        add("outcome-changed", cell, outcome_text(cur["municipality"], cur["outcome_code"], cur["follow_up_code"]),
            outcome_text(nxt["municipality"], nxt["outcome_code"], nxt["follow_up_code"]))
    return out


# ------------------------------------------------------------------ one person in two LVVs at once
def persons_open_elsewhere(versions: pd.DataFrame, deliveries: pd.DataFrame,
                           episodes: pd.DataFrame | None = None) -> list[DeliveryFinding]:
    """`person-open-elsewhere`: one person's stays in two municipalities that overlap in time,
    as currently known (the latest delivery of each municipality). One warning per stay and
    other municipality, belonging to the municipality's latest accepted delivery.

    episodes (optional): the stored delivery rows, to point at the row in that latest delivery.
    """
    if not len(versions):
        return []
    # one take of the columns used, of the stays in force only (not a copy of every version's
    # columns first: the whole history's, in a monthly run)
    in_force = versions["known_to"].isna() & versions["person_id"].notna() & versions["intake_date"].notna()
    stays = versions.loc[in_force.to_numpy(), ["episode_id", "municipality", "person_id", "intake_date", "exit_date"]]
    multi = stays[stays.groupby("person_id")["municipality"].transform("nunique") > 1]
    if multi.empty:
        return []
    layouts = Layouts(deliveries)
    latest = _latest_deliveries(deliveries)
    rows_in = {}
    if episodes is not None and len(episodes):
        wanted = episodes[episodes["delivery_id"].isin(list(latest.values()))
                          & episodes["episode_id"].isin(multi["episode_id"])]
        rows_in = dict(zip(zip(wanted["delivery_id"], wanted["episode_id"]), wanted["excel_row"]))
    found: list[DeliveryFinding] = []
    for _, group in multi.groupby("person_id", sort=True):
        records = group.to_dict("records")
        for a in records:
            others = sorted({b["municipality"] for b in records
                             if b["municipality"] != a["municipality"] and _overlap(a, b)})
            delivery_id = latest.get(a["municipality"])
            for other in others if delivery_id else []:
                row = rows_in.get((delivery_id, a["episode_id"]))
                finding = layouts.finding("person-open-elsewhere", delivery_id, row, "intake_date",
                                          _date_text(a["intake_date"]), other=_display_name(other))
                found.append(DeliveryFinding(delivery_id, finding, a["episode_id"]))
    return found


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    end_a = date.max if _blank(a["exit_date"]) else _day(a["exit_date"])
    end_b = date.max if _blank(b["exit_date"]) else _day(b["exit_date"])
    return _day(a["intake_date"]) < end_b and _day(b["intake_date"]) < end_a


def _latest_deliveries(deliveries: pd.DataFrame) -> dict[str, str]:
    accepted = deliveries[deliveries["status"] == "accepted"].sort_values(["municipality", "stand_per"])
    return dict(zip(accepted["municipality"], accepted["delivery_id"]))


# ------------------------------------------------------------------ text as a steward reads it
def outcome_text(municipality: str, outcome: Any, follow_up: Any) -> str:
    """The municipality's own label for an outcome (+ follow-up), with the code; '' when none."""
    if _blank(outcome):
        return ""
    follow = None if _blank(follow_up) else str(follow_up)
    code = str(outcome) + (f"/{follow}" if follow else "")
    contract = _contract(municipality)
    if contract is None:
        return code
    try:
        label = contract.label_for(str(outcome), follow)
    except KeyError:
        return code
    if follow and not contract.follow_up_in_label:
        label = f"{label} / {follow_up_label(contract, follow)}"
    return f"{label} ({code})"


def follow_up_label(contract: Any, follow_up: str) -> str:
    return next((label for label, code in contract.follow_ups.items() if code == follow_up), follow_up)


def _contract(municipality: str) -> Any:
    from schemas.contracts import contracts

    return contracts().get(municipality)


def _display_name(municipality: str) -> str:
    contract = _contract(municipality)
    return contract.display_name if contract is not None else municipality


def _state_text(version: Mapping[str, Any]) -> str:
    exit_text = _date_text(version["exit_date"]) or "open"
    return f"{_date_text(version['intake_date'])} - {exit_text}"


def _date_text(value: Any) -> str:
    return "" if _blank(value) else _day(value).strftime("%d-%m-%Y")


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else pd.Timestamp(value).date()


def _blank(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def _equal(a: Any, b: Any) -> bool:
    if _blank(a) or _blank(b):
        return _blank(a) and _blank(b)
    if isinstance(a, (date, pd.Timestamp)) or isinstance(b, (date, pd.Timestamp)):
        return _day(a) == _day(b)
    return a == b


__all__ = ["ISSUE_COLUMNS", "DeliveryFinding", "Layouts", "duplicate_deliveries", "issue_frame",
           "outcome_text", "persons_open_elsewhere", "revisions"]
