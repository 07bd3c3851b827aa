"""Assemble the curated tables from the per-delivery store: deliveries, versions, issues.

Besides the stored per-delivery findings, validation_issues holds the findings that need the
whole history: revisions between deliveries, one person in two municipalities at once, and the
corrections files (when `raw_dir` is given), whose valid corrections are applied to the versions.

A delivery only opens, changes or closes versions of its own municipality, so the history is
merged per municipality, from its stored deliveries and its corrections file alone: its episode
versions and its findings (stored, revisions, corrections). Each municipality's result is kept
in the store under a fingerprint of exactly its inputs (fingerprint_chain) and merged again only
when that changes; when the only change is a new latest delivery (the monthly case), that delivery
alone is merged into the versions kept (append_delivery), so a monthly run reads the new
deliveries and the versions, not the history; peak memory grows with the largest municipality's
versions, and a full rebuild's with its history, not with the network's. What needs
several municipalities (a person open in two LVVs, the deliveries' gaps) runs after, over the
merged results. Kept or not, the tables are published as they are stored (read back, or the Arrow
tables just written), so a full rebuild and an incremental run publish the same bytes (tests/test_incremental_history.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa

from schemas.checks import Finding, Lang
from transforms.corrections import CorrectionsFile, apply_corrections, corrections_path, read_corrections
from transforms.discover import missing_months, superseded_files
from transforms.gate import with_gate_status
from transforms.history import VERSION_ATTRIBUTES, VERSION_COLUMNS, episode_versions
from transforms.revisions import ISSUE_COLUMNS, DeliveryFinding, issue_frame, persons_open_elsewhere, revisions
from transforms.store import (drop_histories, load_delivery_table, load_history, load_records, load_table,
                              save_history)

DELIVERY_COLUMNS = ["delivery_id", "municipality", "period", "file", "sha256", "stand_per",
                    "stand_per_stated", "status", "rows_read", "rows_curated", "rows_quarantined",
                    "rows_skipped", "status_reason", "superseded_by"]
QUARANTINE_COLUMNS = ["delivery_id", "municipality", "excel_row", "episode_id", "reasons"]
#: what a municipality's merged history is derived with besides its data: the code and the
#: vocabularies; a change to any of them merges every municipality again
_ROOT = Path(__file__).resolve().parent.parent
HISTORY_CODE = ("transforms/curate.py", "transforms/history.py", "transforms/revisions.py",
                "transforms/corrections.py", "transforms/stage.py", "transforms/values.py",
                "transforms/gate.py", "transforms/store.py", "schemas/checks.py", "schemas/checks.yaml",
                "schemas/taxonomy.yaml", "schemas/contracts.py")


def curated_tables(staged_root: Path, raw_dir: Path | None = None, lang: Lang = "nl",
                   incremental: bool = True) -> dict[str, pd.DataFrame]:
    """Every table a publish writes, from the stored deliveries.

    raw_dir: data/raw, where each municipality's corrections file lives; None applies none.
    incremental: reuse each municipality's merged history kept under the same fingerprint;
    False merges every municipality again (a full rebuild; the result is the same).
    """
    records = with_gate_status(load_records(staged_root))
    located = pd.DataFrame(records, columns=[*DELIVERY_COLUMNS, "layout"])
    passed_over = pd.DataFrame(superseded_files(raw_dir, set(located["municipality"])) if raw_dir else [],
                               columns=DELIVERY_COLUMNS)
    located = located.sort_values(["municipality", "period"], ignore_index=True)
    merged = [municipality_history(staged_root, municipality, own, raw_dir, lang, incremental)
              for municipality, own in located.groupby("municipality", sort=True)]
    drop_histories(staged_root, set(located["municipality"]))
    versions = pd.concat([m["versions"] for m in merged], ignore_index=True) if merged else _typed_versions(
        pd.DataFrame(columns=VERSION_COLUMNS))
    # one order whatever was merged when: by episode, then as merged (by version)
    versions = versions.sort_values("episode_id", kind="stable", ignore_index=True)
    latest = _latest_rows(staged_root, located)
    across = persons_open_elsewhere(versions, located, latest) + delivery_gaps(located, passed_over)
    quarantine = load_table(staged_root, "quarantine")
    listed = pd.concat([f for f in (located[DELIVERY_COLUMNS], passed_over) if len(f)] or [located[DELIVERY_COLUMNS]],
                       ignore_index=True)
    return {
        "episode_versions": versions,
        "deliveries": _typed_deliveries(listed.sort_values(["municipality", "period", "status"], ignore_index=True)),
        "validation_issues": _issues(*[m["issues"] for m in merged], issue_frame(across, lang)),
        "quarantined_rows": quarantine if len(quarantine) else pd.DataFrame(
            columns=QUARANTINE_COLUMNS).astype(str),
    }


def municipality_history(staged_root: Path, municipality: str, located: pd.DataFrame, raw_dir: Path | None,
                         lang: Lang = "nl", incremental: bool = True) -> dict[str, pd.DataFrame]:
    """One municipality's episode versions and findings (stored, revisions, corrections), typed
    as published: kept in the store under the fingerprint of their inputs. When it is not kept
    (or not incremental) and the municipality's only new input is its latest delivery (the
    monthly case), the delivery is merged into the versions kept before it (append_delivery);
    otherwise the municipality's whole history is merged again (merge_municipality).

    located: the municipality's delivery records (with gate status and layout), by period.
    """
    path = corrections_path(raw_dir, municipality) if raw_dir is not None else None
    chain = fingerprint_chain(staged_root, located, lang)
    fingerprint = _with_corrections(chain[-1], path)
    kept = load_history(staged_root, municipality, fingerprint) if incremental else None
    if kept is None:
        before = load_history(staged_root, municipality, chain[-2]) if (
            incremental and path is None and len(chain) > 1) else None
        tables = (append_delivery(staged_root, located, before) if before is not None
                  else merge_municipality(staged_root, municipality, located, path, lang))
        kept = save_history(staged_root, municipality, fingerprint, tables)
    issues = [kept[name] for name in ISSUE_BLOCKS]
    return {"versions": _typed_versions(kept["versions"]), "issues": _issues(*issues)}


#: the blocks of a municipality's findings, in the order they are published
ISSUE_BLOCKS = ("findings", "revisions", "corrections")


def merge_municipality(staged_root: Path, municipality: str, located: pd.DataFrame, corrections: Path | None,
                       lang: Lang = "nl") -> dict[str, pd.DataFrame]:
    """Derive one municipality's versions and findings from its own stored deliveries only."""
    episodes = load_table(staged_root, "episodes", municipality)
    quarantine = load_table(staged_root, "quarantine", municipality)
    findings = load_table(staged_root, "findings", municipality)
    plain = episode_versions(located, episodes, quarantine) if len(episodes) else pd.DataFrame(columns=VERSION_COLUMNS)
    revised = issue_frame(revisions(plain, located), lang)
    versions, corrected = plain, []
    if corrections is not None and len(located):
        from schemas.contracts import contracts

        known = contracts()
        files = [_read_corrections(corrections, known[municipality])] if municipality in known else []
        if files:
            versions, corrected = apply_corrections(located, episodes, quarantine, files, known, lang)
    return _blocks(versions, findings, revised, issue_frame(corrected, lang))


