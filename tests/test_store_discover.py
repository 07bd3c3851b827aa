"""Discovering deliveries under data/raw: month folders a person left in an odd state."""

from __future__ import annotations

from schemas.contracts import contract_for
from transforms.discover import discover


def test_an_empty_month_folder_is_named_in_a_note_and_not_a_delivery(tmp_path):
    raw = tmp_path / "raw"
    (raw / "amsterdam" / "2021-02").mkdir(parents=True)
    (raw / "amsterdam" / "2021-02" / "lvv_amsterdam_2021-02.xlsx").write_bytes(b"x")
    (raw / "amsterdam" / "2021-03").mkdir()  # a month folder with no file at all
    hidden = raw / "amsterdam" / "2021-04"  # only what a file manager or Excel leaves behind
    hidden.mkdir()
    (hidden / ".DS_Store").write_bytes(b"x")
    (hidden / "~$lvv_amsterdam_2021-04.xlsx").write_bytes(b"x")
    found, notes = discover(raw, {"amsterdam": contract_for("amsterdam")})
    assert [f.relative for f in found] == ["amsterdam/2021-02/lvv_amsterdam_2021-02.xlsx"]
    empty = [note for note in notes if "empty month folder" in note]
    assert empty == ["amsterdam/2021-03/: an empty month folder (no delivery file), passed over",
                     "amsterdam/2021-04/: an empty month folder (no delivery file), passed over"]


def test_a_month_folder_with_a_file_gets_no_empty_note(tmp_path):
    raw = tmp_path / "raw"
    for period in ("2021-02", "2021-03"):
        (raw / "amsterdam" / period).mkdir(parents=True)
        (raw / "amsterdam" / period / f"lvv_amsterdam_{period}.xlsx").write_bytes(b"x")
    found, notes = discover(raw, {"amsterdam": contract_for("amsterdam")})
    assert len(found) == 2 and not [note for note in notes if "empty" in note]
