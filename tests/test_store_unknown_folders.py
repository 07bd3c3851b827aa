"""Month folders not named YYYY-MM: each rejection has its own stored folder.

They all went to staged/<municipality>/unknown: two such folders (2022-8 and 2022-9 typed for
2022-08 and 2022-09) overwrote each other, the one overwritten was processed again on every run,
and the steward was told of one file only. The find-deliveries step (tidy's clean_store,
discover, needs_processing, prune, save_result) called as the flow calls it, on hand-made raw
trees; no Prefect.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

from schemas.contracts import contract_for, contracts
from tests.conftest import good_row, write_sheet
from transforms.delivery import process_delivery
from transforms.discover import discover, needs_processing
from transforms.protect import Pseudonymiser
from transforms.runs import delivery_entries
from transforms.run_states import waiting_for_steward
from transforms.store import clean_store, load_records, period_folder, prune, save_result, stored_folder

ROWS = [good_row(n) for n in range(1, 4)]


def month(root: Path, folder: str, stand_per: date, name: str = "export.xlsx") -> Path:
    return write_sheet(root / "raw" / "amsterdam" / folder / name, contract_for("amsterdam"), ROWS,
                       stand_per=stand_per)


def one_run(root: Path) -> tuple[list[str], list[str], list[dict]]:
    """What a monthly run stores: (files processed, deliveries withdrawn, run log entries)."""
    staged = root / "curated" / "staged"
    clean_store(staged)  # tidy
    found, _ = discover(root / "raw", contracts())
    previous = load_records(staged)
    todo = needs_processing(found, previous)
    withdrawn = prune(staged, {(f.municipality, f.folder) for f in found})
    records = []
    for item in todo:
        result = process_delivery(item.path, contract_for(item.municipality), item.period, Pseudonymiser("k"),
                                  display_name=item.relative)
        save_result(staged, result)
        records.append(result.delivery)
    return [f.relative for f in todo], withdrawn, delivery_entries(todo, records, previous, withdrawn)


def folders(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "curated" / "staged" / "amsterdam").iterdir() if not p.name.startswith("."))


def test_two_misnamed_month_folders_are_both_stored_named_and_not_processed_again(tmp_path):
    month(tmp_path, "2022-07", date(2022, 7, 31))
    month(tmp_path, "2022-8", date(2022, 8, 31))
    month(tmp_path, "2022-9", date(2022, 9, 30))
    done, withdrawn, entries = one_run(tmp_path)
    assert len(done) == 3 and withdrawn == []
    stored = {r["file"]: r for r in load_records(tmp_path / "curated" / "staged", "amsterdam")}
    assert {f: r["status"] for f, r in stored.items()} == {
        "amsterdam/2022-07/export.xlsx": "accepted", "amsterdam/2022-8/export.xlsx": "rejected",
        "amsterdam/2022-9/export.xlsx": "rejected"}
    names = folders(tmp_path)
    assert names[0] == "2022-07" and len(names) == 3
    assert all(re.fullmatch(r"unknown-[0-9A-Za-z-]+", n) for n in names[1:])
    assert names[1].startswith("unknown-2022-8-") and names[2].startswith("unknown-2022-9-")
    # the run log: each file's entry with its own record, though both are amsterdam/?
    by_sha = {e["sha256"] for e in entries if e["delivery_id"] == "amsterdam/?"}
    assert by_sha == {stored["amsterdam/2022-8/export.xlsx"]["sha256"], stored["amsterdam/2022-9/export.xlsx"]["sha256"]}
    waiting = " ".join(waiting_for_steward({"status": "published"}, tmp_path / "curated" / "staged"))
    assert "amsterdam/2022-8/export.xlsx" in waiting and "amsterdam/2022-9/export.xlsx" in waiting

    assert one_run(tmp_path)[:2] == ([], [])  # nothing new: neither is processed again
    assert folders(tmp_path) == names

    # 2022-8 renamed as it should be: it is processed, its rejection goes, the other one stays
    (tmp_path / "raw" / "amsterdam" / "2022-8").rename(tmp_path / "raw" / "amsterdam" / "2022-08")
    done, withdrawn, entries = one_run(tmp_path)
    assert done == ["amsterdam/2022-08/export.xlsx"] and withdrawn == [f"amsterdam/{names[1]}"]
    assert [e["action"] for e in entries] == ["new", "withdrawn"]
    assert entries[1]["previous_sha256"] == stored["amsterdam/2022-8/export.xlsx"]["sha256"]
    assert folders(tmp_path) == ["2022-07", "2022-08", names[2]]
    assert one_run(tmp_path)[:2] == ([], [])


def test_a_changed_file_in_a_misnamed_folder_replaces_its_rejection(tmp_path):
    month(tmp_path, "2022-8", date(2022, 8, 31))
    first = one_run(tmp_path)[2][0]["sha256"]
    (before,) = folders(tmp_path)
    month(tmp_path, "2022-8", date(2022, 8, 31), name="export_v2.xlsx")  # a later version stands
    done, withdrawn, entries = one_run(tmp_path)
    assert done == ["amsterdam/2022-8/export_v2.xlsx"] and withdrawn == []
    assert [(e["action"], e["previous_sha256"]) for e in entries] == [("changed", first)]
    assert folders(tmp_path) == [before]
    (record,) = load_records(tmp_path / "curated" / "staged")
    assert record["file"] == "amsterdam/2022-8/export_v2.xlsx"


def test_the_one_folder_of_older_stores_is_processed_again_into_its_own(tmp_path):
    """A store written before: its `unknown` folder holds one rejection (the other was overwritten)."""
    path = month(tmp_path, "2022-8", date(2022, 8, 31))
    month(tmp_path, "2022-9", date(2022, 9, 30))
    result = process_delivery(path, contract_for("amsterdam"), None, Pseudonymiser("k"),
                              display_name="amsterdam/2022-8/export.xlsx")
    legacy = tmp_path / "curated" / "staged" / "amsterdam" / "unknown"
    legacy.mkdir(parents=True)
    (legacy / "delivery.json").write_text(json.dumps(result.delivery, default=str), encoding="utf-8")
    done, withdrawn, _ = one_run(tmp_path)
    assert sorted(done) == ["amsterdam/2022-8/export.xlsx", "amsterdam/2022-9/export.xlsx"]
    assert len(folders(tmp_path)) == 2 and "unknown" not in folders(tmp_path)
    assert len(load_records(tmp_path / "curated" / "staged")) == 2
    assert one_run(tmp_path)[:2] == ([], [])


def test_the_folder_is_stable_safe_and_its_own_for_odd_names():
    odd = ["2022 8 (kopie)", "2022_8", "2022-8", "２０２２-０８", "aug 2022 ünd", "-", "x" * 300, "2022-8\udcff"]
    names = [stored_folder(None, f"amsterdam/{folder}/export.xlsx") for folder in odd]
    assert len(set(names)) == len(odd)  # same slug (2022-8), another folder
    assert all(re.fullmatch(r"unknown-(?:[0-9A-Za-z]+(?:-[0-9A-Za-z]+)*-)?[0-9a-f]{12}", n) and len(n) <= 54
               for n in names), names
    assert names[0] == "unknown-2022-8-kopie-" + names[0][-12:]
    assert stored_folder(None, "amsterdam/2022-8/other.xlsx") == names[2]  # the folder's, not the file's
    assert stored_folder(None, "utrecht/2022-8/export.xlsx") != names[2]
    assert stored_folder(float("nan"), "amsterdam/2022-8/export.xlsx") == names[2]
    assert stored_folder("2022-08", "amsterdam/2022-8/export.xlsx") == "2022-08"
    assert period_folder({"period": None, "file": "amsterdam/2022-8/export.xlsx"}) == names[2]
    # the same name in every process and on every machine (not Python's salted hash())
    assert names[2] == "unknown-2022-8-" + hashlib.sha256(b"amsterdam/2022-8").hexdigest()[:12]
