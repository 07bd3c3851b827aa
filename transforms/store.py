"""The per-delivery store: what each processed delivery contributed, kept between runs.

data/curated/staged/<municipality>/<period>/ holds delivery.json (the record, with the file's
sha256), episodes.parquet, quarantine.parquet and findings.parquet. Everything in it is already
protected (pseudonyms only). A delivery is reprocessed only when its file's hash changes.

Each table is written with one Arrow schema whatever the delivery holds (EPISODE_SCHEMA,
FINDING_SCHEMA; the quarantine's columns vary per municipality, so its schema is built from its
columns with every text column as string), so that the whole store reads in one Arrow scan.
A table a delivery contributed no rows to has no file; a missing file reads as no rows. The files
hold no pandas metadata: the readers give each table the dtypes it has always had
(_LOADED_DTYPES). Stores written before (with that metadata; empty files; null- or
timestamp-typed columns where a delivery had no value) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from schemas.checks import FINDING_COLUMNS
from transforms.delivery import EPISODE_COLUMNS, DeliveryResult
from transforms.files import replace_file, temporary_glob

TABLES = ("episodes", "quarantine", "findings")
_EPISODE_TYPES = {"known_from": pa.date32(), "excel_row": pa.int64(), "intake_date": pa.date32(),
                  "exit_date": pa.date32()}
EPISODE_SCHEMA = pa.schema([(c, _EPISODE_TYPES.get(c, pa.string())) for c in EPISODE_COLUMNS])
FINDING_SCHEMA = pa.schema([(c, pa.int64() if c == "excel_row" else pa.string())
                            for c in ["delivery_id", *FINDING_COLUMNS]])
#: the tables whose columns are known; any other (the quarantine) is read with its files' columns
_SCHEMAS = {"episodes": EPISODE_SCHEMA, "findings": FINDING_SCHEMA}
#: dtypes beyond Arrow's default conversion: a finding's excel_row may be null and stays an integer
_LOADED_DTYPES = {"findings": {"excel_row": "Int64"}}


def write_parquet(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> Path:
    """The store's Parquet writer: the frame's columns as Arrow arrays of the schema, without the
    pandas metadata (its readers set the types they give: _LOADED_DTYPES); refuses anything that is
    not a DataFrame.

    schema: the Arrow schema to write, whose names must be the frame's columns; by default
    text_schema(frame).

    Each column converted as pa.Table.from_pandas converts it, but without that call's per-frame
    cost, and without its metadata: 3 kB in each delivery's file of 15 kB, and a quarter of the
    time its write took (`python -m benchmarks.processing`, curate).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"write_parquet takes a DataFrame, not {type(frame).__name__}")
    schema = _checked(frame, schema)
    _write(pa.Table.from_arrays([_column(frame[f.name], f.type) for f in schema], schema=schema), path)
    return path


def _column(series: pd.Series, kind: pa.DataType) -> pa.Array:
    """One column as pa.array(series, from_pandas=True) converts it, given what that call would
    take from the series itself: its NumPy values, or its pandas array (a text column's Arrow
    array, which pa.array takes as it is). Handing pa.array the series makes it look up which of
    the two it is through pandas' attributes again, column by column: a fifth of converting a
    delivery's episodes (x100's month: 22 against 28 ms; test_a_column_is_written_as_pandas_converts_it)."""
    values = series.to_numpy() if isinstance(series.dtype, np.dtype) else series.array
    return pa.array(values, type=kind, from_pandas=True)


