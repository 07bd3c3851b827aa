"""The raw files' listing behind the demo check and `lvv run`'s "no deliveries" guard, on layouts
no generator writes: hidden files and folders, files at the wrong depth, a symbolic link."""

from __future__ import annotations

import json
import os

from lvv.settings import DEMO_MANIFEST, delivery_files, has_deliveries, is_demo_data, relative_delivery_files


def _odd_raw(tmp_path):
    raw = tmp_path / "raw"
    month = raw / "utrecht" / "2022-07"
    month.mkdir(parents=True)
    (month / "lvv_utrecht_2022-07.xlsx").write_bytes(b"x")
    (month / ".~lock.lvv_utrecht_2022-07.xlsx#").write_bytes(b"x")  # hidden: not a delivery
    (month / "nested").mkdir()  # a folder in a month folder: not a file
    (raw / "utrecht" / "loose.xlsx").write_bytes(b"x")  # at the municipality's level: too shallow
    (raw / "top.xlsx").write_bytes(b"x")
    hidden = raw / ".trash" / "2022-07"  # a hidden folder: pathlib's `*` matched it, so it counts
    hidden.mkdir(parents=True)
    (hidden / "old.csv").write_bytes(b"x")
    os.symlink(month / "lvv_utrecht_2022-07.xlsx", month / "link.xlsx")  # a link to a file is a file
    os.symlink(tmp_path / "nowhere", month / "dangling.xlsx")  # a link to nothing is not
    return raw


def test_the_listing_is_pathlibs_glob_on_an_odd_layout(tmp_path):
    raw = _odd_raw(tmp_path)
    # the oracle: the listing as it was written before, with pathlib
    expected = sorted(p.relative_to(raw).as_posix() for p in raw.glob("*/*/*")
                      if p.is_file() and not p.name.startswith("."))
    assert expected == [".trash/2022-07/old.csv", "utrecht/2022-07/link.xlsx", "utrecht/2022-07/lvv_utrecht_2022-07.xlsx"]
    assert sorted(relative_delivery_files(raw)) == expected
    assert sorted(p.relative_to(raw).as_posix() for p in delivery_files(raw)) == expected


def test_no_raw_folder_or_no_delivery_file(tmp_path):
    assert relative_delivery_files(tmp_path / "absent") == [] and not has_deliveries(tmp_path / "absent")
    (tmp_path / "raw" / "utrecht" / "2022-07").mkdir(parents=True)
    (tmp_path / "raw" / "utrecht" / "2022-07" / ".hidden").write_bytes(b"x")
    assert not has_deliveries(tmp_path / "raw")
    assert has_deliveries(_odd_raw(tmp_path / "other"))


def test_the_demo_check_on_the_odd_layout(tmp_path):
    raw = _odd_raw(tmp_path)
    listed = {".trash/2022-07/old.csv": "x", "utrecht/2022-07/link.xlsx": "x",
              "utrecht/2022-07/lvv_utrecht_2022-07.xlsx": "x"}
    (raw / DEMO_MANIFEST).write_text(json.dumps({"files": listed}))
    assert is_demo_data(raw)
    del listed[".trash/2022-07/old.csv"]  # a file in a hidden folder the demo did not write
    (raw / DEMO_MANIFEST).write_text(json.dumps({"files": listed}))
    assert not is_demo_data(raw)
