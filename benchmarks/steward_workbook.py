"""A large Utrecht export for measuring `lvv validate FILE --report OUT` (the steward's report).

    python -m benchmarks.steward_workbook ROWS OUT.xlsx [--bad-every N]

Written by openpyxl (write-only, so a 200,000-row file takes seconds of memory, not the file's size)
as Excel would store it: a 'Stand per' title row, the header on row 2, dates as date cells with a
date format, column widths, and every N-th stay (default 100) with an intake date typed as text
('onbekend'), so the report has N-th of the rows to colour and comment. Then measure, e.g.:

    /usr/bin/time -v .venv/bin/lvv validate OUT.xlsx --municipality utrecht --period 2020-10 --report R.xlsx
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from benchmarks.hostile import UTRECHT_HEADER


def write_workbook(rows: int, out: Path, bad_every: int = 100) -> Path:
    """The workbook at `out`: a title row, the header, `rows` stays (see the module's doc)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Export")
    for letter in "BCDEFGH":
        sheet.column_dimensions[letter].width = 16
    sheet.append(["Stand per", date(2020, 10, 31)])
    sheet.append(UTRECHT_HEADER)
    for i in range(rows):
        intake: object = "onbekend" if bad_every and i % bad_every == bad_every - 1 else date(2019, 9, 1)
        cells = [f"U{i:07d}", f"{1000000000 + i}", "Testnaam", "Test", date(1990, 1, 1), intake,
                 date(2020, 3, 1) if i % 3 == 0 else None, "Eigen netwerk" if i % 3 == 0 else None, None]
        sheet.append([WriteOnlyCell(sheet, v) if isinstance(v, date) else v for v in cells])
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steward_workbook",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--bad-every", type=int, default=100)
    args = parser.parse_args(argv)
    print(write_workbook(args.rows, args.out, args.bad_every))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
