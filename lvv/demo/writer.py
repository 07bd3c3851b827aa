"""One delivery file, laid out as the demo's register table says: title, header, data, footer.

Generic: the register (registers.py) gives the file type, sheet, header row, encoding, delimiter,
stand-per label and date notation; the municipality's habits (scenario.Habits) give the extras
(blank rows, a totals row). Output is bytes, byte-identical for identical input (fixed workbook
timestamps; xlsxwriter writes zip entries with a fixed 1980 timestamp).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import xlsxwriter

from lvv.demo.registers import Register
from lvv.demo.render import excel_serial
from lvv.demo.scenario import TITLE, Habits

#: Excel number format of real date cells
DATE_FORMAT = "dd-mm-yyyy"
#: hour of the day the export is made, for the workbook's created/modified timestamp
EXPORT_TIME = time(17, 30)


@dataclass
class Sheet:
    """The rows of one sheet (or CSV), each a list of cells; [] is an empty row."""

    rows: list[list[Any]] = field(default_factory=list)
    header_row: int = 1
    #: data row key -> 1-based row number as Excel shows it (line number for a CSV)
    row_of: dict[Hashable, int] = field(default_factory=dict)

    def append(self, cells: list[Any]) -> int:
        self.rows.append(cells)
        return len(self.rows)


def lay_out(
    register: Register,
    habits: Habits,
    stand_per: date,
    headers: list[str],
    data: list[tuple[Hashable, list[Any], bool]],
) -> Sheet:
    """Title block, header on file.header_row, data rows (key, cells, blank after), footer."""
    sheet = Sheet(header_row=register.header_row)
    above: list[list[Any]] = [[] for _ in range(register.header_row - 1)]
    title = [TITLE.format(display_name=register.display_name)]
    if above:
        if register.stand_per_label is not None:
            stand = [register.stand_per_label, stand_per]
            if len(above) >= 2:
                above[0], above[1] = title, stand
            else:
                above[0] = stand
        else:
            above[0] = title
    for cells in above:
        sheet.append(cells)
    sheet.append(list(headers))
    for i, (key, cells, blank_after) in enumerate(data):
        sheet.row_of[key] = sheet.append(cells)
        if habits.blank_rows and blank_after and i < len(data) - 1:
            sheet.append([])
    if habits.totals_row:
        sheet.append([habits.totals_row, len(data)])
    if habits.footer:
        sheet.append([])
        sheet.append([habits.footer.format(n=len(data))])
    return sheet


def to_bytes(register: Register, sheet: Sheet, stand_per: date) -> bytes:
    if register.file_type == "xlsx":
        return _xlsx(register, sheet, stand_per)
    return _csv(register, sheet)


def _xlsx(register: Register, sheet: Sheet, stand_per: date) -> bytes:
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    stamp = datetime.combine(stand_per, EXPORT_TIME)
    wb.set_properties(
        {
            "title": TITLE.format(display_name=register.display_name),
            "author": f"LVV {register.display_name}",
            "created": stamp,
        }
    )
    ws = wb.add_worksheet(register.sheet)
    date_format = wb.add_format({"num_format": DATE_FORMAT})
    bold = wb.add_format({"bold": True})
    ws.set_column(0, max(len(r) for r in sheet.rows) - 1, 18)
    header_index = sheet.header_row - 1
    for r, cells in enumerate(sheet.rows):
        style = bold if r == header_index or (r == 0 and header_index > 0) else None
        for c, value in enumerate(cells):
            if value is None:
                continue
            if isinstance(value, str):
                if value:
                    ws.write_string(r, c, value, style)
            elif isinstance(value, date):
                ws.write_number(r, c, excel_serial(value), date_format)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                ws.write_number(r, c, value, style)
            else:
                raise TypeError(f"cannot write {value!r} to a workbook")
    wb.close()
    return out.getvalue()


def _csv(register: Register, sheet: Sheet) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=register.delimiter, lineterminator="\r\n")
    first_format = register.date_formats[0]
    for cells in sheet.rows:
        writer.writerow(
            [
                "" if v is None else v.strftime(first_format) if isinstance(v, date) else v
                for v in cells
            ]
        )
    return text.getvalue().encode(register.encoding)
