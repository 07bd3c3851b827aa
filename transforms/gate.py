"""The plausibility gate: a delivery implausible against the one in force is held, not in force.

A municipality's delivery is a full export of its register, so the next one looks much like the
last: a few rows more, a few exits registered, some late. A delivery that quarantines most of its
rows, loses the episodes that were open, loses half its rows, or back-dates many exits is
far more likely a broken export than a changed register; put in force it would rewrite every
published figure of the municipality. The gate compares each new delivery with the delivery in
force before it (the latest accepted one of an earlier month) and holds it when any measure is
over its threshold. A held delivery is stored whole (nothing is lost), listed in `deliveries` with
status `held` and the reason, and counts for nothing until a steward releases it
(`lvv deliveries release`) or a later delivery, in force, supersedes it.

Thresholds are data: the `gates:` section of schemas/checks.yaml, overridable per municipality
in its source contract (`gates:`). Each measure is a share, computed in one pass over the rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.gates import gates_for

#: the ledger of release decisions, beside the run log in data/curated/runs/
RELEASES_LEDGER = "runs/released.jsonl"
HELD = "held"
SUPERSEDED = "superseded"


@dataclass
class Verdict:
    """held when any measure is over its threshold; measures: every value computed, by code."""

    held: bool
    reasons_nl: list[str] = field(default_factory=list)
    reasons_en: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    compared_with: str | None = None

    def reason(self, lang: str = "en") -> str:
        return "; ".join(self.reasons_nl if lang == "nl" else self.reasons_en)


def measures(record: dict, episodes: pd.DataFrame, quarantine: pd.DataFrame,
             previous: dict | None, previous_episodes: pd.DataFrame | None) -> dict[str, tuple[float, int]]:
    """Each measure as (share, how many it is a share of), for the new delivery against the previous.

    Without a previous delivery only the quarantined share is measured (a municipality's first
    delivery is never held for episodes it could not have lost).
    """
    read = int(record.get("rows_read") or 0)
    out = {"quarantined-share": (int(record.get("rows_quarantined") or 0) / read if read else 0.0, read)}
    if previous is None or previous_episodes is None:
        return out
    before = int(previous.get("rows_read") or 0)
    # a register export keeps its closed episodes: it grows (fast while a pilot starts) and never
    # loses many rows; a duplicated export is caught by its quarantined duplicates instead
    out["rows-dropped"] = (max(before - read, 0) / before if before else 0.0, before)
    before_ids = _text(previous_episodes["episode_id"])
    open_before = before_ids.filter(pc.and_(_dates(previous_episodes["exit_date"]).is_null(), before_ids.is_valid()))
    present = pa.concat_arrays([_ids(episodes), _ids(quarantine)])
    missing = len(open_before) - pc.sum(pc.is_in(open_before, value_set=present)).as_py() if len(open_before) else 0
    out["open-episodes-missing"] = (missing / len(open_before) if len(open_before) else 0.0, len(open_before))
    cutoff = previous.get("stand_per")
    if cutoff is not None and len(open_before) and len(episodes):
        kept = pc.is_in(_text(episodes["episode_id"]), value_set=open_before)
        exits = _dates(episodes["exit_date"]).filter(kept)
        backdated = pc.sum(pc.less(exits, pa.scalar(pd.Timestamp(cutoff).date(), pa.date32()))).as_py() or 0
        out["exits-backdated"] = (backdated / len(open_before), len(open_before))
    return out


def verdict(record: dict, episodes: pd.DataFrame, quarantine: pd.DataFrame, previous: dict | None,
            previous_episodes: pd.DataFrame | None, overrides: dict[str, float] | None = None) -> Verdict:
    """Held or not, and why, in the steward's (nl) and the analyst's (en) words."""
    gates = gates_for(overrides)
    found = measures(record, episodes, quarantine, previous, previous_episodes)
    result = Verdict(held=False, compared_with=(previous or {}).get("delivery_id"),
                     measures={code: round(share, 4) for code, (share, _) in found.items()})
    for code, (share, of) in found.items():
        gate = gates.get(code)
        if gate is None or of < gate.min_compared or share <= gate.threshold:
            continue
        values = {"share": f"{share:.0%}", "threshold": f"{gate.threshold:.0%}", "of": of,
                  "previous": result.compared_with or "?", "stand_per": (previous or {}).get("stand_per", "?")}
        result.held = True
        result.codes.append(code)
        result.reasons_nl.append(gate.reason("nl", **values))
        result.reasons_en.append(gate.reason("en", **values))
    return result


def hold(record: dict, found: Verdict) -> dict:
    """The delivery record marked held, with the reason; a verdict that does not hold leaves it."""
    if not found.held or record.get("status") != "accepted":
        return record
    return {**record, "status": HELD, "hold_reason": found.reason("en"), "hold_reason_nl": found.reason("nl"),
            "hold_codes": found.codes, "gate_measures": found.measures, "compared_with": found.compared_with}


def in_force_before(records: list[dict], period: str | None) -> dict | None:
    """The municipality's delivery in force before `period`: the latest accepted of an earlier month."""
    earlier = [r for r in records if r.get("status") == "accepted" and (period is None or (r.get("period") or "") < period)]
    return max(earlier, key=lambda r: r.get("period") or "", default=None)


def _text(values: pd.Series) -> pa.Array:
    """Ids as Arrow text, matched with pc.is_in: pandas' isin on Arrow-backed strings took 7 ms for
    a few hundred ids, 0.3 s a month at x4 over the 25 deliveries' gates; this takes 0.05 ms
    (docs/performance.md). The whole measure in Arrow: 1.0 s -> 0.3 s CPU over x4's 600 deliveries."""
    return pa.array(values, from_pandas=True).cast(pa.large_string())


