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


def test_superseded_files_are_those_before_the_one_that_stands_in_each_month(tmp_path):
    import hashlib

    from transforms.discover import superseded_files

    raw = tmp_path / "raw"
    two = raw / "amsterdam" / "2021-02"  # two versions (and a lock file and a hidden file)
    two.mkdir(parents=True)
    for name, data in (("export.xlsx", b"first"), ("export_v2.xlsx", b"second"), ("~$export.xlsx", b"l"),
                       (".hidden.xlsx", b"h")):
        (two / name).write_bytes(data)
    one = raw / "amsterdam" / "2021-03"  # one delivery beside files that are not deliveries
    one.mkdir()
    for name in ("export.xlsx", "~$export.xlsx", ".export.xlsx"):
        (one / name).write_bytes(b"x")
    (one / "sub").mkdir()
    three = raw / "amsterdam" / "2021-04"
    three.mkdir()
    for name in ("a.csv", "a (2).csv", "a (10).csv"):
        (three / name).write_bytes(name.encode())
    (raw / "amsterdam" / "not-a-month").mkdir()
    (raw / "amsterdam" / "not-a-month" / "x.csv").write_bytes(b"x")
    (raw / "amsterdam" / "not-a-month" / "y.csv").write_bytes(b"y")
    found = superseded_files(raw, ["amsterdam", "absent"])
    assert [(r["file"], r["superseded_by"], r["sha256"]) for r in found] == [
        ("amsterdam/2021-02/export.xlsx", "amsterdam/2021-02/export_v2.xlsx", hashlib.sha256(b"first").hexdigest()),
        ("amsterdam/2021-04/a.csv", "amsterdam/2021-04/a (10).csv", hashlib.sha256(b"a.csv").hexdigest()),
        ("amsterdam/2021-04/a (2).csv", "amsterdam/2021-04/a (10).csv", hashlib.sha256(b"a (2).csv").hexdigest())]
    assert {(r["delivery_id"], r["period"], r["status"]) for r in found} == {
        ("amsterdam/2021-02", "2021-02", "superseded"), ("amsterdam/2021-04", "2021-04", "superseded")}


def test_superseded_files_takes_discovers_counts_while_each_month_folder_is_unchanged(tmp_path, monkeypatch):
    import os

    from transforms.discover import superseded_files

    raw = tmp_path / "raw"
    for period in ("2021-02", "2021-03", "2021-04"):
        (raw / "amsterdam" / period).mkdir(parents=True)
        (raw / "amsterdam" / period / "export.xlsx").write_bytes(period.encode())
    (raw / "amsterdam" / "2021-03" / "export_v2.xlsx").write_bytes(b"again")
    found, _ = discover(raw, {"amsterdam": contract_for("amsterdam")})
    listed, real_scandir = [], os.scandir

    def counting_scandir(path="."):
        listed.append(os.path.basename(os.fspath(path)))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    assert [r["file"] for r in superseded_files(raw, ["amsterdam"])] == ["amsterdam/2021-03/export.xlsx"]
    assert listed == ["amsterdam"]  # the municipality's folder only: every month counted by discover
    # a second version arrives in a month after discover listed it: that folder is listed again
    (raw / "amsterdam" / "2021-04" / "export_v2.xlsx").write_bytes(b"late")
    listed.clear()
    assert [r["file"] for r in superseded_files(raw, ["amsterdam"])] == [
        "amsterdam/2021-03/export.xlsx", "amsterdam/2021-04/export.xlsx"]
    assert listed == ["amsterdam", "2021-04"]
    (raw / "amsterdam" / "2021-03" / "export_v2.xlsx").unlink()  # a version withdrawn
    assert [r["file"] for r in superseded_files(raw, ["amsterdam"])] == ["amsterdam/2021-04/export.xlsx"]


def test_discover_stats_each_month_folder_once_and_no_file(tmp_path, monkeypatch):
    """discover takes the type of each folder and file from its listing: the one stat per month
    folder is its stamp (kept for superseded_files), and no file of the history is stat'ed; what
    it finds is as before: hidden folders, plain files beside the months and lock files passed
    over, a month folder that is a link followed, several versions ordered by name."""
    import os

    raw = tmp_path / "raw"
    months = [f"2020-{m:02d}" for m in range(1, 13)]
    for period in months:
        (raw / "amsterdam" / period).mkdir(parents=True)
        (raw / "amsterdam" / period / f"lvv_{period}.xlsx").write_bytes(b"x")
    (raw / "amsterdam" / "2020-05" / "~$lvv_2020-05.xlsx").write_bytes(b"lock")
    (raw / "amsterdam" / "2020-06" / "lvv_2020-06_v2.xlsx").write_bytes(b"again")
    (raw / "amsterdam" / "notes.txt").write_text("not a month")
    (raw / "amsterdam" / ".2020-13").mkdir()
    (raw / "amsterdam" / ".2020-13" / "x.xlsx").write_bytes(b"x")
    (raw / ".cache").mkdir()
    elsewhere = tmp_path / "share" / "2021-01"
    elsewhere.mkdir(parents=True)
    (elsewhere / "lvv_2021-01.xlsx").write_bytes(b"x")
    (raw / "amsterdam" / "2021-01").symlink_to(elsewhere, target_is_directory=True)
    stats, real_stat = [], os.stat

    def counting_stat(path, *args, **kwargs):
        stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    found, notes = discover(raw, {"amsterdam": contract_for("amsterdam")})
    assert [f.relative for f in found] == [f"amsterdam/{p}/lvv_{p}{'_v2' if p == '2020-06' else ''}.xlsx"
                                           for p in [*months, "2021-01"]]
    assert all(f.path == raw / f.relative for f in found)
    assert notes == ["amsterdam/2020-06/: 2 files; lvv_2020-06_v2.xlsx stands (the latest version by name), "
                     "superseded: lvv_2020-06.xlsx"]
    month_stats = [p for p in stats if os.path.basename(os.path.dirname(p)) == "amsterdam"]
    assert sorted(month_stats) == [str(raw / "amsterdam" / p) for p in [*months, "2021-01"]]
    # the one folder with two files is ordered by month_files, whose Paths stat its files
    assert [p for p in stats if p not in month_stats and "2020-06" not in p] == [str(raw)]
