"""Assemble the curated tables from the per-delivery store: deliveries, versions, issues.

Besides the stored per-delivery findings, validation_issues holds the findings that need the
whole history: revisions between deliveries, one person in two municipalities at once, and the
corrections files (when `raw_dir` is given), whose valid corrections are applied to the versions.

A delivery only opens, changes or closes versions of its own municipality, so the history is
merged per municipality, from its stored deliveries and its corrections file alone: its episode
versions, its findings (stored, revisions, corrections) and its quarantined rows (so that a run
does not read every stored delivery's quarantine file again). The merged history is kept in the
store (one set of files for the network, each row marked with its municipality) beside a
fingerprint of exactly each municipality's inputs (fingerprint_chain); a municipality is merged
again only when its fingerprint changes. When the only change is a new latest delivery (the
monthly case), that delivery is merged into the versions kept (append_deliveries, every such
municipality in one pass), so a monthly run reads the new deliveries and the versions, not the
history; a full rebuild merges one municipality at a time, so its peak memory grows with the
largest municipality's history, not with the network's. What needs several municipalities (a
person open in two LVVs, the deliveries' gaps) runs after, over the merged results. Kept or not,
the tables are published as they are stored (the Arrow tables just written, or read back), so a
full rebuild and an incremental run publish the same bytes (tests/test_incremental_history.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.checks import Finding, Lang
from transforms.corrections import CorrectionsFile, apply_corrections, corrections_path, read_corrections
from transforms.discover import missing_months, superseded_files
from transforms.gate import with_gate_status
from transforms.history import VERSION_ATTRIBUTES, VERSION_COLUMNS, episode_versions
from transforms.revisions import ISSUE_COLUMNS, DeliveryFinding, issue_frame, persons_open_elsewhere, revisions
from transforms.store import (HISTORY_DIR, KeptHistory, load_delivery_tables, load_history, load_records, period_folder,
                              load_table, save_history)

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
                "schemas/taxonomy.yaml", "schemas/contracts.py", "schemas/__init__.py")


def curated_tables(staged_root: Path, raw_dir: Path | None = None, lang: Lang = "nl",
                   incremental: bool = True, merges: dict[str, list[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Every table a publish writes, from the stored deliveries.

    raw_dir: data/raw, where each municipality's corrections file lives; None applies none.
    incremental: reuse each municipality's merged history kept under the same fingerprint;
    False merges every municipality again (a full rebuild; the result is the same).
    merges: filled with how each municipality's history was had (merged_history).
    """
    records = with_gate_status(load_records(staged_root))
    located = pd.DataFrame(records, columns=[*DELIVERY_COLUMNS, "layout"])
    passed_over = pd.DataFrame(superseded_files(raw_dir, set(located["municipality"])) if raw_dir else [],
                               columns=DELIVERY_COLUMNS)
    located = located.sort_values(["municipality", "period"], ignore_index=True)
    merged = merged_history(staged_root, located, raw_dir, lang, incremental, merges).tables
    # kept in the published order (KEPT_ORDER): by episode, then municipality and version
    versions = _typed_versions(merged["versions"].drop(columns="kept_municipality"))
    # each municipality's findings (stored, revisions, corrections), municipality by municipality
    blocks = pd.concat([merged[name].assign(block=i) for i, name in enumerate(ISSUE_BLOCKS)], ignore_index=True)
    blocks = blocks.sort_values(["kept_municipality", "block"], kind="stable", ignore_index=True)
    latest = _latest_rows(staged_root, located)
    across = persons_open_elsewhere(versions, located, latest) + delivery_gaps(located, passed_over)
    # kept with the history: read from every stored delivery, it was a cost that grew with the months
    quarantine = merged["quarantined"].drop(columns="kept_municipality")
    listed = pd.concat([f for f in (located[DELIVERY_COLUMNS], passed_over) if len(f)] or [located[DELIVERY_COLUMNS]],
                       ignore_index=True)
    return {
        "episode_versions": versions,
        "deliveries": _typed_deliveries(listed.sort_values(["municipality", "period", "status"], ignore_index=True)),
        "validation_issues": _issues(blocks, issue_frame(across, lang)),
        "quarantined_rows": quarantine if len(quarantine) else pd.DataFrame(
            columns=QUARANTINE_COLUMNS).astype(str),
    }


def merged_history(staged_root: Path, located: pd.DataFrame, raw_dir: Path | None, lang: Lang = "nl",
                   incremental: bool = True, merges: dict[str, list[str]] | None = None) -> KeptHistory:
    """Every municipality's episode versions and findings (stored, revisions, corrections), typed
    as published, each row with its `kept_municipality`; kept in the store with the fingerprint of
    each municipality's inputs. A municipality whose fingerprint is unchanged is taken as kept;
    one whose only new input is its latest delivery (the monthly case) has that delivery merged
    into the versions kept before it (append_deliveries, every such municipality at once);
    any other is merged whole again (merge_municipality). Nothing changed: nothing is written.

    located: every delivery record (with gate status and layout), by municipality and period.
    merges: filled with the municipalities taken as kept (`kept`), appended to (`appended`) and
    merged whole (`merged`); `other_layout` names the history kept when it matched no
    municipality's inputs (kept by other code, in another layout or language: every municipality
    is merged again, once).
    """
    kept = load_history(staged_root) if incremental else None
    # kept by another layout (other tables, or files load_history does not take): merged again once
    other_tables = kept is not None and set(kept.tables) != set(KEPT_ORDER)
    unreadable = incremental and kept is None and (staged_root / HISTORY_DIR).is_dir()
    if other_tables:
        kept = None
    fingerprints: dict[str, str] = {}
    parts: list[dict[str, pd.DataFrame]] = []
    as_kept, appends = set(), {}
    code = code_digest(lang)
    records: dict[str, list[dict]] = {}
    for record in located.to_dict("records"):  # once: per municipality, pandas' fixed cost was a third of the chains
        records.setdefault(record["municipality"], []).append(record)
    for municipality, own in located.groupby("municipality", sort=True):
        path = corrections_path(raw_dir, municipality) if raw_dir is not None else None
        chain = fingerprint_chain(staged_root, records[municipality], lang, code)
        fingerprints[municipality] = _with_corrections(chain[-1], path)
        was = kept.fingerprints.get(municipality) if kept is not None else None
        if was is not None and was == fingerprints[municipality]:
            as_kept.add(municipality)
        elif was is not None and path is None and len(chain) > 1 and was == chain[-2]:
            appends[municipality] = own
        else:
            parts.append(_kept_as(municipality, merge_municipality(staged_root, municipality, own, path, lang)))
    if merges is not None:
        matched_nothing = kept is not None and not as_kept and not appends and bool(fingerprints)
        merges.update(kept=sorted(as_kept), appended=sorted(appends),
                      merged=sorted(set(fingerprints) - as_kept - set(appends)),
                      other_layout=[str(staged_root / HISTORY_DIR)] if other_tables or unreadable or matched_nothing
                      else [])
    if kept is not None and kept.fingerprints == fingerprints:
        return kept
    if kept is not None and as_kept:
        parts.append(kept.rows_of(as_kept))
    if appends:
        parts.append(append_deliveries(staged_root, located, appends, kept.rows_of(set(appends)), lang))
    return save_history(staged_root, fingerprints, _network_blocks(parts))


#: the blocks of a municipality's findings, in the order they are published
ISSUE_BLOCKS = ("findings", "revisions", "corrections")
#: the kept order of each table's rows: the findings by municipality, then as one municipality's
#: merge gives them; the versions as published, by episode, then municipality and version (one
#: order whatever was merged when; sorted once, not by municipality for the store and again by
#: episode for the release)
KEPT_ORDER = {"versions": ["episode_id", "kept_municipality", "version"], "revisions": ["kept_municipality",
              "delivery_id"], "findings": ["kept_municipality"], "corrections": ["kept_municipality"],
              "quarantined": ["kept_municipality"]}


def _kept_as(municipality: str, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.assign(kept_municipality=municipality) for name, frame in tables.items()}


def _network_blocks(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The parts' tables as one table each, typed, in the kept order (whatever was merged how)."""
    out = {}
    for name, keys in KEPT_ORDER.items():
        frames = [p[name] for p in parts if len(p[name])]
        if name == "versions":
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
                columns=[*VERSION_COLUMNS, "kept_municipality"])
            typed = _typed_versions(frame.drop(columns="kept_municipality"))
        elif name == "quarantined":  # every stored delivery's quarantined rows, as stored (columns vary)
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["kept_municipality"])
            typed = frame.drop(columns="kept_municipality")
        else:
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
                columns=[*ISSUE_COLUMNS, "kept_municipality"])
            typed = _issues(frame)
        # the array, not to_numpy(): that made every row's municipality a Python string, and the
        # column was converted back to Arrow one value at a time on the next astype or concat
        typed["kept_municipality"] = frame["kept_municipality"].astype("string").array
        out[name] = typed.sort_values(keys, kind="stable", ignore_index=True)
    return out


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
    return {"versions": _typed_versions(versions), "findings": _issues(findings), "revisions": _issues(revised),
            "corrections": _issues(issue_frame(corrected, lang)), "quarantined": quarantine}