def write_arrow(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> pa.Table:
    """The frame written with its pandas metadata (the kept history's dtypes come back from it),
    giving back the Arrow table written (what reading the file gives).

    Written as a cache, not as the store's other files: neither compressed nor dictionary-encoded,
    without statistics. The kept history is rewritten whole by every run that changes it and read
    whole by the next; zstd and the dictionary pages were two thirds of writing its versions
    (x16: 0.095 against 0.032 CPU s; reading 0.040 against 0.024), for files five times smaller.
    """
    table = pa.Table.from_pandas(frame, schema=_checked(frame, schema), preserve_index=False)
    pq.write_table(table, path, compression="none", use_dictionary=False, write_statistics=False)
    return table


def _checked(frame: pd.DataFrame, schema: pa.Schema | None) -> pa.Schema:
    schema = schema if schema is not None else text_schema(frame)
    if sorted(map(str, frame.columns)) != sorted(schema.names):
        raise ValueError(f"columns {list(frame.columns)} are not the schema's {schema.names}")
    return schema


def _write(table: pa.Table, path: Path) -> None:
    """Every Parquet file of the store: zstd, statistics on."""
    pq.write_table(table, path, compression="zstd", write_statistics=True)


def findings_table(delivery_id: str, findings: list, lang: str = "nl") -> pa.Table:
    """A delivery's findings as the store keeps them (FINDING_SCHEMA), built without pandas."""
    rows = [f.as_row(lang) for f in findings]
    columns = {"delivery_id": [delivery_id] * len(rows)} | {c: [row[c] for row in rows] for c in FINDING_COLUMNS}
    return pa.Table.from_arrays([pa.array(columns[f.name], type=f.type, from_pandas=True) for f in FINDING_SCHEMA],
                                schema=FINDING_SCHEMA)


def text_schema(frame: pd.DataFrame) -> pa.Schema:
    """The frame's own Arrow schema, with text (and all-null) columns as string."""
    return _as_text(pa.Schema.from_pandas(frame, preserve_index=False))


def _as_text(schema: pa.Schema) -> pa.Schema:
    return pa.schema([(f.name, pa.string() if f.type in (pa.null(), pa.large_string()) else f.type)
                      for f in schema])


def delivery_dir(staged_root: Path, municipality: str, period: str) -> Path:
    return staged_root / municipality / period


def period_folder(record: dict) -> str:
    """The folder a delivery's record is stored in under its municipality (stored_folder of its
    period and its raw file). A record that went through a frame has NaN there, not None: NaN is
    truthy, so `period or ...` is not enough."""
    return stored_folder(record.get("period"), record.get("file"))


#: the one folder every delivery rejected without a period was stored in before each got its own
#: (stored_folder): clean_store removes it, so its raw files are processed again into their own
LEGACY_UNKNOWN = "unknown"


def stored_folder(period: object, relative: object) -> str:
    """Where a delivery is stored under its municipality: its period (YYYY-MM), or, for one
    rejected without a period (its month folder not named YYYY-MM), a folder of its own derived
    from the raw month folder it came from (`relative`: the raw file's path under data/raw):
    `unknown-<the folder's name, letters and digits only>-<hash of its path>`.

    One folder for every such rejection made two of them overwrite each other, one processed
    again on every run. Derived from the month folder, not the file, as a period is: a later
    file in the same folder replaces the rejection, a folder renamed or removed takes its
    rejection with it (prune). Nothing of a cell goes into it, only the path's own names."""
    if isinstance(period, str) and period:
        return period
    month = PurePosixPath(relative if isinstance(relative, str) else "").parent
    slug = re.sub(r"[^0-9A-Za-z]+", "-", month.name).strip("-")[:32].strip("-")
    digest = hashlib.sha256(month.as_posix().encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"unknown-{slug}-{digest}" if slug else f"unknown-{digest}"


class StoreError(Exception):
    """A stored file that lvv run writes and cannot read back: named, with what to do (CLI exit 2)."""


def save_result(staged_root: Path, result: DeliveryResult, lang: str = "nl") -> Path:
    """Write one delivery's result, replacing any earlier one for that period in one rename."""
    record = result.delivery
    target = delivery_dir(staged_root, record["municipality"], period_folder(record))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    if len(result.episodes):
        write_parquet(result.episodes, tmp / "episodes.parquet", EPISODE_SCHEMA)
    if len(result.quarantine):
        write_parquet(result.quarantine, tmp / "quarantine.parquet")
    if result.findings:
        _write(findings_table(record["delivery_id"], result.findings, lang), tmp / "findings.parquet")
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


#: each municipality's stored records in one file, in its folder: the index load_records reads
#: instead of one delivery.json per delivery (3,000 files at national scale, read several times a run)
RECORDS_INDEX = ".records.json"


def load_records(staged_root: Path, municipality: str | None = None) -> list[dict]:
    """Every stored delivery record, or every one of one municipality, in the order of their
    paths (<municipality>/<period>/delivery.json).

    Read through each municipality's index (RECORDS_INDEX): a record is taken from it while its
    delivery.json has the stamp (size, times, inode) the index kept, and read again from the file
    otherwise (written or replaced since, by this code or any other); an index that is missing,
    unreadable or out of date is written again from what was read. The delivery.json files stay
    the truth: the index is never read without checking each one's stamp, which costs a stat per
    delivery, not a read and a parse; each index is parsed once per process and version of its
    file (_read_index). Folders whose name starts with a dot (a save_result in progress or
    killed) are not deliveries.
    """
    records = []
    for where, record in stored_records(staged_root, municipality):
        record = dict(record)
        if record.get("stand_per"):
            try:
                record["stand_per"] = date.fromisoformat(record["stand_per"])
            except (TypeError, ValueError):
                raise StoreError(_unreadable(staged_root / where / "delivery.json",
                                             "its stand_per is not a date (YYYY-MM-DD)")) from None
        records.append(record)
    return records


#: what a stored record must hold, with the type each value must have (a hand-edited file)
_RECORD_TYPES = {"delivery_id": str, "municipality": str, "status": str, "rows_read": int,
                 "rows_curated": int, "rows_quarantined": int}


def _checked_record(path: str, text: str) -> dict:
    """A delivery.json's record, or a StoreError naming the file: lvv run writes these files
    whole (save_result renames a complete folder), so one that does not parse, or whose values
    are not of their type, was edited or damaged by hand."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise StoreError(_unreadable(Path(path), f"it is not valid JSON ({exc})")) from None
    if not isinstance(record, dict):
        raise StoreError(_unreadable(Path(path), "it does not hold one record"))
    for key, kind in _RECORD_TYPES.items():
        value = record.get(key)
        if value is not None and (not isinstance(value, (int, float) if kind is int else kind) or isinstance(value, bool)):
            raise StoreError(_unreadable(Path(path), f"its {key} is not {'a number' if kind is int else 'text'}"))
    return record


def _unreadable(path: Path, why: str) -> str:
    return (f"{path}: the stored record of a processed delivery cannot be read: {why}. lvv run writes "
            f"this file and it is not meant to be edited; restore it from a backup, or remove its folder "
            f"{path.parent} and run lvv run again: the delivery's raw file is then processed anew")


def stored_records(staged_root: Path, municipality: str | None = None) -> list[tuple[str, dict]]:
    """(<municipality>/<period>, the record as its delivery.json holds it: JSON values) of every
    stored delivery, or every one of one municipality, in the order of their paths; read through
    the records index as load_records reads them. The records are the index's own: not to be changed."""
    found = []
    for folder in sorted(staged_root.glob(municipality or "*")):
        if folder.is_dir() and not folder.name.startswith("."):
            found += [(f"{folder.name}/{period}", record) for period, record in _indexed_records(folder).items()]
    return sorted(found, key=lambda pair: f"{pair[0]}/delivery.json")


def _indexed_records(folder: Path) -> dict[str, dict]:
    """One municipality's records as stored (JSON values) by period folder, through its index."""
    index = _read_index(folder / RECORDS_INDEX)
    entries, changed = {}, False
    with os.scandir(folder) as children:
        periods = sorted(child.name for child in children if not child.name.startswith(".") and child.is_dir())
    base = str(folder)
    for period in periods:
        path = os.path.join(base, period, "delivery.json")  # strings: 3,000 Paths cost more than the stats
        stamp = file_stamp(path)
        if stamp is None:
            continue
        entry = index.get(period)
        if not isinstance(entry, dict) or entry.get("stamp") != stamp or not isinstance(entry.get("record"), dict):
            try:
                with open(path, encoding="utf-8", errors="replace") as file:
                    entry = {"stamp": stamp, "record": _checked_record(path, file.read())}
            except FileNotFoundError:  # replaced or dropped between the stat and the read
                continue
            changed = True
        entries[period] = entry
    if changed or entries.keys() != index.keys():
        _write_index(folder / RECORDS_INDEX, entries)
    return {period: entry["record"] for period, entry in entries.items()}


def file_stamp(path: str | Path) -> list[int] | None:
    """What tells a file written again: size, modification and change time, inode (None: no
    such file). A copy that keeps the modification time (cp -p, rsync -t) cannot set the change
    time back: a file rewritten with the same size and date still has another stamp. The records
    index (load_records) and the raw files' kept hashes (discover.raw_sha256) both go by it."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


#: each records index as last parsed in this process, by path: (its file's stamp, its entries).
#: A run reads the indexes several times (find-deliveries, needs-release, build-history); parsing
#: them was most of the cost of each (25 files holding every record), the stats a fraction
_PARSED_INDEXES: dict[str, tuple[list[int], dict]] = {}


def _read_index(path: Path) -> dict:
    """An index's entries (empty when missing or unreadable); parsed again only when its file
    has another stamp (an index is only ever replaced whole, by a rename: another inode).
    The entries are shared: not to be changed."""
    stamp = file_stamp(path)
    kept = _PARSED_INDEXES.get(str(path))
    if stamp is not None and kept is not None and kept[0] == stamp:
        return kept[1]
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = index.get("records") if isinstance(index, dict) and index.get("version") == 1 else None
    entries = entries if isinstance(entries, dict) else {}
    if stamp is not None and file_stamp(path) == stamp:  # not replaced while it was read
        _PARSED_INDEXES[str(path)] = (stamp, entries)
    return entries


def _write_index(path: Path, entries: dict[str, dict]) -> None:
    """The index replaced in one rename; a store that cannot be written (read-only) keeps none.

    Kept as parsed under the stamp of the file just written: a monthly run writes every index
    again once its new deliveries are stored (needs-release), and the history step parsed them
    all once more (x100: 25 indexes holding 3,000 records). Each entry is still checked against
    its delivery.json's stamp wherever the index is read, so a file replaced since costs nothing
    but that check.
    """
    try:
        replace_file(path, json.dumps({"version": 1, "records": entries}, separators=(",", ":")))
    except OSError:
        return
    stamp = file_stamp(path)
    if stamp is not None:
        _PARSED_INDEXES[str(path)] = (stamp, entries)


def load_delivery_table(staged_root: Path, record: dict, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One table (episodes, quarantine or findings) of one stored delivery, or these columns of
    it, as load_delivery_tables reads it; no rows (no file, or an empty one) gives the table's
    columns without rows (a quarantine's: episode_id)."""
    frame = load_delivery_tables(staged_root, [record], name, columns)
    if len(frame.columns):
        return frame
    schema = _SCHEMAS.get(name)
    frame = schema.empty_table().to_pandas() if schema is not None else pd.DataFrame(columns=["episode_id"])
    dtypes = {c: t for c, t in _LOADED_DTYPES.get(name, {}).items() if c in frame.columns}
    frame = frame.astype(dtypes) if dtypes else frame
    return frame[columns] if columns is not None and set(columns) <= set(frame.columns) else frame


def save_record(staged_root: Path, record: dict) -> None:
    """Replace one stored delivery's record (its tables stay), in one rename."""
    target = delivery_dir(staged_root, record["municipality"], period_folder(record)) / "delivery.json"
    replace_file(target, json.dumps(record, default=_json_default, indent=1))


def load_table(staged_root: Path, name: str, municipality: str | None = None) -> pd.DataFrame:
    """One table (episodes, quarantine or findings) over every stored delivery, or every one of
    one municipality, in one Arrow scan.

    Rows in the order of the deliveries' paths, then as stored; no rows at all gives an empty
    frame without columns.
    """
    # not in a folder whose name starts with a dot: the kept history, a save_result in progress
    return _scan([str(p) for p in sorted(staged_root.glob(f"{municipality or '[!.]*'}/[!.]*/{name}.parquet"))], name)


def load_delivery_tables(staged_root: Path, records: list[dict], name: str,
                         columns: list[str] | None = None) -> pd.DataFrame:
    """One table (episodes, quarantine or findings) of these stored deliveries, or these columns
    of it, in one Arrow scan (as load_table): rows in the records' order, then as stored; no rows
    at all gives an empty frame without columns.

    A monthly run's new deliveries, 25 at national scale: read one by one (load_delivery_table),
    the files' fixed costs were most of the history step's reading.
    """
    paths = [os.path.join(staged_root, r["municipality"], period_folder(r), f"{name}.parquet")
             for r in records]
    return _scan([path for path in paths if os.path.exists(path)], name, columns)


def _scan(paths: list[str], name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """These files of one table in one Arrow scan, in this order (see load_table)."""
    schema = _SCHEMAS.get(name)
    if schema is None:
        paths, schema = _with_rows(paths)
    if not paths:
        return pd.DataFrame()
    # the dataset casts each file to the schema: null and timestamp columns of older stores too
    table = ds.dataset(paths, schema=schema, format="parquet").to_table(columns=columns)
    if not table.num_rows:
        return pd.DataFrame()
    frame = table.to_pandas()
    dtypes = {c: t for c, t in _LOADED_DTYPES.get(name, {}).items() if c in frame.columns}
    return frame.astype(dtypes) if dtypes else frame


def _with_rows(paths: list[str]) -> tuple[list[str], pa.Schema]:
    """The files that hold rows, and their columns unified by name (first seen first), text as string."""
    kept, schemas = [], []
    for path in paths:
        meta = pq.read_metadata(path)
        if meta.num_rows:
            kept.append(path)
            schemas.append(_as_text(meta.schema.to_arrow_schema()))
    return kept, pa.unify_schemas(schemas, promote_options="permissive") if schemas else pa.schema([])


# --- the merged history, kept ------------------------------------------------------------------
#: where the merged history is kept, inside the store (so that it moves with it when key rotation
#: sets the store aside): <staged>/.history/<fingerprint>/, the network's in one set of files
HISTORY_DIR = ".history"
#: the kept history's file naming each municipality's fingerprint (its rows carry `kept_municipality`)
FINGERPRINTS = "fingerprints.json"


@dataclass(frozen=True)
class KeptHistory:
    """The merged tables of every municipality as kept, and the fingerprint of each one's inputs."""

    fingerprints: dict[str, str]
    tables: dict[str, pd.DataFrame]

    def rows_of(self, municipalities: set[str]) -> dict[str, pd.DataFrame]:
        """Each kept table's rows of these municipalities, in their kept order."""
        return {name: frame[frame["kept_municipality"].isin(municipalities)].reset_index(drop=True)
                for name, frame in self.tables.items()}


def load_history(staged_root: Path) -> KeptHistory | None:
    """The merged history kept by the last run, or None (none kept, or kept before this layout:
    a store of the per-municipality layout is merged again once)."""
    folders = [p for p in (staged_root / HISTORY_DIR).glob("*") if (p / FINGERPRINTS).is_file()]
    if len(folders) != 1:
        return None
    folder = folders[0]
    fingerprints = json.loads((folder / FINGERPRINTS).read_text(encoding="utf-8"))
    return KeptHistory(fingerprints, {path.stem: _frame(pq.read_table(path)) for path in sorted(folder.glob("*.parquet"))})


def _frame(table: pa.Table) -> pd.DataFrame:
    """A kept table as a frame; dates stay Arrow dates (curate.as_date keeps them as they are)."""
    return table.to_pandas(types_mapper={pa.date32(): pd.ArrowDtype(pa.date32())}.get)


def save_history(staged_root: Path, fingerprints: dict[str, str], tables: dict[str, pd.DataFrame]) -> KeptHistory:
    """Keep the merged tables (each row with its `kept_municipality`) and each municipality's
    fingerprint, in one rename; what was kept before goes. Returns them as load_history reads
    them back (from the Arrow tables written, without reading the files again).

    One set of files for the network, not one per municipality: with 25 municipalities the
    per-municipality files (100 written and read per run) cost more than their rows
    (docs/performance.md, "Scale").
    """
    digest = hashlib.sha256(json.dumps(fingerprints, sort_keys=True).encode()).hexdigest()
    folder = staged_root / HISTORY_DIR / digest
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    kept = {name: _frame(write_arrow(frame, tmp / f"{name}.parquet")) for name, frame in tables.items()}
    (tmp / FINGERPRINTS).write_text(json.dumps(fingerprints, sort_keys=True, indent=1), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    for old in folder.parent.iterdir():
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return KeptHistory(fingerprints, kept)


def clean_store(staged_root: Path) -> list[str]:
    """Remove what a killed save_result or save_history left behind, and the folder that held
    the rejections without a period before each had its own (LEGACY_UNKNOWN); a delivery caught
    mid-replace is reprocessed, a history caught mid-write merged again, a rejection of that
    folder whose raw file is still there processed again into its own folder."""
    leftovers = list(dict.fromkeys([*staged_root.glob("*/.tmp-*"), *staged_root.glob("*/.old-*"),
                                    *staged_root.glob(f"[!.]*/{LEGACY_UNKNOWN}"),
                                    *staged_root.glob(f"{HISTORY_DIR}/.tmp-*"),
                                    *staged_root.glob(temporary_glob(RAW_HASHES)),
                                    *staged_root.glob(f"*/{temporary_glob(RECORDS_INDEX)}"),
                                    *staged_root.glob(f"*/*/{temporary_glob('delivery.json')}")]))
    for path in leftovers:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
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


#: the raw files' sha256 by a hash of size, modification and change time and inode (discover.raw_sha256)
RAW_HASHES = ".raw-hashes.json"


def load_raw_hashes(staged_root: Path) -> dict[str, list]:
    """The raw files' hashes kept by the run before (empty when none or unreadable)."""
    try:
        kept = json.loads((staged_root / RAW_HASHES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def save_raw_hashes(staged_root: Path, hashes: dict[str, list], present: set[str],
                    loaded: dict[str, list] | None = None) -> None:
    """Keep the hashes of the raw files still present, in one rename; nothing written when they
    are those kept (`loaded`: what load_raw_hashes gave before `hashes` was updated; None reads it)."""
    kept = {name: hashes[name] for name in sorted(present) if name in hashes}
    if kept == (load_raw_hashes(staged_root) if loaded is None else loaded):
        return
    staged_root.mkdir(parents=True, exist_ok=True)
    replace_file(staged_root / RAW_HASHES, json.dumps(kept))


#: where key rotation (`lvv rekey`) keeps the store it replaces until the new one is published
ASIDE_PREFIX = "staged.before-rekey-"


def set_store_aside(staged_root: Path) -> Path | None:
    """Move the store aside (key rotation): the run then processes every delivery again."""
    if not staged_root.exists():
        return None
    aside = staged_root.with_name(f"{ASIDE_PREFIX}{os.getpid()}-{len(list(staged_root.parent.glob(ASIDE_PREFIX + '*')))}")
    staged_root.rename(aside)
    staged_root.mkdir()
    return aside


def drop_store_aside(staged_root: Path) -> list[str]:
    """Delete the stores set aside, once the new store is published."""
    gone = sorted(staged_root.parent.glob(ASIDE_PREFIX + "*"))
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in gone]
