"""The run record and the store's crash recovery, as plain functions (no Prefect)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd

from schemas.contracts import contract_for, contracts
from tests.conftest import good_row, write_sheet
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.discover import discover, needs_processing
from transforms.protect import Pseudonymiser
from transforms.publish import current_manifest, inputs_fingerprint, publish
from transforms.runs import (
    append_run,
    delivery_entries,
    finish_run,
    headline_changes,
    new_run,
    read_runs,
    recover_published_run,
    summary_line,
)
from transforms.store import clean_store, load_records, save_result

REF = date(2020, 11, 30)


def _one_delivery(root: Path) -> Path:
    ams = contract_for("amsterdam")
    path = write_sheet(root / "raw" / "amsterdam" / "2020-11" / "export.xlsx", ams,
                       [good_row(1, exit_date=date(2020, 11, 2), outcome="MOB")], stand_per=REF)
    save_result(root / "curated" / "staged", process_delivery(path, ams, "2020-11", Pseudonymiser("k"),
                                                              display_name="amsterdam/2020-11/export.xlsx"))
    return path


def test_a_run_that_died_after_publishing_is_logged_by_the_next(tmp_path):
    _one_delivery(tmp_path)
    curated = tmp_path / "curated"
    run = finish_run(new_run(REF, ["programme"], run_id="r1"), "published", [])
    publish(curated, curated_tables(curated / "staged"), fingerprint=inputs_fingerprint(curated / "staged"),
            run=run)
    assert read_runs(curated) == []  # killed before record-run
    assert recover_published_run(curated, current_manifest(curated))
    assert [r["run_id"] for r in read_runs(curated)] == ["r1"]
    assert not recover_published_run(curated, current_manifest(curated))  # only once
    assert read_runs(curated)[0]["release_id"] == current_manifest(curated)["release_id"]


def test_run_records_round_trip_and_say_what_happened(tmp_path):
    run = new_run(REF, ["programme"], run_id="r2")
    entries = [{"delivery_id": "amsterdam/2020-11", "action": "changed", "status": "accepted",
                "sha256": "b", "previous_sha256": "a", "rows_read": 5, "rows_curated": 4,
                "rows_quarantined": 1}]
    changes = headline_changes(pd.DataFrame({"definition": ["programme"] * 2, "line": ["returned", "legalised"],
                                             "persons": [3, 1]}),
                               pd.DataFrame({"definition": ["programme"] * 2, "line": ["returned", "legalised"],
                                             "persons": [2, 2]}))
    done = finish_run(run, "published", entries, changes)
    append_run(tmp_path, done)
    append_run(tmp_path, finish_run(new_run(REF, ["programme"], run_id="r3"), "failed", [], message="boom"))
    (back, failed) = read_runs(tmp_path)
    assert back["reference_date"] == REF and back["rows_quarantined"] == 1
    assert {(c["line"], c["change"]) for c in back["changes"]} == {("returned", -1), ("legalised", 1)}
    assert failed["status"] == "failed" and failed["message"] == "boom"
    assert summary_line(back).startswith("published: 0 new, 1 changed, 0 withdrawn deliveries; 5 rows read")
    assert "byte-for-byte unchanged" in summary_line(finish_run(run, "unchanged", []))
    assert not list(tmp_path.glob("runs/.*.tmp-*"))


def test_a_delivery_caught_mid_replace_is_processed_again(tmp_path):
    path = _one_delivery(tmp_path)
    staged = tmp_path / "curated" / "staged"
    found, _ = discover(tmp_path / "raw", contracts())
    assert needs_processing(found, load_records(staged)) == []
    target = staged / "amsterdam" / "2020-11"
    target.rename(target.with_name(".old-2020-11-999"))  # killed between the two renames
    (staged / "amsterdam" / ".tmp-abc").mkdir()
    # and a record's part a process killed in save_record left beside another delivery's record
    (staged / "amsterdam" / "2020-10").mkdir()
    (staged / "amsterdam" / "2020-10" / ".delivery.json.tmp-7-8").write_text("{")
    assert sorted(clean_store(staged)) == ["amsterdam/.old-2020-11-999", "amsterdam/.tmp-abc",
                                           "amsterdam/2020-10/.delivery.json.tmp-7-8"]
    (staged / "amsterdam" / "2020-10").rmdir()
    assert [f.path for f in needs_processing(found, load_records(staged))] == [path]
    entries = delivery_entries(needs_processing(found, []), [{"delivery_id": "amsterdam/2020-11",
                                                               "sha256": "x", "status": "accepted"}], [], [])
    assert entries[0]["action"] == "new"
    shutil.rmtree(staged)
