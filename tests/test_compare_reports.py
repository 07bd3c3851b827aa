"""benchmarks.compare_reports: how a change is checked to leave the demo's reports as they were."""

from __future__ import annotations

import shutil

from benchmarks.compare_reports import compare


def test_two_copies_are_equal_and_each_kind_of_difference_is_counted_and_named(demo_pristine, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(demo_pristine.root, a, symlinks=True)
    shutil.copytree(demo_pristine.root, b, symlinks=True)
    said: list[str] = []
    assert compare(a, b, said.append) == 0
    assert said[-1] == "mismatches: 0" and any(line.startswith("equal cell for cell") for line in said)

    page = next((b / "reports").glob("*/*-public.html"))
    page.write_bytes(page.read_bytes().replace(b"<body", b"<body data-changed", 1))
    frame = next((b / "reports" / "gather-cache").glob("*/bridge.parquet"))
    frame.unlink()  # a gathered frame missing on one side
    (b / "curated" / "current" / "deliveries.parquet").unlink()  # a published file missing: no traceback
    said.clear()
    assert compare(a, b, said.append) == 3
    differ = [line for line in said if line.startswith("DIFFER")]
    assert any(page.name in line for line in differ)
    assert any("bridge.parquet" in line for line in differ)
    assert any("deliveries.parquet" in line for line in differ)
