"""The rows read_source keeps below the header: blank rows left out wherever they stand, empty
cells as None, short rows padded, each row with its own sheet row number; cells of the kinds a
spreadsheet holds that the demo never writes (whitespace, NaN, a blank first cell in a filled
row, rows shorter or longer than the header)."""

from __future__ import annotations

import math
from datetime import date

import pytest

from schemas.checks import limits
from transforms.read import DeliveryRejected, _check_cells, _data_rows
from transforms.values import is_blank

BODY = [
    ["R1", "", 3.0, date(2020, 1, 1)],
    ["", "", "", ""],                       # blank: every cell empty
    ["  ", None, float("nan"), " \t"],       # blank: whitespace, None and NaN
    ["", "1000000001", "", ""],             # the first cell empty, a later one filled
    [float("nan"), 0],                       # short, and the 0 is a value
    ["R5"],                                  # short
    [],                                      # nothing at all
    ["R7", "x", "y", "z", "beyond the header"],
    [" ", "", "", "", "", "", "late"],       # filled past the header only
    ["", 0, "", False, "", "", 0.0, "x", ""],  # empty cells apart and together, values equal to nothing
    ["R9", "", "", "", ""],                  # empty to the end
    [None, "", " "],                         # blank, the first cell None
    [float("nan"), ""],                      # blank, the first cell NaN
    [17.0, "", "y"],                         # the first cell a number
]


def _old(body: list[list], width: int, first_row: int) -> tuple[list[list], list[int]]:
    """The rule as read_source applied it before (the whole grid's "" made None first): the oracle."""
    grid = [[None if v == "" else v for v in row] for row in body]
    rows, excel_rows = [], []
    for offset, cells in enumerate(grid):
        if all(is_blank(v) for v in cells):
            continue
        rows.append(list(cells) + [None] * (width - len(cells)))
        excel_rows.append(first_row + offset)
    return rows, excel_rows


def _same(a: list[list], b: list[list]) -> bool:
    """Equal rows, NaN equal to NaN."""
    return len(a) == len(b) and all(
        len(x) == len(y) and all(u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u)
                                            and math.isnan(v)) for u, v in zip(x, y)) for x, y in zip(a, b))


def test_data_rows_by_hand():
    rows, excel_rows = _data_rows([list(row) for row in BODY], 4, 6)
    assert excel_rows == [6, 9, 10, 11, 13, 14, 15, 16, 19]
    assert rows[0] == ["R1", None, 3.0, date(2020, 1, 1)]
    assert rows[1] == [None, "1000000001", None, None]
    assert math.isnan(rows[2][0]) and rows[2][1:] == [0, None, None]
    assert rows[3] == ["R5", None, None, None]
    assert rows[4] == ["R7", "x", "y", "z", "beyond the header"]
    assert rows[5] == [" ", None, None, None, None, None, "late"]
    assert rows[6] == [None, 0, None, False, None, None, 0.0, "x", None]
    assert rows[7] == ["R9", None, None, None, None]
    assert rows[8] == [17.0, None, "y", None]


@pytest.mark.parametrize("width", [1, 4, 9])
def test_data_rows_as_before(width):
    body = [list(row) for row in BODY]
    rows, excel_rows = _data_rows(body, width, 2)
    expected_rows, expected_excel = _old(BODY, width, 2)
    assert excel_rows == expected_excel and _same(rows, expected_rows)
    assert all(type(a) is type(b) for x, y in zip(rows, expected_rows) for a, b in zip(x, y))
    assert _same(body, BODY)  # the grid read is left as it was


def test_a_cell_over_the_length_limit_is_located():
    too_long = "x" * (limits().cell_chars + 1)
    grid = [["a", "", 1.0], ["b", "c", ""], ["", 2, too_long]]
    with pytest.raises(DeliveryRejected) as rejected:
        _check_cells(grid, "f.xlsx", "Blad1")
    assert rejected.value.findings[0].params["limit"] == "limits.cell_chars (Blad1 C3)"
    _check_cells([row[:2] for row in grid], "f.xlsx", "Blad1")  # without it: nothing to say