def _blocks(versions: pd.DataFrame, findings: pd.DataFrame, revised: pd.DataFrame,
            corrected: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A municipality's merged tables in one order however they were made: versions by episode
    and version, revision findings by delivery (then by episode, as revisions gives them)."""
    versions = _typed_versions(versions).sort_values(["episode_id", "version"], kind="stable", ignore_index=True)
    revised = revised.sort_values("delivery_id", kind="stable", ignore_index=True) if len(revised) else revised
    return {"versions": versions, "findings": _issues(findings), "revisions": _issues(revised),
            "corrections": _issues(corrected)}


#: the delivery id the versions in force stand under while a new delivery is merged into them
IN_FORCE = "\0in-force"


def append_delivery(staged_root: Path, located: pd.DataFrame, before: dict[str, pd.DataFrame],
                    lang: Lang = "nl") -> dict[str, pd.DataFrame]:
    """A municipality's merged tables with its latest delivery merged into those kept before it.

    The versions in force stand for every delivery before (a delivery is a full snapshot, and a
    quarantined row carries the version in force): the new delivery keeps, closes or changes them
    and opens new ones, as episode_versions does over the whole history. Only the new delivery's
    rows and the versions are read; its revision findings are those of the episodes it touched.
    """
    new = located.iloc[-1].to_dict()
    versions = _typed_versions(before["versions"])
    findings = _issues(before["findings"], load_delivery_table(staged_root, new, "findings"))
    revised = _issues(before["revisions"])
    if new["status"] != "accepted":
        return _blocks(versions, findings, revised, before["corrections"])
    in_force = versions[versions["known_to"].isna()]
    state = pa.Table.from_pandas(in_force[["episode_id", *VERSION_ATTRIBUTES, "excel_row"]],
                                 preserve_index=False).to_pandas().assign(delivery_id=IN_FORCE)
    rows = load_delivery_table(staged_root, new, "episodes")
    quarantine = load_delivery_table(staged_root, new, "quarantine")
    if not len(state) and not len(rows):
        return _blocks(versions, findings, revised, before["corrections"])
    # the versions in force as the delivery just before the new one (any earlier date will do)
    deliveries = pd.DataFrame([{"delivery_id": IN_FORCE, "municipality": new["municipality"],
                                "stand_per": new["stand_per"] - timedelta(days=1), "status": "accepted"},
                               {k: new[k] for k in ("delivery_id", "municipality", "stand_per", "status")}])
    tail = episode_versions(deliveries, pd.concat([state, rows], ignore_index=True), quarantine)
    carried = tail[tail["stated_in"] == IN_FORCE].set_index("episode_id")["known_to"]
    closed = versions["known_to"].isna() & versions["episode_id"].map(carried).notna()
    versions.loc[closed, "known_to"] = as_date(versions.loc[closed, "episode_id"].map(carried))
    opened = tail[tail["stated_in"] != IN_FORCE].copy()
    counts = versions.groupby("episode_id").size()
    opened["version"] = opened["episode_id"].map(counts).fillna(0).astype("int64") + 1
    updated = pd.concat([versions, _typed_versions(opened)], ignore_index=True)
    updated = updated.sort_values(["episode_id", "version"], kind="stable", ignore_index=True)
    touched = set(opened["episode_id"]) | set(versions.loc[closed, "episode_id"])
    last_two = updated[updated["episode_id"].isin(touched)].groupby("episode_id").tail(2)
    found = [f for f in revisions(last_two, located) if f.delivery_id == new["delivery_id"]]
    return _blocks(updated, findings, _issues(revised, issue_frame(found, lang)), before["corrections"])


def _read_corrections(path: Path, contract) -> CorrectionsFile:
    return read_corrections(path, contract, f"{contract.municipality}/{path.name}")


def fingerprint_chain(staged_root: Path, located: pd.DataFrame, lang: Lang = "nl") -> list[str]:
    """Hashes of what a municipality's merged history is derived from, one per delivery in period
    order, each over the one before: first the language of the findings, the municipality's
    contract and the code and vocabularies that derive it (HISTORY_CODE), then each stored
    delivery's record as the deliveries table shows it (status after the gate, releases) and the
    size of its stored tables. The last is the fingerprint of all its deliveries; the one before,
    of all but the latest (what append_delivery merges the latest into).
    """
    from schemas.contracts import contracts

    digest = hashlib.sha256(f"lang={lang}\0".encode())
    for name in HISTORY_CODE:
        source = _ROOT / name
        digest.update(name.encode() + (source.read_bytes() if source.exists() else b""))
    municipalities = set(located["municipality"])
    contract = contracts().get(next(iter(municipalities))) if len(municipalities) == 1 else None
    digest.update(contract.model_dump_json().encode() if contract is not None else b"no contract")
    chain = [digest.hexdigest()]
    for record in located.to_dict("records"):
        digest = hashlib.sha256(chain[-1].encode())
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        folder = staged_root / record["municipality"] / (record.get("period") or "unknown")
        for table in ("episodes", "quarantine", "findings"):
            stored = folder / f"{table}.parquet"
            digest.update(f"{table}={stored.stat().st_size if stored.exists() else -1}\0".encode())
        chain.append(digest.hexdigest())
    return chain


def _with_corrections(fingerprint: str, corrections: Path | None) -> str:
    """The fingerprint with the corrections file's name and content, when there is one."""
    if corrections is None:
        return fingerprint
    return hashlib.sha256(fingerprint.encode() + corrections.name.encode() + b"\0"
                          + corrections.read_bytes()).hexdigest()


def _latest_rows(staged_root: Path, located: pd.DataFrame) -> pd.DataFrame:
    """The rows of each municipality's latest accepted delivery (where a person open elsewhere
    is pointed at): one month of each, not the history."""
    accepted = located[located["status"] == "accepted"].sort_values(["municipality", "stand_per"])
    latest = accepted.groupby("municipality").tail(1)
    frames = [load_delivery_table(staged_root, record, "episodes") for record in latest.to_dict("records")]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["delivery_id", "episode_id"])


