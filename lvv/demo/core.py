"""write_demo: the synthetic history of monthly LVV deliveries, and the true state behind it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from lvv.demo import scenario
from lvv.demo.oracle import ORACLE_NAME, oracle_csv
from lvv.demo.periods import month_end, period_of, period_text
from lvv.demo.registers import REGISTERS
from lvv.demo.render import Renderer
from lvv.demo.truth import Mover, Revision, build_truth
from lvv.demo.writer import lay_out, to_bytes
from transforms.files import replace_file

DEFAULT_SEED = 2020_11_01
from lvv.settings import DEMO_MANIFEST as MANIFEST_NAME  # noqa: E402


class DemoError(Exception):
    """The demo refuses to write: a file it did not write is in the way, or its manifest is bad."""


@dataclass(frozen=True)
class PlantedMistake:
    """A plain mistake in one non-final delivery, fixed in the next one."""

    municipality: str
    period: str  # YYYY-MM
    file: str  # path relative to raw_dir
    sheet: str | None  # None for a CSV
    excel_row: int  # 1-based row as Excel shows it (line number for a CSV)
    column: str  # column header
    field: str  # canonical field name
    kind: str  # date-unparseable | outcome-unknown-label | person-id-missing | exit-before-intake
    value: Any  # as written: str, int (serial), date, or None (empty cell)
    record_id: str = ""  # the record the row belongs to (as in the truth)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if isinstance(self.value, date):
            out["value"] = self.value.isoformat()
        return out


@dataclass(frozen=True)
class Delivery:
    municipality: str
    period: str  # YYYY-MM
    stand_per: date
    file: str  # path relative to raw_dir
    rows: int  # data rows


@dataclass
class DemoResult:
    raw_dir: Path
    seed: int
    files: list[Path]  # every demo file, absolute, in delivery order
    planted: list[PlantedMistake]
    deliveries: list[Delivery]
    revisions: list[Revision]  # late registrations and corrections (the history's story)
    mover: Mover
    written: int = 0  # files actually (re)written; the rest were already identical
    pseudonym_key: str = scenario.DEMO_PSEUDONYM_KEY
    manifest: Path = field(default_factory=Path)
    oracle: Path = field(default_factory=Path)  # the episode record (lvv.demo.oracle), a CSV

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.deliveries)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def delivery_path(municipality: str, period: int) -> str:
    """Where the delivery of a municipality and month goes, relative to raw_dir."""
    habits = scenario.HABITS.get(municipality, scenario.DEFAULT_HABITS)
    yyyymm = period_text(period)
    name = habits.file_name.format(
        municipality=municipality,
        yyyymm=yyyymm.replace("-", ""),
        ext=REGISTERS[municipality].file_type,
    )
    return f"{municipality}/{yyyymm}/{name}"


def build_files(
    seed: int = DEFAULT_SEED,
) -> tuple[dict[str, bytes], list[Delivery], list[PlantedMistake]]:
    """Every delivery file's bytes by path relative to raw_dir, without touching the disk."""
    truth = build_truth(seed)
    mistakes = {(m.municipality, m.period): m for m in truth.mistakes}
    by_key = {e.key: e for e in truth.episodes}
    files: dict[str, bytes] = {}
    deliveries: list[Delivery] = []
    planted: list[PlantedMistake] = []
    for muni, periods in truth.periods.items():
        register = REGISTERS[muni]
        habits = scenario.HABITS.get(muni, scenario.DEFAULT_HABITS)
        renderer = Renderer(register, habits)
        episodes = truth.of(muni)  # register order = intake order
        for period in periods:
            stand_per = month_end(period)
            present = [e for e in episodes if period_of(e.intake_date) <= period]
            data = [(e.key, renderer.row(e, period), e.blank_after) for e in present]
            mistake = mistakes.get((muni, period))
            value = None
            if mistake is not None:
                row = next(cells for key, cells, _ in data if key == mistake.episode_key)
                value = renderer.plant(row, by_key[mistake.episode_key], mistake)
            sheet = lay_out(register, habits, stand_per, renderer.headers, data)
            yyyymm = period_text(period)
            rel = delivery_path(muni, period)
            files[rel] = to_bytes(register, sheet, stand_per)
            deliveries.append(Delivery(muni, yyyymm, stand_per, rel, len(data)))
            if mistake is not None:
                planted.append(
                    PlantedMistake(
                        municipality=muni,
                        period=yyyymm,
                        file=rel,
                        sheet=register.sheet,
                        excel_row=sheet.row_of[mistake.episode_key],
                        column=register.columns[mistake.field],
                        field=mistake.field,
                        kind=mistake.kind,
                        value=value,
                        record_id=str(by_key[mistake.episode_key].record_id),
                    )
                )
    return files, deliveries, planted