#: the delivery id the versions in force of a municipality stand under while a new delivery is
#: merged into them (followed by the municipality's name)
IN_FORCE = "\0in-force/"


def append_deliveries(staged_root: Path, located: pd.DataFrame, appends: dict[str, pd.DataFrame],
                      before: dict[str, pd.DataFrame], lang: Lang = "nl") -> dict[str, pd.DataFrame]:
    """The merged tables of these municipalities with each one's latest delivery merged into its
    tables kept before it, all municipalities at once (one derivation of versions, one search for
    revisions: per municipality, their fixed cost was most of a monthly run's history step).

    The versions in force stand for every delivery before (a delivery is a full snapshot, and a
    quarantined row carries the version in force): the new delivery keeps, closes or changes them
    and opens new ones, as episode_versions does over the whole history. Only the new deliveries'
    rows and the versions are read; their revision findings are those of the episodes they touched.

    located: every delivery record; appends: the municipalities' own records, by period; before:
    their kept rows (with kept_municipality).
    """
    news = [own.iloc[-1].to_dict() for own in appends.values()]
    of_news = {new["delivery_id"]: new["municipality"] for new in news}
    findings, quarantine = [before["findings"]], [before["quarantined"]]
    for name, kept in (("findings", findings), ("quarantine", quarantine)):  # every new delivery's, any status
        found = load_delivery_tables(staged_root, news, name)
        if len(found):
            kept.append(found.assign(kept_municipality=found["delivery_id"].map(of_news)))
    versions = before["versions"]
    merging = [new for new in news if new["status"] == "accepted"]
    names = {new["municipality"] for new in merging}
    # the versions in force of the municipalities merging: looked for among the open versions only
    # (each municipality's latest snapshot), not by a text comparison over every version kept
    open_versions = versions[versions["known_to"].isna().to_numpy()]
    in_force = open_versions[open_versions["kept_municipality"].isin(names).to_numpy()]
    # in the stored rows' types (text as str, dates as Python dates): with the kept types (string,
    # Arrow dates) the concat below converted every date of the state one by one (0.6 s at x16)
    state = pa.Table.from_pandas(in_force[["episode_id", *VERSION_ATTRIBUTES, "excel_row"]],
                                 preserve_index=False).to_pandas(ignore_metadata=True)
    state["delivery_id"] = (IN_FORCE + in_force["kept_municipality"].astype(str)).to_numpy()
    rows = load_delivery_tables(staged_root, merging, "episodes")
    quarantined = quarantine[-1] if len(quarantine) > 1 else pd.DataFrame()  # the new deliveries' rows
    if len(quarantined):
        quarantined = quarantined[quarantined["delivery_id"].isin({new["delivery_id"] for new in merging})]
    rows = pd.concat([state, rows], ignore_index=True) if len(rows) else state
    merged = {"findings": _joined(findings), "quarantined": _joined(quarantine)}
    if not len(rows):
        return {**before, **merged}
    # the versions in force as the delivery just before each new one (any earlier date will do)
    deliveries = pd.DataFrame([row for new in merging for row in (
        {"delivery_id": IN_FORCE + new["municipality"], "municipality": new["municipality"],
         "stand_per": new["stand_per"] - timedelta(days=1), "status": "accepted"},
        {k: new[k] for k in ("delivery_id", "municipality", "stand_per", "status")})])
    tail = episode_versions(deliveries, rows, quarantined if len(quarantined) else None)
    carried = tail["stated_in"].astype(str).str.startswith(IN_FORCE)
    closing = tail[carried].set_index("episode_id")["known_to"]
    # the versions in force that the new deliveries close: a look-up among the episodes closed,
    # not a map of every version kept (the whole history's, in a monthly run)
    closing = closing[closing.notna()]
    closed = in_force.index[among(in_force["episode_id"], closing.index)]  # versions' labels
    versions = versions.copy(deep=False)  # copy on write: only the column changed is copied
    versions.loc[closed, "known_to"] = as_date(versions.loc[closed, "episode_id"].map(closing))
    opened = tail[~carried].copy()
    counts = versions[among(versions["episode_id"], opened["episode_id"])].groupby("episode_id").size()
    opened["version"] = opened["episode_id"].map(counts).fillna(0).astype("int64") + 1
    opened = _typed_versions(opened)
    opened = opened.assign(kept_municipality=opened["municipality"].array)  # as kept: string
    updated = pd.concat([_typed_versions(versions.drop(columns="kept_municipality")).assign(
        kept_municipality=versions["kept_municipality"].astype("string").array), opened], ignore_index=True)
    touched = set(opened["episode_id"]) | set(versions.loc[closed, "episode_id"])
    last_two = updated[among(updated["episode_id"], list(touched))].sort_values(
        ["episode_id", "version"], kind="stable").groupby("episode_id").tail(2)
    new_ids = {new["delivery_id"]: new["municipality"] for new in merging}
    found = [f for f in revisions(last_two.drop(columns="kept_municipality"), located) if f.delivery_id in new_ids]
    revised = issue_frame(found, lang)
    revised = revised.assign(kept_municipality=[new_ids[d] for d in revised["delivery_id"]]) if len(revised) \
        else revised.assign(kept_municipality=pd.Series(dtype="string"))
    return {"versions": updated, **merged, "corrections": before["corrections"],
            "revisions": pd.concat([before["revisions"], revised], ignore_index=True)}


