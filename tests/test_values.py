from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _strptime_only(value, formats):
    """parse_date_value as it was, every text through strptime: the oracle of the fixed-width path."""
    from transforms.values import _DIGITS, SERIAL_RANGE, serial_to_date

    text = str(value).strip()
    if _DIGITS.match(text) and SERIAL_RANGE[0] <= float(text) <= SERIAL_RANGE[1]:
        return serial_to_date(float(text))
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return Unparseable(text)


#: notations no contract uses besides the ones they do: no separator, month first, letters, spaces,
#: two-digit years, a literal '%'
NOTATIONS = [("%d-%m-%Y",), ("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"), ("%Y%m%d",), ("%d%m%Y",), ("%m/%d/%Y",),
             ("%d.%m.%Y", "%m.%d.%Y"), ("%d %m %Y",), ("%d-%b-%Y",), ("%d-%m-%y",), ("%Y-%m-%d%%",),
             ("%d-%m-%YT",)]
TEXTS = ["31-10-2020", "1-1-2020", "01-1-2020", "31-02-2020", "29-02-2019", "29-02-2020", "00-01-2020",
         "01-00-2020", "01-13-2020", "32-01-2020", "01-01-0000", "01-01-0001", "31-12-9999", "2020-10-31",
         "2020-1-05", "31/10/2020", "10/31/2020", "20201031", "31102020", "20201301", "2020111", "31.10.2020",
         "10.31.2020", "31 10 2020", "31  10 2020", "31-Oct-2020", "31-okt-2020", "31-10-20", "2020-10-31%",
         "31-10-2020T", "٣١-١٠-٢٠٢٠", "３１-１０-２０２０", "31-10-2020 ", "31-10-20200", "131-10-2020", "-31-10-2020"]


#: texts strptime takes though the fixed-width pattern does not, and look-alikes it refuses: the
#: loose pre-check (values._loose) must let the first kind through to strptime
LOOSE_TEXTS = ["1-10-2020", "10- 1-2020", " 1-10-2020", "31-10- 2020", "3 1-10-2020", "1/1/2020", "2020-1-1",
               "2020-01- 1", "٣١-١-٢٠٢٠", "٣-١٠-٢٠٢٠", "１-１-２０２０", "31-10-2020\n", "31—10—2020", "31-10-202",
               "31-10-20201", "2020-10-311", "1.1.2020", "31ⓐ10ⓐ2020", "31Ⓐ10Ⓐ2020", "3110-2020", "-1-2020",
               "1--2020", "٣١٢٠٢٠٢٠", "1-1-١٢٣٤", "0-1-2020", " 0-1-2020", "¹-¹-²⁰²⁰"]
#: with a separator that has a case (a symbol, not a letter: _fixed_width takes it)
CASED = [("%dⓐ%mⓐ%Y",), ("%dⒶ%mⒶ%Y", "%d-%m-%Y")]


@pytest.mark.parametrize("formats", NOTATIONS + CASED)
def test_the_fixed_width_path_gives_what_strptime_gives(formats):
    for text in TEXTS + LOOSE_TEXTS:
        got, expected = parse_date_value(text, formats), _strptime_only(text, formats)
        assert (type(got), got) == (type(expected), expected), (text, formats)


@given(st.text(alphabet="0123456789-/.% T", max_size=12), st.sampled_from(NOTATIONS))
@settings(max_examples=400, deadline=None)
def test_the_fixed_width_path_gives_what_strptime_gives_on_any_text(text, formats):
    if not text.strip():
        return
    got, expected = parse_date_value(text, formats), _strptime_only(text, formats)
    assert (type(got), got) == (type(expected), expected)


@given(st.text(alphabet="0123456789٣١２ -/.ⓐⒶ", max_size=12), st.sampled_from(NOTATIONS + CASED))
@settings(max_examples=400, deadline=None)
def test_texts_the_fixed_width_pattern_refuses_are_refused_only_where_strptime_refuses_them(text, formats):
    """values._loose lets parse_date_value skip strptime where it would raise: never where it would
    take the text (digits of other scripts, a space before a one-digit day, one-digit months)."""
    if not text.strip():
        return
    got, expected = parse_date_value(text, formats), _strptime_only(text, formats)
    assert (type(got), got) == (type(expected), expected)
