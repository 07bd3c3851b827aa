"""Two data directories' monthly reports against each other: what a change must leave as it was.

    python -m benchmarks.compare_reports MAIN_DATA_DIR BRANCH_DATA_DIR

For example the demo written and run by main and by a branch (`lvv demo --data-dir DIR` each).
Compares every file under reports/ but the gather cache (whose folder is named by the code's
digest): the workbooks cell by cell (value, number format, type), the pages and the protection
files byte for byte, with what differs between any two runs masked (the run and release ids and
the time a report was made, plotly's random div ids); the gathered frames frame by frame; and the
published Parquet files of the current release byte for byte. Prints one line per file and the
number of mismatches; exit 1 when there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

#: what differs between any two runs of the same inputs: run ids and plotly's div ids (UUIDs), the
#: release id, the time a report was made
RUN_SPECIFIC = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                          rb"|[0-9]{8}T[0-9]{12}Z-[0-9]+"
                          rb"|[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\+00:00")
#: rows of the workbooks' sheet about the report that name the run (first cell, any language)
RUN_ROWS = {"run", "release", "gemaakt op", "made on", "created"}


def _files(root: Path, sub: str) -> list[Path]:
    return sorted(p.relative_to(root) for p in (root / sub).rglob("*") if p.is_file())


def _cells(path: Path) -> dict[str, list]:
    import openpyxl

    book = openpyxl.load_workbook(path)
    return {name: [[(c.value, c.number_format, c.data_type) for c in row] for row in book[name].iter_rows()
                   if row[0].value not in RUN_ROWS] for name in book.sheetnames}


def compare(a: Path, b: Path, say=print) -> int:
    """The number of files or frames that differ between a and b (see the module's doc)."""
    import pandas as pd

    bad = 0
    ours = [p for p in _files(a, "reports") if "gather-cache" not in p.parts]
    theirs = [p for p in _files(b, "reports") if "gather-cache" not in p.parts]
    if ours != theirs:
        say(f"DIFFER: the report files: {sorted(set(ours) ^ set(theirs))}")
        bad += 1
    for rel in sorted(set(ours) & set(theirs)):
        if rel.suffix == ".xlsx":
            same = _cells(a / rel) == _cells(b / rel)
            say(f"{'equal' if same else 'DIFFER'} cell for cell: {rel}")
        else:
            same = RUN_SPECIFIC.sub(b"-", (a / rel).read_bytes()) == RUN_SPECIFIC.sub(b"-", (b / rel).read_bytes())
            say(f"{'equal' if same else 'DIFFER'} byte for byte: {rel}")
        bad += not same
    gathered = [{p.name: p for p in (root / "reports" / "gather-cache").glob("*/*.parquet")} for root in (a, b)]
    if set(gathered[0]) != set(gathered[1]):
        say(f"DIFFER: the gathered frames: {sorted(set(gathered[0]) ^ set(gathered[1]))}")
        bad += 1
    for name in sorted(set(gathered[0]) & set(gathered[1])):
        try:
            pd.testing.assert_frame_equal(pd.read_parquet(gathered[0][name]), pd.read_parquet(gathered[1][name]))
            say(f"equal frame: gathered {name}")
        except AssertionError:
            say(f"DIFFER frame: gathered {name}")
            bad += 1
    for rel in (p for p in _files(a, "curated/current") if p.suffix == ".parquet"):
        same = (b / rel).is_file() and (a / rel).read_bytes() == (b / rel).read_bytes()
        say(f"{'equal' if same else 'DIFFER'} byte for byte: {rel}")
        bad += not same
    say(f"mismatches: {bad}")
    return bad


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(1 if compare(Path(sys.argv[1]), Path(sys.argv[2])) else 0)