def among(column: pd.Series, values) -> np.ndarray:
    """column.isin(values) as a boolean array, through Arrow's is_in: pandas' isin on a string
    column turned every value looked for into a Python object first (the episodes a month opens
    or closes, looked for among every version kept)."""
    return pc.is_in(_strings(column), value_set=_strings(values)).to_numpy(zero_copy_only=False)


def _strings(values) -> pa.Array:
    """Text values as an Arrow string array (a column or an index backed by Arrow: not copied)."""
    array = pa.array(values, from_pandas=True)
    return array if array.type == pa.string() else array.cast(pa.string())


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames with rows one after the other (the first when none has rows): an empty frame
    without a column would make that column's integers floats (pandas 3)."""
    full = [frame for frame in frames if len(frame)]
    return pd.concat(full, ignore_index=True) if full else frames[0]


def _read_corrections(path: Path, contract) -> CorrectionsFile:
    return read_corrections(path, contract, f"{contract.municipality}/{path.name}")


def fingerprint_chain(staged_root: Path, located: list[dict], lang: Lang = "nl",
                      code: hashlib._Hash | None = None) -> list[str]:
    """Hashes of what a municipality's merged history is derived from, one per delivery in period
    order, each over the one before: first the language of the findings, the municipality's
    contract and the code and vocabularies that derive it (HISTORY_CODE), then each stored
    delivery's record as the deliveries table shows it (status after the gate, releases) and the
    size of its stored tables. The last is the fingerprint of all its deliveries; the one before,
    of all but the latest (what append_deliveries merges the latest into).

    located: the municipality's delivery records (with gate status and layout), in period order.
    code: code_digest(lang), when the caller hashes the code once for every municipality.
    """
    from schemas.contracts import contracts

    digest = (code or code_digest(lang)).copy()
    municipalities = {record["municipality"] for record in located}
    contract = contracts().get(next(iter(municipalities))) if len(municipalities) == 1 else None
    digest.update(contract.model_dump_json().encode() if contract is not None else b"no contract")
    chain = [digest.hexdigest()]
    root = str(staged_root)
    for record in located:
        digest = hashlib.sha256(chain[-1].encode())
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        folder = os.path.join(root, record["municipality"], period_folder(record))
        for table in ("episodes", "quarantine", "findings"):
            digest.update(f"{table}={_size(os.path.join(folder, table + '.parquet'))}\0".encode())
        chain.append(digest.hexdigest())
    return chain


def code_digest(lang: Lang = "nl") -> hashlib._Hash:
    """The start of every municipality's fingerprint: the language and HISTORY_CODE's files."""
    digest = hashlib.sha256(f"lang={lang}\0".encode())
    for name in HISTORY_CODE:
        source = _ROOT / name
        digest.update(name.encode() + (source.read_bytes() if source.exists() else b""))
    return digest


def _size(path: str) -> int:
    """A stored table's size in bytes, -1 when it has no file (no rows)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


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
    # what persons_open_elsewhere points at, no more: the latest deliveries are the largest
    rows = load_delivery_tables(staged_root, latest.to_dict("records"), "episodes",
                                ["delivery_id", "episode_id", "excel_row"])
    return rows if len(rows) else pd.DataFrame(columns=["delivery_id", "episode_id"])


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
    # no deep copy: pandas copies on write (the columns set here replace, never change, the
    # caller's), and a column already of its type is not converted again; the kept history's
    # versions pass here several times a run, and a copy of all of them cost more than the rest
    out = versions.copy(deep=False)
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
