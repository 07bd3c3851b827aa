from datetime import date, datetime

import pytest

from transforms.values import Unparseable, parse_date_value, parse_identifier

FORMATS = ("%d-%m-%Y", "%Y-%m-%d")


@pytest.mark.parametrize("cell, expected", [
    (date(2020, 10, 31), date(2020, 10, 31)),
    (datetime(2020, 10, 31, 0, 0), date(2020, 10, 31)),
    (44135, date(2020, 10, 31)),          # Excel serial number
    (44135.0, date(2020, 10, 31)),
    ("44135", date(2020, 10, 31)),        # serial typed as text
    ("31-10-2020", date(2020, 10, 31)),
    (" 2020-10-31 ", date(2020, 10, 31)),
    (None, None),
    ("  ", None),
])
def test_parse_date_value_accepts_every_notation(cell, expected):
    assert parse_date_value(cell, FORMATS) == expected


@pytest.mark.parametrize("cell", ["31-02-2020", "onbekend", "10/31/2020", 12.5, 7])
def test_parse_date_value_keeps_what_does_not_parse(cell):
    parsed = parse_date_value(cell, FORMATS)
    assert isinstance(parsed, Unparseable)
    assert str(parsed) == str(cell).removesuffix(".0") or str(parsed) == "12.5"


def test_identifier_number_cell_gets_leading_zeros_back():
    assert parse_identifier(123456789.0, width=10) == "0123456789"
    assert parse_identifier(" 0123456789 ", width=10) == "0123456789"
    assert parse_identifier(None) is None