def _load_manifest(raw_dir: Path) -> dict[str, str]:
    path = raw_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DemoError(
            f"{path}: the demo's manifest cannot be read ({exc}); not writing"
        ) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise DemoError(
            f"{path}: not a demo manifest (files: relative path -> sha256); not writing"
        )
    return files


def write_demo(raw_dir: Path, seed: int = DEFAULT_SEED) -> DemoResult:
    """Write the demo deliveries into raw_dir/<municipality>/<YYYY-MM>/<file>.

    Refuses (DemoError, nothing written) when a target exists that the demo did not write, as
    recorded in raw_dir/.lvv-demo-manifest.json ({"files": {relative path: sha256 of what it
    wrote}, "generator": "lvv.demo", "seed": seed}).
    Over its own earlier output it rewrites only what differs.
    """
    raw_dir = Path(raw_dir)
    truth = build_truth(seed)
    targets = [delivery_path(m, p) for m, periods in truth.periods.items() for p in periods]
    manifest = _load_manifest(raw_dir)
    foreign = []
    for rel in targets:
        target = raw_dir / rel
        if target.exists():
            if not target.is_file() or manifest.get(rel) != _sha256(target.read_bytes()):
                foreign.append(str(target))
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise DemoError(
            f"{foreign[0]}{more} exists and was not written by the demo (not in {MANIFEST_NAME} "
            "with its current content); not writing anything. Move it or use another directory."
        )
    files, deliveries, planted = build_files(seed)
    written = 0
    for rel, data in files.items():
        target = raw_dir / rel
        digest = _sha256(data)
        if not (target.exists() and manifest.get(rel) == digest):
            replace_file(target, data)
            written += 1
        manifest[rel] = digest
    manifest = {rel: manifest[rel] for rel in sorted(manifest) if (raw_dir / rel).is_file()}
    manifest_path = raw_dir / MANIFEST_NAME
    document = {"generator": "lvv.demo", "seed": seed, "files": manifest}
    replace_file(manifest_path, json.dumps(document, indent=1, sort_keys=True) + "\n")
    replace_file(raw_dir / ORACLE_NAME, oracle_csv(seed))
    return DemoResult(
        raw_dir=raw_dir,
        seed=seed,
        files=[raw_dir / rel for rel in files],
        planted=planted,
        deliveries=deliveries,
        revisions=list(truth.revisions),
        mover=truth.mover,
        written=written,
        manifest=manifest_path,
        oracle=raw_dir / ORACLE_NAME,
    )


TRUTH_COLUMNS = [
    "municipality",
    "record_id",
    "person_id",
    "family_name",
    "given_name",
    "birth_date",
    "intake_date",
    "exit_date",
    "outcome_code",
    "follow_up_code",
]


def truth_episodes(seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The final true state (what the last deliveries state): one row per episode."""
    truth = build_truth(seed)
    frame = pd.DataFrame(
        [
            (
                e.municipality,
                str(e.record_id),
                e.person_id,
                e.family_name,
                e.given_name,
                e.birth_date,
                e.intake_date,
                e.exit_date,
                e.outcome,
                e.follow_up,
            )
            for e in truth.episodes
        ],
        columns=TRUTH_COLUMNS,
    )
    for col in ("birth_date", "intake_date", "exit_date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame
