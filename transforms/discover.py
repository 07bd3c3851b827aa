"""Find the deliveries under data/raw and decide which need processing.

One month's folder normally holds one file. When it holds more (a re-sent, corrected export),
the file whose name sorts last **with the numbers in the name compared as numbers** stands:
`export_v10.xlsx` after `export_v2.xlsx`, `export_v2.xlsx` after `export.xlsx`, and
`export (2).xlsx` after `export.xlsx` (names are compared without their extension, case
ignored). The others are kept as they are and recorded as superseded (`superseded_files`).
A month without a folder between a municipality's first and last delivery is a gap
(`missing_months`): the next delivery, a full export, covers it; it is a warning, not an error.
A month folder without a delivery file (hidden files and Office lock files do not count) is
passed over with a note too.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from schemas.contracts import SourceContract
from transforms.delivery import file_sha256, parse_period
from transforms.store import file_stamp, period_folder, stored_folder

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

    @property
    def folder(self) -> str:
        """Where its result is stored under its municipality (store.stored_folder): its period,
        or a folder of its own for a month folder not named YYYY-MM."""
        return stored_folder(self.period, self.relative)


def discover(raw_dir: Path, contracts: dict[str, SourceContract]) -> tuple[list[DeliveryFile], list[str]]:
    """Every delivery file of a known municipality, plus notes on what was passed over.

    Listed with os.scandir, whose entries know their type: a Path, an is_dir or is_file stat and a
    sort of Paths per month folder and per file cost 0.2 CPU s a run at x100 (3,000 month folders),
    for folders that hold one file each; a folder with several files is ordered by month_files."""
    found: list[DeliveryFile] = []
    notes: list[str] = []
    if not raw_dir.is_dir():
        return found, [f"{raw_dir} does not exist: nothing to process"]
    for name in _folder_names(raw_dir):
        if name not in contracts:
            notes.append(f"{name}/: no source contract in schemas/sources/, passed over")
            continue
        folder, periods = str(raw_dir / name), []
        for month in _folder_names(folder):
            # str(folder / month), without a Path per month (folder is never "." nor ends in "/")
            period, period_dir = parse_period(month), os.path.join(folder, month)
            stamp = file_stamp(period_dir)  # before it is listed: a file added after changes it
            names = _file_names(period_dir)
            files = month_files(Path(period_dir)) if len(names) > 1 else [Path(period_dir, n) for n in names]
            if stamp is not None:
                _MONTH_COUNTS[period_dir] = (stamp, len(files))
            if not files:  # a delivery forgotten or still being copied: said, not passed over in silence
                notes.append(f"{name}/{month}/: an empty month folder (no delivery file), passed over")
            if len(files) > 1:
                notes.append(f"{name}/{month}/: {len(files)} files; {files[-1].name} stands "
                             f"(the latest version by name), superseded: {', '.join(p.name for p in files[:-1])}")
            for path in files[-1:]:
                found.append(DeliveryFile(name, period, path, f"{name}/{month}/{path.name}"))
                if period:
                    periods.append(period)
        notes += [f"{name}/: no delivery for {gap}; the delivery of {after} covers it"
                  for gap, after in missing_months(periods)]
    return found, notes


def _folder_names(folder: str | Path) -> list[str]:
    """The names of the folders in a folder (links to folders too), hidden ones left out, sorted."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if not entry.name.startswith(".") and entry.is_dir())


def _file_names(folder: str) -> list[str]:
    """The names of the files month_files orders (hidden ones and Office's lock files left out)."""
    with os.scandir(folder) as entries:
        return [entry.name for entry in entries if not entry.name.startswith((".", "~$")) and entry.is_file()]


def version_key(path: Path) -> tuple:
    """How the files of one month's folder are ordered: name without extension, numbers as numbers."""
    parts = re.split(r"(\d+)", path.stem.casefold())
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in parts if p), path.name


def month_files(period_dir: Path) -> list[Path]:
    """The files of one month's folder, the one that stands last (see version_key)."""
    files = [p for p in period_dir.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))]
    return sorted(files, key=version_key)