def delivery_gaps(located: pd.DataFrame, passed_over: pd.DataFrame) -> list[DeliveryFinding]:
    """`delivery-missing` (on the delivery that covers the gap) for every month a municipality did
    not deliver, and `delivery-superseded` for every file a later version in its folder replaced."""
    found = []
    for municipality, periods in located.dropna(subset=["period"]).groupby("municipality")["period"]:
        for gap, after in missing_months(periods):
            found.append(DeliveryFinding(f"{municipality}/{after}", Finding(
                "delivery-missing", file=f"{municipality}/{gap}", params={"period": gap})))
    for row in passed_over.itertuples(index=False):
        found.append(DeliveryFinding(row.delivery_id, Finding(
            "delivery-superseded", file=row.file, params={"other": row.superseded_by})))
    return found


def _issues(*parts: pd.DataFrame) -> pd.DataFrame:
    """Findings (stored per delivery, found in the history) in one table, in the order given."""
    frames = [f.reindex(columns=ISSUE_COLUMNS) for f in parts if len(f)]
    if not frames:
        return pd.DataFrame(columns=ISSUE_COLUMNS).astype(str)
    out = pd.concat(frames, ignore_index=True)
    out["excel_row"] = out["excel_row"].astype("Int64")
    for col in ("episode_id", "value_before"):
        out[col] = out[col].astype("string")
    return out


