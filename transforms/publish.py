"""Publish: curated Parquet plus data/curated/lvv.duckdb, switched to in one atomic step.

Layout of data/curated/ (see docs/operations.md):

    lvv.duckdb               -> current/lvv.duckdb          fixed links, made once
    <table>.parquet          -> current/<table>.parquet
    current                  -> releases/<release-id>       the one pointer a publish swaps
    releases/<release-id>/   lvv.duckdb, <table>.parquet, release.json (complete, never changed)
    releases/.building-*     a release being built (a crash leaves one; the next publish removes it)
    runs/lock                held (fcntl.flock) by the run that may write here; names its holder
    runs/log.jsonl, staged/  the run log and the per-delivery store (transforms/runs.py, store.py)

A release is built in full beside the others, synced to disk, renamed into place, and only then
`current` is replaced by one rename(2) of a new symlink. A reader therefore finds either the old
release or the new one, never a mix; a reader who has the old database open keeps reading it; a
run killed at any moment leaves `current` pointing at a complete release. The database is
self-contained (tables, views and macros inside the file): it opens from any working directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import duckdb
import pandas as pd

from schemas.taxonomy import counting_rule_rows, published_figure_rows, taxonomy_rows
from transforms.files import fsync_path, replace_file

#: SQL run into every new database, in this order (each file: `create or replace` statements)
SQL_FILES = ("views.sql", "macros.sql", "reconcile.sql")
#: curated tables also written as Parquet, for other engines
PARQUET_TABLES = ("episode_versions", "deliveries", "validation_issues", "quarantined_rows")
DATABASE = "lvv.duckdb"
#: the storage format the database is written in: the oldest DuckDB that must open it. Readers'
#: tools (the R and Java clients, DBeaver, older command lines) lag behind the newest Python
#: wheel; DuckDB 2 writes format 69 by default, which DuckDB 1.x refuses. v1.1.0 is read by every
#: DuckDB from 1.1 on (tests/test_duckdb_compat.py opens the demo publication with DuckDB 1.x)
STORAGE_VERSION = "v1.1.0"
CURRENT = "current"
RELEASES = "releases"
MANIFEST = "release.json"
LOCK = "runs/lock"
#: releases kept besides the current one, for readers still holding a path into them
KEEP_PREVIOUS = 2
#: the run log table every database has (empty when publish is given none)
RUN_LOG_COLUMNS = {
    "run_id": "varchar", "started_at": "timestamptz", "finished_at": "timestamptz",
    "status": "varchar", "reference_date": "date", "definitions": "varchar[]", "release_id": "varchar",
    "deliveries": "struct(delivery_id varchar, action varchar, status varchar, sha256 varchar, "
                  "previous_sha256 varchar, rows_read bigint, rows_curated bigint, "
                  "rows_quarantined bigint)[]",
    "rows_read": "bigint", "rows_curated": "bigint", "rows_quarantined": "bigint",
    "changes": "struct(definition varchar, line varchar, persons_before bigint, persons_after bigint, "
               "change bigint)[]",
    "message": "varchar",
}


class PublicationBusy(RuntimeError):
    """Another run holds the publication lock; the message says who and what to do."""


def sql_text(name: str) -> str:
    resource = files("sql").joinpath(name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else ""


def sql_statement(name: str, kind: str, object_name: str) -> str:
    """The statement of sql/<name> that creates the view or macro `object_name` (with the comment
    above it), as DuckDB's parser splits the file: a semicolon in a comment or a string does not
    end a statement. KeyError when the file has no such statement."""
    creates = re.compile(rf"create\s+or\s+replace\s+{kind}\s+{re.escape(object_name)}\b", re.IGNORECASE)
    for statement in duckdb.extract_statements(sql_text(name)):
        if creates.search(statement.query):
            return statement.query
    raise KeyError(f"sql/{name} creates no {kind} {object_name}")


# --- lock -------------------------------------------------------------------------------------

_held: dict[Path, list] = {}  # lock path -> [open file, depth]; re-entrant within one process
_held_guard = threading.Lock()


@contextmanager
def publication_lock(curated_dir: Path, wait_seconds: float = 0.0,
                     on_wait: Callable[[str], None] | None = None, holder: str = "") -> Iterator[None]:
    """Hold data/curated/runs/lock; wait up to wait_seconds for another run, then PublicationBusy.

    on_wait: called at once, with one sentence (who holds the lock, since when, how long this run
    will wait), when the lock is taken. holder: what the lock file says besides pid and host.
    """
    path = (curated_dir / LOCK).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _held_guard:
        if path in _held:
            _held[path][1] += 1
            acquired_here = False
        else:
            acquired_here = True
    if acquired_here:
        handle = _acquire(path, wait_seconds, on_wait, holder)
        with _held_guard:
            _held[path] = [handle, 1]
    try:
        yield
    finally:
        with _held_guard:
            _held[path][1] -= 1
            release = _held[path][1] == 0
            handle = _held.pop(path)[0] if release else None
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def lock_holder(curated_dir: Path) -> str | None:
    """Who holds the publication lock now (its lock file's words), or None when it is free."""
    path = curated_dir / LOCK
    if not path.exists():
        return None
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return path.read_text(encoding="utf-8").strip() or "another process"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def waiting_message(holder: str, wait_seconds: float) -> str:
    return (f"another run holds the publication lock ({holder}); this run waits up to "
            f"{wait_seconds:.0f} s for it to finish")


def _acquire(path: Path, wait_seconds: float, on_wait: Callable[[str], None] | None = None, label: str = ""):
    handle = path.open("a+", encoding="utf-8")
    deadline = time.monotonic() + max(wait_seconds, 0.0)
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if on_wait is not None and not told and wait_seconds > 0:
                on_wait(waiting_message(path.read_text(encoding="utf-8").strip() or "another process",
                                        wait_seconds))
                told = True
            if time.monotonic() >= deadline:
                holder = path.read_text(encoding="utf-8").strip() or "another process"
                handle.close()
                raise PublicationBusy(
                    f"another run is publishing to {path.parent.parent} ({holder}); waited "
                    f"{wait_seconds:.0f} s. Let it finish and run again.") from None
            time.sleep(0.2)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{label + ', ' if label else ''}pid {os.getpid()} on {socket.gethostname()} "
                 f"since {_now():%Y-%m-%d %H:%M:%S} UTC\n")
    handle.flush()
    return handle


