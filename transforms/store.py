"""The per-delivery store: what each processed delivery contributed, kept between runs.

data/curated/staged/<municipality>/<period>/ holds delivery.json (the record, with the file's
sha256), episodes.parquet, quarantine.parquet and findings.parquet. Everything in it is already
protected (pseudonyms only). A delivery is reprocessed only when its file's hash changes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from schemas.checks import FINDING_COLUMNS
from transforms.delivery import DeliveryResult


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """The one Parquet writer: zstd, statistics on, refuses anything that is not a DataFrame."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"write_parquet takes a DataFrame, not {type(frame).__name__}")
    frame.to_parquet(path, engine="pyarrow", compression="zstd", index=False, write_statistics=True)
    return path


def delivery_dir(staged_root: Path, municipality: str, period: str) -> Path:
    return staged_root / municipality / period


def save_result(staged_root: Path, result: DeliveryResult, lang: str = "nl") -> Path:
    """Write one delivery's result, replacing any earlier one for that period in one rename."""
    record = result.delivery
    target = delivery_dir(staged_root, record["municipality"], record["period"] or "unknown")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    findings = pd.DataFrame([f.as_row(lang) for f in result.findings], columns=FINDING_COLUMNS)
    findings.insert(0, "delivery_id", record["delivery_id"])
    findings["excel_row"] = findings["excel_row"].astype("Int64")
    write_parquet(result.episodes, tmp / "episodes.parquet")
    write_parquet(result.quarantine, tmp / "quarantine.parquet")
    write_parquet(findings, tmp / "findings.parquet")
    (tmp / "delivery.json").write_text(json.dumps(record, default=_json_default, indent=1), encoding="utf-8")
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(target)
    return target


def _json_default(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def load_records(staged_root: Path) -> list[dict]:
    """Every stored delivery record."""
    records = []
    for path in sorted(staged_root.glob("*/*/delivery.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("stand_per"):
            record["stand_per"] = date.fromisoformat(record["stand_per"])
        records.append(record)
    return records


def load_table(staged_root: Path, name: str) -> pd.DataFrame:
    """One table (episodes, quarantine or findings) over every stored delivery."""
    paths = sorted(staged_root.glob(f"*/*/{name}.parquet"))
    frames = [pd.read_parquet(p) for p in paths]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def clean_store(staged_root: Path) -> list[str]:
    """Remove what a killed save_result left behind; a delivery caught mid-replace is reprocessed."""
    leftovers = [*staged_root.glob("*/.tmp-*"), *staged_root.glob("*/.old-*")]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return [path.relative_to(staged_root).as_posix() for path in leftovers]


def prune(staged_root: Path, keep: set[tuple[str, str]]) -> list[str]:
    """Drop stored deliveries whose raw file is gone; returns their delivery ids."""
    dropped = []
    for path in sorted(staged_root.glob("*/*/delivery.json")):
        municipality, period = path.parent.parent.name, path.parent.name
        if (municipality, period) not in keep:
            shutil.rmtree(path.parent)
            dropped.append(f"{municipality}/{period}")
    return dropped