def _dates(values: pd.Series) -> pa.Array:
    """Dates (a timestamp as its day: before the cutoff day exactly when its day is) as Arrow dates."""
    return pa.array(values, type=pa.date32(), from_pandas=True)


def _ids(frame: pd.DataFrame | None) -> pa.Array:
    """The frame's episode ids as Arrow text (a missing one matches no open episode: those all have
    an id); built in Arrow, without pandas' dropna and an empty Series for each delivery without a
    quarantine, which took a third of the gate's time."""
    if frame is None or not len(frame) or "episode_id" not in frame.columns:
        return pa.array([], type=pa.large_string())
    return _text(frame["episode_id"])


def with_gate_status(records: list[dict]) -> list[dict]:
    """The records as the `deliveries` view shows them: a held delivery with a later one of its
    municipality in force is `superseded`; status_reason says why a delivery is held, superseded
    or was released (by whom, when, why). Only `accepted` deliveries are in force."""
    latest: dict[str, str] = {}
    for r in records:
        if r.get("status") == "accepted":
            latest[r["municipality"]] = max(latest.get(r["municipality"], ""), r.get("period") or "")
    out = []
    for r in records:
        r = dict(r)
        if r.get("status") == HELD:
            later = latest.get(r["municipality"], "") > (r.get("period") or "")
            r["status"] = SUPERSEDED if later else HELD
            r["status_reason"] = ("superseded by a later delivery in force; " if later else "") + r["hold_reason"]
        elif r.get("released_by"):
            r["status_reason"] = (f"released by {r['released_by']} at {r['released_at']}: {r['release_reason']} "
                                  f"(held for: {r.get('hold_reason')})")
        out.append(r)
    return out


# --- release decisions -----------------------------------------------------------------------

def read_releases(curated_dir: Path) -> list[dict]:
    """Every release decision: delivery_id, sha256 (of the file released), by, at, reason."""
    path = curated_dir / RELEASES_LEDGER
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def released(curated_dir: Path, delivery_id: str, sha256: str | None) -> dict | None:
    """The decision that released this very file (same delivery and hash), if any."""
    return next((r for r in reversed(read_releases(curated_dir))
                 if r["delivery_id"] == delivery_id and r["sha256"] == sha256), None)


def record_release(curated_dir: Path, record: dict, reason: str, by: str | None = None) -> dict:
    """Append a release decision to the ledger (the stored record is updated by the caller)."""
    decision = {"delivery_id": record["delivery_id"], "sha256": record.get("sha256"),
                "released_by": by or user_name(), "released_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "reason": reason, "hold_reason": record.get("hold_reason")}
    path = curated_dir / RELEASES_LEDGER
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(decision, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return decision


def apply_release(record: dict, decision: dict) -> dict:
    """A held record put in force by a release decision, which it keeps."""
    return {**record, "status": "accepted", "released_by": decision["released_by"],
            "released_at": decision["released_at"], "release_reason": decision["reason"]}


def user_name() -> str:
    """Who is running this: $LVV_USER, else the login name of the environment."""
    for name in ("LVV_USER", "USER", "LOGNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "unknown"


def gate_delivery(record: dict, episodes: pd.DataFrame, quarantine: pd.DataFrame, stored: list[dict],
                  previous_episodes_of: Callable[[dict], pd.DataFrame], curated_dir: Path,
                  overrides: dict[str, float] | None = None) -> tuple[dict, Verdict | None]:
    """The record as it goes into the store: held when implausible, unless this file was released."""
    if record.get("status") != "accepted":
        return record, None
    previous = in_force_before(stored, record.get("period"))
    prev_eps = previous_episodes_of(previous) if previous else None
    found = verdict(record, episodes, quarantine, previous, prev_eps, overrides)
    if not found.held:
        return record, found
    decision = released(curated_dir, record["delivery_id"], record.get("sha256"))
    held = hold(record, found)
    return (apply_release(held, decision) if decision else held), found



class ReleaseError(ValueError):
    """A release that cannot be made (no such delivery, or not held); the message says why."""


def release_held(curated_dir: Path, staged_root: Path, delivery_id: str, reason: str,
                 by: str | None = None) -> dict:
    """Put a held delivery in force: the decision goes into the ledger, the stored record and the
    run log (status `released`, who and why). The next run publishes it."""
    from transforms import runs
    from transforms.publish import publication_lock
    from transforms.store import load_records, save_record

    with publication_lock(curated_dir, 60):
        record = next((r for r in load_records(staged_root) if r["delivery_id"] == delivery_id), None)
        if record is None:
            raise ReleaseError(f"{delivery_id}: no such delivery in {staged_root}; `lvv deliveries list --held` "
                               "lists the held ones")
        if record.get("status") != HELD:
            raise ReleaseError(f"{delivery_id} is {record.get('status')}, not held: there is nothing to release")
        decision = record_release(curated_dir, record, reason, by)
        save_record(staged_root, apply_release(record, decision))
        entry = {"delivery_id": delivery_id, "action": "released", "status": "accepted",
                 "sha256": record.get("sha256"), "previous_sha256": None,
                 **{k: int(record.get(k) or 0) for k in ("rows_read", "rows_curated", "rows_quarantined")}}
        run = runs.new_run(date.today(), [])
        runs.append_run(curated_dir, runs.finish_run(run, "released", [entry], message=(
            f"{delivery_id} released by {decision['released_by']}: {reason} (it was held: "
            f"{record.get('hold_reason')}); in force from the next run")))
    return decision