# --- building a release -------------------------------------------------------------------------

def build_database(path: Path, tables: dict[str, pd.DataFrame],
                   run_log: list[dict] | None = None, parquet_dir: Path | None = None) -> None:
    """Create a DuckDB file with the given tables, the vocabularies, the run log, views and macros.

    Written in the storage format STORAGE_VERSION; a later connection keeps the file's format.
    parquet_dir: also copy the PARQUET_TABLES there as Parquet, from the database just written
    (before it is closed: opening it again to copy them cost 35 ms a publish, the same bytes).
    """
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    try:
        all_tables = {**tables, "taxonomy": pd.DataFrame(taxonomy_rows()),
                      "counting_rules": pd.DataFrame(counting_rule_rows()),
                      "published_figures": pd.DataFrame(published_figure_rows())}
        for name, frame in all_tables.items():
            con.register("frame_to_load", frame)
            con.execute(f"create table {name} as select * from frame_to_load")
            con.unregister("frame_to_load")
        _load_run_log(con, run_log or [])
        for sql_file in SQL_FILES:
            con.execute(sql_text(sql_file))
        con.execute("checkpoint")
        for name in PARQUET_TABLES if parquet_dir is not None else ():
            con.execute(f"copy {name} to '{parquet_dir / (name + '.parquet')}' (format parquet, compression zstd)")
    finally:
        con.close()


def _load_run_log(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in RUN_LOG_COLUMNS.items())
    con.execute(f"create table run_log ({columns})")
    _insert_runs(con, records)


