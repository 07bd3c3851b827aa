"""Find the deliveries under data/raw and decide which need processing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.contracts import SourceContract
from transforms.delivery import file_sha256, parse_period

EXTENSIONS = {"xlsx": {".xlsx", ".xlsm"}, "csv": {".csv", ".txt"}}


@dataclass(frozen=True)
class DeliveryFile:
    """One file under data/raw/<municipality>/<YYYY-MM>/."""

    municipality: str
    period: str | None
    path: Path
    relative: str

    @property
    def delivery_id(self) -> str:
        return f"{self.municipality}/{self.period or '?'}"


def discover(raw_dir: Path, contracts: dict[str, SourceContract]) -> tuple[list[DeliveryFile], list[str]]:
    """Every delivery file of a known municipality, plus notes on what was passed over."""
    found: list[DeliveryFile] = []
    notes: list[str] = []
    if not raw_dir.is_dir():
        return found, [f"{raw_dir} does not exist: nothing to process"]
    for folder in sorted(p for p in raw_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in contracts:
            notes.append(f"{folder.name}/: no source contract in schemas/sources/, passed over")
            continue
        for period_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            period = parse_period(period_dir.name)
            files = sorted(p for p in period_dir.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))
            if len(files) > 1:
                notes.append(f"{folder.name}/{period_dir.name}/: {len(files)} files; the last by name "
                             f"({files[-1].name}) is the delivery, the others are passed over")
            for path in files[-1:]:
                found.append(DeliveryFile(folder.name, period, path, path.relative_to(raw_dir).as_posix()))
    return found, notes


def needs_processing(files: list[DeliveryFile], records: list[dict]) -> list[DeliveryFile]:
    """The files that are new, or whose content changed since they were processed."""
    known = {(r["municipality"], r["period"]): (r.get("sha256"), r.get("file")) for r in records}
    todo = []
    for item in files:
        previous = known.get((item.municipality, item.period))
        if previous != (file_sha256(item.path), item.relative):
            todo.append(item)
    return todo
