"""Assemble the curated tables from the per-delivery store: deliveries, versions, issues.

Besides the stored per-delivery findings, validation_issues holds the findings that need the
whole history: revisions between deliveries, one person in two municipalities at once, and the
corrections files (when `raw_dir` is given), whose valid corrections are applied to the versions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from schemas.checks import Finding, Lang
from transforms.corrections import apply_corrections, read_all
from transforms.discover import missing_months, superseded_files
from transforms.gate import with_gate_status
from transforms.history import VERSION_COLUMNS, episode_versions
from transforms.revisions import ISSUE_COLUMNS, DeliveryFinding, issue_frame, persons_open_elsewhere, revisions
from transforms.store import load_records, load_table

DELIVERY_COLUMNS = ["delivery_id", "municipality", "period", "file", "sha256", "stand_per",
                    "stand_per_stated", "status", "rows_read", "rows_curated", "rows_quarantined",
                    "rows_skipped", "status_reason", "superseded_by"]
QUARANTINE_COLUMNS = ["delivery_id", "municipality", "excel_row", "episode_id", "reasons"]


def curated_tables(staged_root: Path, raw_dir: Path | None = None, lang: Lang = "nl") -> dict[str, pd.DataFrame]:
    """Every table a publish writes, rebuilt from the stored deliveries.

    raw_dir: data/raw, where each municipality's corrections file lives; None applies none.
    """
    records = with_gate_status(load_records(staged_root))
    located = pd.DataFrame(records, columns=[*DELIVERY_COLUMNS, "layout"])
    passed_over = pd.DataFrame(superseded_files(raw_dir, set(located["municipality"])) if raw_dir else [],
                               columns=DELIVERY_COLUMNS)
    located = located.sort_values(["municipality", "period"], ignore_index=True)
    episodes = load_table(staged_root, "episodes")
    quarantine = load_table(staged_root, "quarantine")
    findings = load_table(staged_root, "findings")
    plain = episode_versions(located, episodes, quarantine) if len(episodes) else pd.DataFrame(columns=VERSION_COLUMNS)
    issues = revisions(plain, located)
    versions = plain
    if raw_dir is not None and len(located):
        from schemas.contracts import contracts

        files = read_all(raw_dir, contracts())
        if files:
            versions, corrected = apply_corrections(located, episodes, quarantine, files, contracts(), lang)
            issues += corrected
    issues += persons_open_elsewhere(versions, located, episodes)
    issues += delivery_gaps(located, passed_over)
    listed = pd.concat([f for f in (located[DELIVERY_COLUMNS], passed_over) if len(f)] or [located[DELIVERY_COLUMNS]],
                       ignore_index=True)
    return {
        "episode_versions": _typed_versions(versions),
        "deliveries": _typed_deliveries(listed.sort_values(["municipality", "period", "status"], ignore_index=True)),
        "validation_issues": _issues(findings, issue_frame(issues, lang)),
        "quarantined_rows": quarantine if len(quarantine) else pd.DataFrame(
            columns=QUARANTINE_COLUMNS).astype(str),
    }


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


def _issues(stored: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """The stored per-delivery findings and the history's findings, in one table."""
    frames = [f.reindex(columns=ISSUE_COLUMNS) for f in (stored, found) if len(f)]
    if not frames:
        return pd.DataFrame(columns=ISSUE_COLUMNS).astype(str)
    out = pd.concat(frames, ignore_index=True)
    out["excel_row"] = out["excel_row"].astype("Int64")
    for col in ("episode_id", "value_before"):
        out[col] = out[col].astype("string")
    return out


def as_date(values: pd.Series) -> pd.Series:
    """A column of dates as a real date type (DuckDB DATE, Parquet date32), nulls kept."""
    return pd.to_datetime(values).astype("date32[pyarrow]")


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