def superseded_files(raw_dir: Path, municipalities: Iterable[str]) -> list[dict]:
    """Every file passed over because a later version stands in its month folder, as a record of
    the `deliveries` table (status `superseded`, no rows) with the file that stands."""
    out = []
    for municipality in sorted(municipalities):
        folder = raw_dir / municipality
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            months = sorted(entry.name for entry in entries if entry.is_dir() and parse_period(entry.name))
        for month in months:
            period_dir = folder / month
            if _file_count(period_dir) < 2:  # the usual month: no Path, stat or sort per file
                continue
            files = month_files(period_dir)
            for path in files[:-1]:
                out.append({
                    "delivery_id": f"{municipality}/{period_dir.name}", "municipality": municipality,
                    "period": period_dir.name, "file": path.relative_to(raw_dir).as_posix(),
                    "sha256": file_sha256(path), "stand_per": None, "stand_per_stated": False,
                    "status": "superseded", "rows_read": 0, "rows_curated": 0, "rows_quarantined": 0,
                    "rows_skipped": 0, "superseded_by": files[-1].relative_to(raw_dir).as_posix()})
    return out


#: how many files month_files gave for each month folder listed by this process (discover), by
#: the folder's stamp when it was listed (size, modification and change time, inode): a file
#: added, removed or renamed in it changes the folder's modification time
_MONTH_COUNTS: dict[str, tuple[list[int], int]] = {}


def _file_count(period_dir: Path) -> int:
    """How many files month_files gives for the folder: as discover counted them in this process
    while the folder has the stamp it had then (a stat), else counted from its entries. Each run
    lists every month of the history in find-deliveries and again here, in build-history
    (x100: 3,000 month folders, 0.46 of the history step's 7.9 profiled seconds)."""
    kept = _MONTH_COUNTS.get(str(period_dir))
    if kept is not None and kept[0] == file_stamp(period_dir):
        return kept[1]
    with os.scandir(period_dir) as entries:
        return sum(1 for entry in entries if not entry.name.startswith((".", "~$")) and entry.is_file())


def missing_months(periods: Iterable[str]) -> list[tuple[str, str]]:
    """(month without a delivery, the next month delivered) between the first and last period."""
    months = sorted({_index(p) for p in periods})
    gaps = []
    for before, after in zip(months, months[1:]):
        gaps += [(_period(m), _period(after)) for m in range(before + 1, after)]
    return gaps


def _index(period: str) -> int:
    year, month = period.split("-")
    return int(year) * 12 + int(month) - 1


def _period(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def needs_processing(files: list[DeliveryFile], records: list[dict],
                     hashes: dict[str, list] | None = None) -> list[DeliveryFile]:
    """The files that are new, or whose content changed since they were processed.

    hashes: the raw files' sha256 kept from the runs before (raw_sha256), updated here: a file
    not written since is not read again. None reads every file.
    """
    known = {(r["municipality"], period_folder(r)): (r.get("sha256"), r.get("file")) for r in records}
    todo = []
    for item in files:
        previous = known.get((item.municipality, item.folder))
        digest = file_sha256(item.path) if hashes is None else raw_sha256(item, hashes)
        if previous != (digest, item.relative):
            todo.append(item)
    return todo


def raw_sha256(item: DeliveryFile, hashes: dict[str, list]) -> str:
    """The file's sha256, from `hashes` while its size, modification time, change time and inode
    are those it was hashed at, else hashed (and kept there).

    Every run hashed every raw file to find what is new: 3,000 files, the whole history's
    snapshots, at x100, in the run with nothing new too (docs/performance.md). The stamp is
    store.file_stamp's, the records index's: a file rewritten with the same size and date is
    still read again.
    """
    # kept as a hash: bare sizes and times in the store read like dates to the leak check
    stamp = hashlib.sha256(":".join(map(str, file_stamp(item.path) or ["gone"])).encode()).hexdigest()
    kept = hashes.get(item.relative)
    if isinstance(kept, list) and len(kept) == 2 and kept[0] == stamp:
        return kept[1]
    digest = file_sha256(item.path)
    hashes[item.relative] = [stamp, digest]
    return digest
