"""Assemble the curated tables from the per-delivery store: deliveries, versions, issues."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from schemas.checks import FINDING_COLUMNS
from transforms.history import VERSION_COLUMNS, episode_versions
from transforms.store import load_records, load_table

DELIVERY_COLUMNS = ["delivery_id", "municipality", "period", "file", "sha256", "stand_per",
                    "stand_per_stated", "status", "rows_read", "rows_curated", "rows_quarantined",
                    "rows_skipped"]
QUARANTINE_COLUMNS = ["delivery_id", "municipality", "excel_row", "episode_id", "reasons"]


def curated_tables(staged_root: Path) -> dict[str, pd.DataFrame]:
    """Every table a publish writes, rebuilt from the stored deliveries."""
    deliveries = pd.DataFrame(load_records(staged_root), columns=DELIVERY_COLUMNS)
    deliveries = deliveries.sort_values(["municipality", "period"], ignore_index=True)
    episodes = load_table(staged_root, "episodes")
    quarantine = load_table(staged_root, "quarantine")
    findings = load_table(staged_root, "findings")
    if episodes.empty:
        versions = pd.DataFrame(columns=VERSION_COLUMNS)
    else:
        versions = episode_versions(deliveries, episodes, quarantine)
    return {
        "episode_versions": _typed_versions(versions),
        "deliveries": _typed_deliveries(deliveries),
        "validation_issues": findings if len(findings) else pd.DataFrame(
            columns=["delivery_id", *FINDING_COLUMNS]).astype(str),
        "quarantined_rows": quarantine if len(quarantine) else pd.DataFrame(
            columns=QUARANTINE_COLUMNS).astype(str),
    }


def as_date(values: pd.Series) -> pd.Series:
    """A column of dates as a real date type (DuckDB DATE, Parquet date32), nulls kept."""
    return pd.to_datetime(values).astype("date32[pyarrow]")


def _typed_versions(versions: pd.DataFrame) -> pd.DataFrame:
    out = versions.copy()
    for col in ("intake_date", "exit_date", "known_from", "known_to"):
        out[col] = as_date(out[col])
    for col in ("episode_id", "municipality", "person_id", "outcome_code", "follow_up_code", "stated_in"):
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
    return out