def _insert_runs(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    """The runs appended to the run_log table, in one insert from an Arrow table of the table's
    own column types. Bound as parameters, run by run (executemany), each delivery a run lists cost
    15 us: 45 ms a publish for the 3,000 of a national network's first run, and a log that keeps
    every run grows by each month's deliveries and by every full rebuild. Times go to Arrow in UTC
    (_utc); a value Arrow does not convert where DuckDB casts it (the text of a number) goes in as
    before."""
    if not records:
        return
    import pyarrow as pa

    rows = [{name: _utc(r.get(name)) for name in RUN_LOG_COLUMNS} for r in records]
    try:
        table = pa.Table.from_pylist(rows, schema=con.table("run_log").limit(0).to_arrow_table().schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        marks = ", ".join("?" for _ in RUN_LOG_COLUMNS)
        con.executemany(f"insert into run_log values ({marks})",
                        [[r.get(name) for name in RUN_LOG_COLUMNS] for r in records])
        return
    con.register("runs_to_load", table)
    try:
        con.execute("insert into run_log select * from runs_to_load")
    finally:
        con.unregister("runs_to_load")


def _utc(value: object) -> object:
    """A time as the same instant in UTC, a naive one taken in the local time zone (as DuckDB casts
    a naive time to timestamptz); any other value as it is. Arrow is not left to convert a time
    zone: with PYARROW_IGNORE_TIMEZONE set (pandera sets it when it is imported, as in the flow)
    it keeps a time's clock reading and drops its offset."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def write_release(release_dir: Path, tables: dict[str, pd.DataFrame],
                  run_log: list[dict] | None = None) -> None:
    """The database and its Parquet copies in release_dir (created here)."""
    release_dir.mkdir()
    build_database(release_dir / DATABASE, tables, run_log, parquet_dir=release_dir)


def build_release(curated_dir: Path, tables: dict[str, pd.DataFrame],
                  run_log: list[dict] | None = None) -> Path:
    """Write a complete new release under releases/.building-<id>; not yet visible to readers.

    Call with the publication lock held; then seal_release and switch_release.
    """
    clean_leftovers(curated_dir)
    building = curated_dir / RELEASES / f".building-{_new_release_id()}"
    building.parent.mkdir(parents=True, exist_ok=True)
    write_release(building, tables, run_log)
    return building


def seal_release(building: Path, fingerprint: str = "", run: dict | None = None) -> dict:
    """Add this run to the release's run log, write release.json and sync: the release is complete."""
    release_id = building.name.removeprefix(".building-")
    run = {**run, "release_id": release_id} if run else None
    if run:
        con = duckdb.connect(str(building / DATABASE))
        try:
            _insert_runs(con, [run])
            con.execute("checkpoint")
        finally:
            con.close()
    manifest = {"release_id": release_id, "created_at": _now().isoformat(), "fingerprint": fingerprint,
                "run": run, "files": {path.name: file_entry(path) for path in sorted(building.iterdir())
                                      if path.is_file() and path.name != MANIFEST}}
    (building / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
    for path in building.iterdir():
        fsync_path(path)
    fsync_path(building)
    return manifest


def switch_release(curated_dir: Path, building: Path) -> list[Path]:
    """Make a sealed release current with one rename of the `current` link; prune old releases."""
    if not (building / MANIFEST).is_file():
        raise RuntimeError(f"{building} is not sealed: no {MANIFEST}")
    releases = curated_dir / RELEASES
    release = releases / building.name.removeprefix(".building-")
    os.rename(building, release)
    fsync_path(releases)
    _point(curated_dir / CURRENT, Path(RELEASES) / release.name)
    names = [DATABASE, *(f"{name}.parquet" for name in PARQUET_TABLES)]
    for name in names:
        _point(curated_dir / name, Path(CURRENT) / name, only_if_different=True)
    fsync_path(curated_dir)
    prune_releases(curated_dir)
    return [curated_dir / name for name in names]


def publish(curated_dir: Path, tables: dict[str, pd.DataFrame], *, fingerprint: str = "",
            run: dict | None = None, run_log: list[dict] | None = None,
            lock_wait_seconds: float = 60.0) -> list[Path]:
    """Build, seal and switch to a new release under the lock; returns the published paths.

    run: this run's record, kept in release.json and, after the earlier run_log, in the database.
    """
    with publication_lock(curated_dir, lock_wait_seconds):
        building = build_release(curated_dir, tables, run_log)
        seal_release(building, fingerprint, run)
        return switch_release(curated_dir, building)


def _point(link: Path, target: Path, only_if_different: bool = False) -> None:
    """Make `link` a symlink to `target` with one rename: readers see the old or the new target."""
    if only_if_different and link.is_symlink() and Path(os.readlink(link)) == target:
        return
    def make(part: Path) -> None:
        part.unlink(missing_ok=True)  # one a killed run of the same process and thread ids left
        part.symlink_to(target)

    replace_file(link, make)


def _new_release_id() -> str:
    stamp = _now().strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{os.getpid()}"


def _now() -> datetime:
    return datetime.now(UTC)


def file_entry(path: Path) -> dict:
    """size (bytes) and sha256 of one published file, as release.json lists it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def verify_release(curated_dir: Path) -> list[str]:
    """What is wrong with the current release, one line each (nothing: it is whole).

    `current` must point at a release with release.json; every file the manifest lists must be
    there with its size and sha256; the fixed links (lvv.duckdb, <table>.parquet) must point into
    `current`. Reads every published byte once (about a second per GB); changes nothing.
    """
    release = current_release(curated_dir)
    if release is None:
        return [f"{curated_dir / CURRENT} does not point at a complete release"]
    manifest = json.loads((release / MANIFEST).read_text(encoding="utf-8"))
    listed = manifest.get("files")
    if listed is None:
        return [f"{release / MANIFEST} lists no files (written before release manifests had sizes and hashes)"]
    problems = []
    for name, expected in sorted(listed.items()):
        path = release / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != expected["size"]:
            problems.append(f"{path}: {path.stat().st_size} bytes, the manifest says {expected['size']}")
        elif file_entry(path)["sha256"] != expected["sha256"]:
            problems.append(f"{path}: its content differs from the manifest (sha256)")
    for name in (DATABASE, *(f"{t}.parquet" for t in PARQUET_TABLES)):
        link = curated_dir / name
        if not link.is_symlink() or Path(os.readlink(link)) != Path(CURRENT) / name:
            problems.append(f"{link}: missing or not a link to {Path(CURRENT) / name}")
    return problems


def published_before(curated_dir: Path) -> bool:
    """True when anything was ever published here (a release, a link or the run log)."""
    return any((curated_dir / RELEASES).glob("*")) or (curated_dir / CURRENT).is_symlink() \
        or (curated_dir / DATABASE).is_symlink()


# --- reading and tidying the layout -----------------------------------------------------------

def current_release(curated_dir: Path) -> Path | None:
    """The directory `current` points at, when it is a complete release."""
    link = curated_dir / CURRENT
    if not link.is_symlink():
        return None
    target = (curated_dir / os.readlink(link)).resolve()
    return target if (target / MANIFEST).is_file() else None


def current_manifest(curated_dir: Path) -> dict | None:
    """release.json of the current release (None before the first publish)."""
    release = current_release(curated_dir)
    return json.loads((release / MANIFEST).read_text(encoding="utf-8")) if release else None


def clean_leftovers(curated_dir: Path) -> list[str]:
    """Remove what a killed publish left behind (half-built releases, temporary links)."""
    removed = []
    releases = curated_dir / RELEASES
    candidates = [*releases.glob(".building-*"), *curated_dir.glob(".*.tmp-*"),
                  *(curated_dir / "runs").glob(".*.tmp-*"),
                  *curated_dir.glob(".publish-*")]
    for path in candidates:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def prune_releases(curated_dir: Path, keep_previous: int = KEEP_PREVIOUS) -> list[str]:
    """Delete all but the current release and the `keep_previous` newest before it."""
    current = current_release(curated_dir)
    releases = sorted((p for p in (curated_dir / RELEASES).glob("*")
                       if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    if current is None:
        return []
    older = [p for p in releases if p.name < current.name]
    doomed = older[:-keep_previous] if keep_previous else older
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in doomed]


def inputs_fingerprint(staged_root: Path, *extra: str, records: list[tuple[str, dict]] | None = None) -> str:
    """Hash of everything a release is built from: stored deliveries, SQL, vocabularies, plus
    any `extra` fingerprints (the corrections files).

    Equal fingerprints mean a new release would hold the same data; a run then leaves the
    publication as it is.

    Each stored delivery counts by its place and its record, taken through the store's records
    index (store.stored_records: a stat per delivery, not a read and a parse of its delivery.json;
    0.2 s at 3,000 deliveries): the record's content, not its file's bytes. A release published
    by the code that hashed the files' bytes has another fingerprint: its store is published once
    again, with the same figures (tests/test_inputs_fingerprint.py). records: stored_records(staged_root)
    when the caller has read them already (the run reads them once for this and its final state).
    """
    from transforms.store import stored_records  # the store's readers: not for the commands that only read a release

    digest = hashlib.sha256(b"records\0")
    for where, record in stored_records(staged_root) if records is None else records:
        digest.update(f"{where}\0".encode())
        digest.update(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
    for name in SQL_FILES:
        digest.update(sql_text(name).encode())
    digest.update(json.dumps([taxonomy_rows(), counting_rule_rows(), published_figure_rows()], sort_keys=True, default=str).encode())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()
