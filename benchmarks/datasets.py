"""The data a benchmark runs on: the demo, a national network at some factor, or a tiny one."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lvv.settings import DataPaths

from lvv.demo.periods import month_end, parse_period

#: the tiny network of the test suite: 3 municipalities, 4 months, a few hundred rows
TINY = {"municipalities": 3, "months": 4, "intakes_per_month": 8.0}


@dataclass
class Dataset:
    """A data directory (raw/ written, curated/ empty) and what the figures need to know of it."""

    scale: str
    factor: float
    root: Path
    files: list[Path]
    rows: int
    generation_s: float
    ref_date: date  # the reference date of Table A and the queries
    known_at: date  # an earlier knowledge date, for reconcile
    series_from: date
    sources_dir: Path | None = None
    municipalities: int = 0
    months: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> "DataPaths":
        """The data layout the pipeline itself uses (raw/, curated/, ...) under root."""
        from lvv.settings import DataPaths

        return DataPaths(self.root)

    @property
    def raw(self) -> Path:
        return self.paths.raw

    @property
    def curated(self) -> Path:
        return self.paths.curated

    @property
    def last_period(self) -> str:
        return max(p.parent.name for p in self.files)

    @property
    def increment_dates(self) -> tuple[date, date]:
        """The reference dates of a monthly increment: the month end before the last month, which the
        run before it (the history without the last month) reports at, and the last month's end,
        which the increment itself reports at (as the scheduled flow does: the month just ended)."""
        last = parse_period(self.last_period)
        return month_end(last - 1), month_end(last)


def prepare(scale: str, workdir: Path, factor: float | None = None, reuse: bool = False) -> Dataset:
    """Write the data of a scale under workdir; sets LVV_SOURCES_DIR in os.environ when needed.

    reuse: take the raw files a previous call wrote under workdir for the same scale and factor
    (its `dataset.json`) instead of writing them again (the full network takes minutes to write);
    the curated data is always removed.
    """
    root = workdir / "data"
    kept = _kept(workdir, scale, factor) if reuse else None
    if kept is not None:
        shutil.rmtree(root / "curated", ignore_errors=True)
        return kept
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    dataset = _write(scale, workdir, factor, root, started)
    (workdir / MANIFEST).write_text(json.dumps({
        "scale": scale, "factor": factor, "rows": dataset.rows, "generation_s": dataset.generation_s,
        "files": [str(path.relative_to(root)) for path in dataset.files]}) + "\n")
    return dataset


#: what prepare wrote under its workdir, for reuse
MANIFEST = "dataset.json"


def _kept(workdir: Path, scale: str, factor: float | None) -> Dataset | None:
    """The dataset a previous prepare wrote under workdir, if it is this scale and factor and whole."""
    try:
        manifest = json.loads((workdir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    root = workdir / "data"
    files = [root / name for name in manifest.get("files", [])]
    if (manifest.get("scale"), manifest.get("factor")) != (scale, factor) or not files \
            or not all(path.is_file() for path in files):
        return None
    dataset = _describe(scale, workdir, factor, root, files, manifest["rows"], manifest["generation_s"])
    if dataset.sources_dir is not None:
        os.environ["LVV_SOURCES_DIR"] = str(dataset.sources_dir)
    return dataset


def _write(scale: str, workdir: Path, factor: float | None, root: Path, started: float) -> Dataset:
    if scale == "demo":
        from lvv.demo import write_demo

        result = write_demo(root / "raw")
        return _describe(scale, workdir, factor, root, result.files, result.rows, time.perf_counter() - started)
    from lvv.demo.national import NationalSpec, write_national

    spec = NationalSpec(**TINY) if scale == "tiny" else NationalSpec.scaled(factor or 100.0)
    sources = workdir / "sources"
    if sources.exists():
        shutil.rmtree(sources)
    # the tiny network in this process: forking a pool from a process with threads running (the
    # test suite's Prefect harness) once left a worker hung on a lock inherited mid-acquire
    result = write_national(root / "raw", sources, spec, processes=1 if scale == "tiny" else None)
    seconds = time.perf_counter() - started
    os.environ["LVV_SOURCES_DIR"] = str(sources)
    return _describe(scale, workdir, factor, root, result.files, result.rows, seconds)


def _describe(scale: str, workdir: Path, factor: float | None, root: Path, files: list[Path], rows: int,
              seconds: float) -> Dataset:
    """The Dataset of files written for a scale (the dates follow from the scale's spec)."""
    if scale == "demo":
        from lvv.settings import SEED_REFERENCE_DATE

        return Dataset("demo", 1.0, root, files, rows, seconds, SEED_REFERENCE_DATE,
                       date(2020, 11, 30), date(2019, 3, 1), municipalities=5, months=41)
    from lvv.demo.national import NationalSpec

    spec = NationalSpec(**TINY) if scale == "tiny" else NationalSpec.scaled(factor or 100.0)
    sources = workdir / "sources"
    periods = spec.periods
    ref = month_end(periods[-2])  # the month before the last: the latest complete monthly figure
    known = month_end(periods[max(0, len(periods) - 13)])  # a year earlier (or the first month)
    first = parse_period(spec.last_period) - spec.months + 1
    return Dataset(scale, factor or (0.0 if scale == "tiny" else 100.0), root, files,
                   rows, seconds, ref, known, date(first // 12, first % 12 + 1, 1), sources,
                   spec.municipalities, spec.months, {"LVV_SOURCES_DIR": str(sources)})


def reports_dir(dataset: Dataset) -> Path:
    """data/reports/: the reports and, beside them, the caches of their gathered figures and of their
    protection patterns (transforms/monthly_report.py, transforms/public_edition.py)."""
    from transforms.monthly_report import report_dir

    return report_dir(dataset.root, dataset.ref_date).parent


def from_scratch(dataset: Dataset) -> None:
    """What a full rebuild is measured from: the raw files, nothing published and no report cache.
    Until round 25 only curated/ was removed: the reports' caches of an earlier run stayed, so a
    second full rebuild (and every one after a benchmark run in the same --workdir) took its
    protection patterns from the cache."""
    shutil.rmtree(dataset.curated, ignore_errors=True)
    shutil.rmtree(reports_dir(dataset), ignore_errors=True)


def protection_files(dataset: Dataset) -> set[str]:
    """The protection patterns and joint audits kept beside the reports (by fingerprint)."""
    from transforms.public_edition import PROTECTION_CACHE

    folder = reports_dir(dataset) / PROTECTION_CACHE
    return {entry.name for entry in folder.glob("*.json")} if folder.is_dir() else set()


def hold_back_last_month(dataset: Dataset, aside: Path) -> list[tuple[Path, Path]]:
    """Move the last month's deliveries out of raw/ (to put back for the increment)."""
    moves = []
    for path in dataset.files:
        if path.parent.name == dataset.last_period:
            target = aside / path.relative_to(dataset.raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moves.append((target, path))
    return moves


def put_back(moves: list[tuple[Path, Path]]) -> None:
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
