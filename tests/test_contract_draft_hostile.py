"""`lvv contract draft` on exports no generator of ours writes (robustness review, round 21): the
limits of schemas/checks.yaml are checked before a draft parses a file, as for a delivery, and a
damaged file is one clear line, not an "unexpected error" (a truncated workbook was: exit 3)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_hostile_cli import CORPUS
from transforms.contract_draft import DraftError, read_grids

ROOT = Path(__file__).resolve().parent.parent


def test_a_zip_bomb_is_refused_by_its_limit_before_it_is_parsed(tmp_path):
    bomb = CORPUS["zip bomb"][0](tmp_path)
    with pytest.raises(DraftError, match=r"limits\.compression_ratio \(xl/sharedStrings\.xml\)"):
        read_grids(bomb)


def test_a_truncated_workbook_is_one_line_and_exit_1(tmp_path):
    truncated = CORPUS["truncated"][0](tmp_path)
    with pytest.raises(DraftError, match="damaged or truncated"):
        read_grids(truncated)
    done = subprocess.run([sys.executable, "-m", "lvv.cli", "contract", "draft", str(truncated), "--municipality",
                           "Zwolle"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1 and "unexpected error" not in done.stderr and "Traceback" not in done.stderr
    assert "truncated.xlsx: " in done.stderr and "damaged or truncated" in done.stderr


def test_a_workbook_whose_sheet_is_not_well_formed_xml_is_one_line(tmp_path):
    path = tmp_path / "broken.xlsx"
    CORPUS["only a header"][0](tmp_path).rename(path)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/"))
    parts[sheet] = parts[sheet].replace(b"</sheetData>", b"<row r=\"9\"><c r=\"A9\"><v>1</v></row", 1)
    with zipfile.ZipFile(path, "w") as archive:  # the zip is whole; its limits pass; the XML is cut
        for name, data in parts.items():
            archive.writestr(name, data)
    with pytest.raises(DraftError, match="broken.xlsx: the workbook cannot be read; it is damaged or truncated"):
        read_grids(path)


def test_a_csv_with_a_cell_past_the_csv_field_limit_is_one_line(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Clientnr;Vnr;Startdatum\n1;" + "9" * 200_000 + ";01-01-2020\n", encoding="utf-8")
    with pytest.raises(DraftError, match="line 2 cannot be read as CSV"):
        read_grids(path)