DATE = pd.ArrowDtype(pa.date32())


def as_date(values: pd.Series) -> pd.Series:
    """A column of dates as a real date type (DuckDB DATE, Parquet date32), nulls kept."""
    if values.dtype == DATE:  # as kept (load_history): converting again went through Python objects
        return values
    return pd.to_datetime(values).astype(DATE)


def _typed_versions(versions: pd.DataFrame) -> pd.DataFrame:
    out = versions.copy()
    for col in ("intake_date", "exit_date", "known_from", "known_to"):
        out[col] = as_date(out[col])
    if "correction" not in out.columns:
        out["correction"] = None
    for col in ("episode_id", "municipality", "person_id", "outcome_code", "follow_up_code", "stated_in",
                "correction"):
        out[col] = out[col].astype("string")
    out["version"] = out["version"].astype("int32")
    out["excel_row"] = out["excel_row"].astype("int64")
    return out


def _typed_deliveries(deliveries: pd.DataFrame) -> pd.DataFrame:
    out = deliveries.copy()
    out["stand_per"] = as_date(out["stand_per"])
    for col in ("rows_read", "rows_curated", "rows_quarantined", "rows_skipped"):
        out[col] = out[col].astype("int64")
    out["stand_per_stated"] = out["stand_per_stated"].astype(bool)
    out["status_reason"] = out["status_reason"].astype("string")
    out["superseded_by"] = out["superseded_by"].astype("string")
    return out
