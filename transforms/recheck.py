"""What the current code would store for each stored delivery, against what is stored.

A stored delivery is the record of what its file said as the code of its day read it: an upgrade
of the code that reads and processes a raw file (`transforms/read.py`, `limits.py`, `scrub.py`,
`stage.py`, `delivery.py`, the contracts and checks) changes nothing already stored
(docs/operations.md, "After a code upgrade"). `recheck` says which stored deliveries an upgrade
would change, and in what, before anyone decides on `lvv run --rebuild`: it processes each
stored delivery's raw file again with the current code and the store's key, into a scratch
folder outside the store, and compares the result with the stored one. Nothing stored changes
(the store's index of its records is brought up to date, as by any reading of them).

Compared: the counts and the 'stand per' date of the record, and the three stored tables
(episodes, quarantine, findings). Not compared: what a run decides after processing (held or in
force, the run id), which a rebuild decides again. A stored delivery whose raw file is gone, or
is no longer the file a run finds stored for it (its sha256, or a newer version in its month
folder: discover and needs_processing, as a run decides), is said so and not processed: the next
`lvv run` takes it.
Cost: one municipality's processing at a time, as a full rebuild's (its memory, its time), and
one delivery's result on disk at a time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.contracts import contracts
from transforms.delivery import DeliveryInput, process_deliveries
from transforms.discover import DeliveryFile, discover, needs_processing
from transforms.protect import Pseudonymiser
from transforms.revisions import reject_if_duplicate
from transforms.store import delivery_dir, load_raw_hashes, load_records, period_folder, save_result

#: the record's fields that processing decides (not the gate, not the run)
RECORD_FIELDS = ("rows_read", "rows_curated", "rows_quarantined", "rows_skipped", "stand_per", "stand_per_stated")
TABLES = ("episodes", "quarantine", "findings")
#: verdicts
SAME, DIFFERS, RAW_CHANGED, RAW_MISSING, NO_CONTRACT = "same", "differs", "raw file changed", "raw file missing", \
    "no source contract"


@dataclass(frozen=True)
class Rechecked:
    """One stored delivery: the verdict, and what differs (counts, codes and column names only:
    never a value of a row)."""

    delivery_id: str
    file: str
    verdict: str
    differences: tuple[str, ...] = ()


def recheck(staged: Path, raw: Path, key: str, municipalities: Iterable[str] | None = None) -> Iterator[Rechecked]:
    """Each stored delivery (of `municipalities`, else all) against what the current code stores
    for its raw file (see the module doc), in the store's order; nothing in `staged` changes."""
    wanted = set(municipalities) if municipalities is not None else None
    known = contracts()
    records = [r for r in load_records(staged) if wanted is None or r["municipality"] in wanted]
    by_municipality: dict[str, list[dict]] = {}
    for record in records:
        by_municipality.setdefault(record["municipality"], []).append(record)
    current = _current_files(staged, raw, records)
    pseudonymiser = Pseudonymiser(key)
    for municipality, stored in by_municipality.items():
        if municipality not in known:
            yield from (Rechecked(r["delivery_id"], r.get("file") or "", NO_CONTRACT) for r in stored)
            continue
        todo = []
        for record in stored:
            found = current.get(record["delivery_id"])
            if isinstance(found, DeliveryFile):
                todo.append((record, found))
            else:
                yield Rechecked(record["delivery_id"], record.get("file") or "", found)
        if todo:
            yield from _compared(staged, todo, stored, known[municipality], pseudonymiser)


def _current_files(staged: Path, raw: Path, records: list[dict]) -> dict[str, DeliveryFile | str]:
    """Per stored delivery, its raw file where that is the file a run would find stored (discover,
    and needs_processing with the raw files' kept hashes: a file not written since is not read to
    hash it); else RAW_CHANGED (the next run processes it) or RAW_MISSING (no file stands for it)."""
    files, _ = discover(raw, contracts())
    by_folder = {(f.municipality, f.folder): f for f in files}
    changed = {(f.municipality, f.folder) for f in needs_processing(files, records, load_raw_hashes(staged))}
    out: dict[str, DeliveryFile | str] = {}
    for record in records:
        where = (record["municipality"], period_folder(record))
        out[record["delivery_id"]] = (RAW_MISSING if where not in by_folder else RAW_CHANGED if where in changed
                                      else by_folder[where])
    return out


def _compared(staged: Path, todo: list[tuple[dict, DeliveryFile]], stored: list[dict], contract,
              pseudonymiser: Pseudonymiser) -> Iterator[Rechecked]:
    """Process one municipality's deliveries as a run does (process_deliveries, then the duplicate
    rule against the deliveries in force), each into the scratch folder, compared and removed."""
    inputs = [DeliveryInput(item.path, item.period, item.relative) for _, item in todo]
    in_force = [r for r in stored if r["status"] == "accepted"]
    with tempfile.TemporaryDirectory(prefix="lvv-recheck-") as scratch:  # outside the store: it is only read
        for (record, _), result in zip(todo, process_deliveries(inputs, contract, pseudonymiser)):
            result = reject_if_duplicate(result, [r for r in in_force if r["delivery_id"] != record["delivery_id"]])
            again = save_result(Path(scratch), result)
            differences = _differences(record, result.delivery, delivery_dir(staged, record["municipality"],
                                                                              period_folder(record)), again)
            yield Rechecked(record["delivery_id"], record["file"], DIFFERS if differences else SAME, differences)
            shutil.rmtree(again)


def _differences(stored: dict, again: dict, stored_dir: Path, again_dir: Path) -> tuple[str, ...]:
    out = [f"{name}: {stored.get(name)} -> {again.get(name)}" for name in RECORD_FIELDS
           if _plain(stored.get(name)) != _plain(again.get(name))]
    for name in TABLES:
        before, after = _table(stored_dir / f"{name}.parquet"), _table(again_dir / f"{name}.parquet")
        if before.equals(after):
            continue
        if name == "findings":
            out.append(_findings_difference(before, after))
        elif before.num_rows != after.num_rows:
            out.append(f"{name}: {before.num_rows} -> {after.num_rows} rows")
        else:
            columns = sorted(set(before.column_names) ^ set(after.column_names))
            changed = [c for c in before.column_names if c in after.column_names and not before[c].equals(after[c])]
            out.append(f"{name}: the same {before.num_rows} rows, other values in "
                       + ", ".join(columns + changed))
    return tuple(out)


def _plain(value: object) -> str | None:
    """A record field as JSON stores it (a date as its ISO text)."""
    return None if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)


def _table(path: Path) -> pa.Table:
    """A stored table (an empty one where the delivery stored none)."""
    return pq.read_table(path) if path.is_file() else pa.table({})


def _findings_difference(before: pa.Table, after: pa.Table) -> str:
    """Findings gained and lost by code (counts), or, where the codes are the same, that their
    wording or place differs."""
    counts = [Counter(t.column("code").to_pylist()) if "code" in t.column_names else Counter() for t in (before, after)]
    gained, lost = counts[1] - counts[0], counts[0] - counts[1]
    if not gained and not lost:
        return "findings: the same codes, other wording or cells"
    parts = [f"+{code} x{n}" for code, n in sorted(gained.items())] + [f"-{code} x{n}" for code, n in sorted(lost.items())]
    return "findings: " + ", ".join(parts)


__all__ = ["DIFFERS", "NO_CONTRACT", "RAW_CHANGED", "RAW_MISSING", "RECORD_FIELDS", "Rechecked", "SAME", "TABLES",
           "recheck"]
