"""parse_columns (the column-wise staging of a delivery) gives exactly what the row-by-row parse
gives: the same typed fields and the same findings in the same order, on cells the demo generator
never writes (V-numbers in odd notations, dates in mixed notations and types, labels in other
case and spacing, blank and whitespace cells, one column holding cells of several types).

parse_rows, the row-by-row parse `lvv validate` keeps, is the oracle; a few values are also
checked against figures written by hand."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from schemas.contracts import NotData, RecordIds, SourceContract, contract_for
from transforms.read import RawSheet
from transforms.stage import ParseMemo, _as_columns, _typed_frame, parse_columns, parse_rows, stage_many

FIELDS = ("record_id", "person_id", "intake_date", "exit_date", "outcome", "follow_up")

#: V-number cells as people and spreadsheets write them
PERSON_CELLS = ["V 6652.327.800", "6652 327 800", "v-0970859557", "V.0970859557", "0970 859 557",
                "6652\u00a0327\u00a0800", 970859557, 970859557.0, "665232780.0", 12345678, "12345", "  1000000001 ",
                True, 0, -5, 1e12, "", "   ", None, float("nan"), "V", "665232780x", "٠١٢٣٤٥٦٧٨٩", 6652327800.5]
#: date cells: date and datetime cells, Excel serials as numbers and as text, text in several notations
DATE_CELLS = [date(2020, 10, 31), datetime(2020, 10, 31, 0, 0), datetime(2020, 10, 31, 13, 5), 44135, 44135.0,
              "44135", "44135.0", 44135.5, "31-10-2020", " 31-10-2020 ", "2020-10-31", "31/10/2020", "31.10.2020",
              "31-02-2020", "1-1-2020", "31-10-20", 12, True, "", "  ", None, float("nan"), date(2019, 1, 1),
              "01-01-2019", 100000, "tomorrow"]
#: outcome cells: known labels in other case and spacing, unknown labels, numbers, blanks
OUTCOME_CELLS = ["Terug naar BBB", "  terug naar bbb ", "TERUG  NAAR BBB.", "Vreemdelingenbewaring",
                 "vreemdelingenbewaring", "Gedwongen vertrok", "", " ", None, 1, True, "MOB", "Mob."]
FOLLOW_UP_CELLS = ["Uitgezet", " uitgezet ", "VRIJGELATEN", "Weggelopen", "", None, 0]
RECORD_CELLS = ["R0001", " R0001 ", "r0001", "DOS-R0001", 12, 12.0, "12", True, "", None, "  "]
#: cells next to the usual ones that the column parsers (stage._COLUMN_PARSERS) take without the
#: cell parsers: ten digits that are not ten ASCII digits, serials at and past the ends of the
#: range, date texts in the first notation that are no date or not at full width, blanks and
#: whitespace Python strips, very long text
PERSON_CELLS += ["0123456789", "１２３４５６７８９０", "¹²³⁴⁵⁶⁷⁸⁹⁰", "٠١٢٣٤٥٦٧٨٩", "012345678 ", "\x1c012345678",
                 "012345678\u2009", "V012345678", "01234567891", "1" * 5000, "0123456789\n", 123456789.0]
DATE_CELLS += [18264.0, 73415.0, 18263.0, 73416.0, 18264, 44135.25, -0.0, float("inf"), float("-inf"), "31-10-2020\n",
               "\x1c31-10-2020", "٣١-١٠-٢٠٢٠", "3١-10-2020", "00-10-2020", "31-00-2020", "29-02-2021", "29-02-2024",
               "1-10-2020", "31-10-0000", "31-10-0001", "9" * 5000, datetime(2020, 10, 31), date(1950, 1, 1)]
RECORD_CELLS += [" ٣٤٥ ", "٣٤٥", "\x1cR12\x1f", "\u2003R12", "Ré", "R" * 5000, "dos-12", "DOS-", "DOS- 12", -0.0,
                 float("nan"), 1e20]


def _raw(contract: SourceContract, rows: list[dict], file: str = "test.xlsx", lead: list | None = None) -> RawSheet:
    """A sheet in the contract's layout holding the given cells (a RawSheet as read_source gives);
    lead: a first column outside the contract (a row number, say) with these cells."""
    fields = list(contract.columns)
    cells = [[row.get(f) for f in fields] for row in rows]
    headers = [contract.columns[f] for f in fields]
    positions = {f: i for i, f in enumerate(fields)}
    if lead is not None:
        cells = [[first, *row] for first, row in zip(lead, cells)]
        headers, positions = ["Nr.", *headers], {f: i + 1 for f, i in positions.items()}
    return RawSheet(file, "Blad1", 1, headers, cells, list(range(2, 2 + len(rows))), positions=positions)


def _rows(n: int) -> list[dict]:
    """n rows whose cells go through every odd cell above, each list at its own pace, so that
    the columns pair up differently row by row."""
    lists = {"record_id": RECORD_CELLS, "person_id": PERSON_CELLS, "intake_date": DATE_CELLS,
             "exit_date": DATE_CELLS[::-1], "outcome": OUTCOME_CELLS, "follow_up": FOLLOW_UP_CELLS}
    return [{f: values[(i * (k + 1)) % len(values)] for k, (f, values) in enumerate(lists.items())}
            for i in range(n)]


def _findings(findings: list) -> list[tuple]:
    return [(f.code, f.excel_row, f.field, f.column_letter, f.value, sorted(f.params.items())) for f in findings]


def _assert_same(raw: RawSheet, contract: SourceContract) -> None:
    expected = _as_columns(parse_rows(raw, contract, hide=lambda v: "X" + v))
    got = parse_columns(raw, contract, hide=lambda v: "X" + v)
    assert got.skipped_rows == expected.skipped_rows
    assert _findings(got.findings) == _findings(expected.findings)
    assert set(got.columns) == set(expected.columns)
    for name, values in expected.columns.items():
        assert list(got.columns[name]) == values, name


@pytest.mark.parametrize("municipality", ["amsterdam", "rotterdam", "eindhoven", "utrecht"])
def test_odd_cells_parse_as_row_by_row(municipality):
    contract = contract_for(municipality)
    _assert_same(_raw(contract, _rows(400)), contract)


def test_record_numbers_normalised_by_the_contract_parse_as_row_by_row():
    contract = contract_for("amsterdam").model_copy(update={
        "record_ids": RecordIds(trim=True, case="upper", strip_prefix="DOS-")})
    _assert_same(_raw(contract, _rows(60)), contract)


@pytest.mark.parametrize("formats", [("%d-%m-%Y",), ("%Y%m%d", "%d-%m-%Y"), ("%d%m%Y",), ("%d.%m.%Y", "%Y-%m-%d"),
                                     ("%Y-%m-%d", "%d-%m-%Y"), ("%d %m %Y",), ("%d-%b-%Y",), ()])
def test_date_cells_parse_as_row_by_row_in_any_first_notation(formats):
    """The column parser reads a text in the contract's first notation itself; in a notation of
    digits alone ('00020101') parse_date_value takes an Excel serial first, and so must it."""
    from schemas.contracts import DateNotation

    contract = contract_for("amsterdam").model_copy(update={"dates": DateNotation(stored_as="text", formats=formats)})
    texts = ["00020101", "20201031", "31102020", "00018264", "31.10.2020", "2020-10-31", "31-10-2020", "31 10 2020",
             "31-Oct-2020", "2020-1-5", "3-1-2020", "3.1.2020"]
    cells = texts + DATE_CELLS
    rows = [{"record_id": f"R{i}", "person_id": "1000000001", "intake_date": text, "exit_date": cells[-1 - i]}
            for i, text in enumerate(cells)]
    _assert_same(_raw(contract, rows), contract)


def test_totals_and_notes_lines_are_skipped_where_they_stand():
    contract = contract_for("utrecht")
    rows = _rows(12)
    rows[3] = {"record_id": "Totaal", "person_id": 12}
    rows[7] = {"record_id": None, "person_id": "  ", "intake_date": " Opmerking: zie mail"}
    rows[9] = {"record_id": "  AANTAL rijen", "outcome": "MOB"}
    raw = _raw(contract, rows)
    _assert_same(raw, contract)
    assert parse_columns(raw, contract).skipped_rows == [5, 9, 11]


def test_a_totals_line_is_told_by_the_text_of_its_first_filled_cell_whatever_its_type():
    """A pattern that matches a number's or a date's text: the first filled cell is what counts,
    a number, a date or text, and not a later cell."""
    contract = contract_for("amsterdam").model_copy(update={
        "not_data": NotData(first_cell_matches=["^12", "^2020-01", "^true$", "^totaal", "^nan$", "^none$"])})
    firsts = [12, 12.0, 120, 3, date(2020, 1, 5), datetime(2020, 1, 5, 8), True, False, "  12 ", None, "",
              float("nan"), "R1"]
    rows = [{"record_id": first, "person_id": "totaal" if i % 2 else "1000000001"} for i, first in enumerate(firsts)]
    raw = _raw(contract, rows)
    _assert_same(raw, contract)
    assert parse_columns(raw, contract).skipped_rows == [2, 3, 4, 6, 7, 8, 10, 11, 13]
    # the same cells in a column outside the contract, before good rows: only the test says which to skip
    good = [{"record_id": f"R{i}", "person_id": "totaal" if i % 2 else "1000000001", "intake_date": date(2020, 1, 1)}
            for i in range(len(firsts))]
    raw = _raw(contract, good, lead=firsts)
    _assert_same(raw, contract)
    assert parse_columns(raw, contract).skipped_rows == [2, 3, 4, 6, 7, 8, 10]


def test_one_column_of_several_types_keeps_each_cell_apart():
    """1, 1.0 and True are equal in Python: each keeps its own parse, in one column and across
    the sheets of one memo."""
    contract = contract_for("amsterdam")
    rows = [{"record_id": v, "person_id": v, "intake_date": v, "exit_date": v, "outcome": v, "follow_up": v}
            for v in (1, 1.0, True, "1", 44135, 44135.0, "44135", None, "")]
    memo = ParseMemo(contract)
    first = parse_columns(_raw(contract, rows), contract, memo=memo)
    again = parse_columns(_raw(contract, rows[::-1]), contract, memo=memo)
    assert first.columns["record_id"] == ["1", "1", "True", "1", "44135", "44135", "44135", None, None]
    assert again.columns["record_id"] == first.columns["record_id"][::-1]
    _assert_same(_raw(contract, rows), contract)
    _assert_same(_raw(contract, rows[::-1]), contract)


def test_figures_written_by_hand():
    contract = contract_for("rotterdam")
    rows = [{"record_id": " K-1 ", "person_id": "V 6652.327.800", "intake_date": "31/10/2020",
             "exit_date": "2020-11-02", "outcome": "  vreemdelingenbewaring, VRIJ "},
            {"record_id": 7.0, "person_id": 970859557, "intake_date": 44135, "exit_date": None, "outcome": None},
            {"record_id": "K-3", "person_id": "665232780.0", "intake_date": "31-10-2020", "exit_date": "31-02-2020",
             "outcome": "Gedwongen vertrok"}]
    got = parse_columns(_raw(contract, rows), contract).columns
    assert got["record_id"] == ["K-1", "7", "K-3"]
    assert got["person_id"] == ["6652327800", "0970859557", "0665232780"]
    assert got["person_id_normalised"] == [True, True, True]
    day = date(2020, 10, 31).toordinal() - date(1970, 1, 1).toordinal()
    assert got["intake_days"] == [day, day, day]
    assert got["exit_days"][0] == day + 2 and got["exit_days"][1:] == [-(2**63)] * 2
    assert got["has_exit_value"] == [True, False, True]
    assert got["outcome_code"] == ["immigration_detention", None, None]
    assert got["follow_up_code"] == ["released", None, None]
    assert got["has_outcome_label"] == [True, False, True]


def test_a_batch_stages_the_same_frame_as_the_records_of_each_sheet():
    contract = contract_for("rotterdam")
    sheets = [(_raw(contract, _rows(50)), date(2020, 10, 31)), (_raw(contract, _rows(80)[::-1]), date(2020, 11, 30))]
    batch = stage_many(sheets, contract)
    expected = _typed_frame([(_as_columns(parse_rows(raw, contract)).columns, day) for raw, day in sheets])
    pd.testing.assert_frame_equal(batch.frame, expected)
    assert batch.frame["intake_date"].dtype == "datetime64[ns]" and batch.frame["record_id"].dtype == "str"


TEXT_COLUMNS = ("record_id", "person_id", "outcome_code", "follow_up_code")


def _staged_frame() -> pd.DataFrame:
    columns = {"excel_row": [2, 3], "record_id": ["R1", None], "person_id": ["1000000001", None],
               "intake_days": [18000, 18001], "exit_days": [-(2**63), -(2**63)], "outcome_code": [None, None],
               "follow_up_code": [None, None], "has_outcome_label": [False, False],
               "has_follow_up_label": [False, False], "has_exit_value": [False, False]}
    return _typed_frame([(columns, date(2020, 1, 31))])


@pytest.mark.parametrize("column", TEXT_COLUMNS)
@pytest.mark.parametrize("dtype", ["object", "string", "string[python]", "category"])
def test_a_text_column_of_another_dtype_breaks_the_staged_contract(column, dtype):
    """The text columns' dtype is checked as one boolean (schemas/episodes.py, _text): a column
    that holds the same text in another dtype (the staging never makes one) fails the contract, on
    that column, as pandera's own check of `str` does; the staged frame passes."""
    import pandera.errors

    from schemas.episodes import StagedEpisodes, TEXT_DTYPE

    frame = _staged_frame()
    StagedEpisodes.validate(frame, lazy=True)  # as staged: nothing to say
    frame[column] = frame[column].astype(dtype)
    with pytest.raises(pandera.errors.SchemaErrors) as failed:
        StagedEpisodes.validate(frame, lazy=True)
    cases = failed.value.failure_cases
    assert set(cases["check"]) == {f"dtype('{TEXT_DTYPE}')"} and set(cases["column"]) == {column}


def _batch(frame: pd.DataFrame, file: str = "lvv_test.xlsx"):
    """A StagedBatch of one delivery holding `frame` (as stage_many builds one), and its locator."""
    from transforms.stage import Locator, Staged, StagedBatch

    contract = contract_for("rotterdam")
    raw = _raw(contract, [{"record_id": "R1", "person_id": "1000000001"}, {"record_id": None}], file=file)
    part = Staged(frame.drop(columns="delivery").set_index("excel_row"), raw=raw)
    return StagedBatch(frame, [part]), [Locator(raw)]


@pytest.mark.parametrize("column, dtype", [("intake_date", "object"), ("known_from", "str"),
                                           ("delivery", "float64"), ("has_exit_value", "object"),
                                           ("excel_row", "int32")])
def test_a_column_of_a_dtype_staging_never_makes_stops_the_batch_with_a_located_error(column, dtype):
    """A pandera dtype failure gives no finding code: validate_many no longer passes the batch as
    valid but stops it with an error that names the column, its dtype and the check, and never a
    cell's value (frames no generator or staging writes: dates as text, a float delivery number)."""
    from transforms.stage import StagedFrameError, validate_many

    frame = _staged_frame()
    assert validate_many(*_batch(frame)) == [[]]  # as staged: valid, nothing to say
    frame[column] = frame[column].astype(dtype)
    with pytest.raises(StagedFrameError) as failed:
        validate_many(*_batch(frame))
    message = str(failed.value)
    assert f"column '{column}'" in message and "dtype" in message and "lvv_test.xlsx" in message
    assert f"the column is {frame[column].dtype}" in message
    assert "1000000001" not in message  # the person number of the frame's first row


def test_a_text_column_of_another_dtype_is_an_error_without_the_identifiers_it_holds():
    from transforms.stage import StagedFrameError, validate_many

    frame = _staged_frame()
    frame["person_id"] = frame["person_id"].astype(object)
    with pytest.raises(StagedFrameError, match="column 'person_id'.*the column is object") as failed:
        validate_many(*_batch(frame))
    assert "1000000001" not in str(failed.value)


def test_a_value_the_parse_never_gives_is_located_by_file_and_sheet_row():
    """A code outside the taxonomy (the contract maps every label into it) breaks pandera's isin
    check, which no finding stands for: an error located at the file and the sheet row."""
    from transforms.stage import StagedFrameError, validate_many

    frame = _staged_frame()
    frame["outcome_code"] = pd.array(["ZZ", None], dtype="str")
    with pytest.raises(StagedFrameError, match=r"column 'outcome_code': check isin.* on 1 row\(s\), "
                                               r"first lvv_test.xlsx row 2"):
        validate_many(*_batch(frame))


def test_a_column_outside_the_contract_stops_the_batch():
    from transforms.stage import StagedFrameError, validate_many

    frame = _staged_frame().assign(birth_date=pd.Timestamp("1990-01-01"))
    with pytest.raises(StagedFrameError, match="column_in_schema"):
        validate_many(*_batch(frame))


def test_geopandas_is_not_searched_for_by_pandera_and_not_marked_absent_after():
    """pandera tries `import geopandas` on each lookup of a dtype outside its table (seven per
    validation); not installed, it is marked absent while a validation runs (schemas/episodes.py,
    validating), so a validation searches sys.path for it once (whether it is installed now), not
    at each try; and after it nothing is marked: an import is Python's own again."""
    import importlib.metadata
    import sys

    import schemas.episodes  # noqa: F401  (building the schema looks up its dtypes once)
    from transforms.stage import validate_many

    searched = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "geopandas":
                searched.append(name)
            return None

    sys.meta_path.insert(0, Recorder())
    try:
        for _ in range(3):
            assert validate_many(*_batch(_staged_frame())) == [[]]
    finally:
        sys.meta_path.pop(0)
    try:
        importlib.metadata.distribution("geopandas")
    except importlib.metadata.PackageNotFoundError:  # not installed (the project does not need it)
        assert searched == ["geopandas"] * 3  # one search per validation; unmarked, 21 or more
        assert "geopandas" not in sys.modules  # not marked beyond the validation
    else:
        assert sys.modules.get("geopandas") is not None


def test_the_first_validation_imports_no_hypothesis_and_a_later_import_works():
    """In a new process, the first validation (pandera registering its pandas backends) does not
    import hypothesis, installed with the dev tools, for pandera's data synthesis; pandera's
    failure report is whole; afterwards `import hypothesis` works (nothing left marked)."""
    import json
    import subprocess
    import sys

    from schemas.row_rules import PERSON_ID_PATTERN

    code = """
import importlib.util, json, sys
from datetime import date
import pandera.errors
from schemas.episodes import StagedEpisodes, validating
from transforms.stage import _typed_frame
columns = {"excel_row": [2, 3], "record_id": ["R1", "R1"], "person_id": ["1000000001", "12"],
           "intake_days": [18000, 18001], "exit_days": [-(2**63), -(2**63)], "outcome_code": [None, None],
           "follow_up_code": [None, None], "has_outcome_label": [False, False],
           "has_follow_up_label": [False, False], "has_exit_value": [False, False]}
frame = _typed_frame([(columns, date(2020, 1, 31))])
try:
    with validating():
        StagedEpisodes.validate(frame, lazy=True)
    failed = []
except pandera.errors.SchemaErrors as errors:
    failed = sorted({(str(c.check), int(c.index)) for c in errors.failure_cases.itertuples()})
out = {"failed": failed, "imported": "hypothesis" in sys.modules,
       "installed": importlib.util.find_spec("hypothesis") is not None}
import hypothesis
out["later"] = hypothesis.__name__
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["installed"] and not out["imported"] and out["later"] == "hypothesis"
    assert out["failed"] == [["episode-duplicate", 0], ["episode-duplicate", 1], [f"str_matches('{PERSON_ID_PATTERN}')", 1]]


def test_the_staged_contract_fails_the_same_rows_as_with_pandera_s_default_for_missing_values():
    """StagedEpisodes tells pandera not to set aside missing values for its frame checks and text
    dtype checks (ignore_na=False: a test of every cell per check, for rows that cannot exist):
    on a frame with every kind of missing value and every row rule broken, the same checks fail
    on the same rows (what validate_many makes findings of) as with pandera's default
    (ignore_na=True on every check). pandera's report then also lists the missing cells of a
    failing row, beside the others."""
    import copy

    import pandera.errors

    from schemas.episodes import StagedEpisodes
    from schemas.row_rules import ROW_RULES

    no_day, n = -(2**63), 9
    columns = {"excel_row": list(range(2, 2 + n)),
               "record_id": ["R1", "R1", None, "R4", None, "R6", "R7", None, "R9"],
               "person_id": ["1000000001", None, "12", None, None, "1000000006", None, "x", None],
               "intake_days": [18000, no_day, 18010, 18300, no_day, 18000, 20000, no_day, no_day],
               "exit_days": [17990, 18005, no_day, no_day, 18003, 18100, no_day, 30000, no_day],
               "outcome_code": [None, "permit_granted", None, "onward_migration", None, "permit_granted",
                                None, "ZZ", None],
               "follow_up_code": [None, None, "released", None, None, "released", None, "nope", None],
               "has_outcome_label": [False, True, True, True, False, True, False, True, False],
               "has_follow_up_label": [False, False, True, False, False, True, False, True, False],
               "has_exit_value": [True, True, False, False, True, True, False, True, False]}
    frame = _typed_frame([(columns, date(2020, 1, 31))])

    def failures(schema):
        with pytest.raises(pandera.errors.SchemaErrors) as failed:
            schema.validate(frame, lazy=True)
        cases = failed.value.failure_cases
        return sorted(set(zip(cases["check"].astype(str), cases["index"].astype(str))))

    default = copy.deepcopy(StagedEpisodes)
    for check in [*default.checks, *(c for column in default.columns.values() for c in column.checks)]:
        check.ignore_na = True  # pandera's default
    found = failures(StagedEpisodes)
    assert found == failures(default)
    assert {check for check, _ in found} >= {"episode-duplicate", *ROW_RULES} and len(found) >= 12


@pytest.mark.parametrize("values", [["R1", None, "R2"], [], [None, None], ["", " ", "é", "٣", "x" * 5000, "\x00"],
                                    [float("nan"), "a"], ["a", pd.NA], [1.0, "a", None], [True, 12]])
def test_a_text_column_is_built_as_pandas_builds_it(values):
    """_typed_frame's text columns go by way of an Arrow array (stage._text_array): the same array
    as `pd.array(values, dtype="str")`, what staging built them with before, on every list; a value
    Arrow does not take as text (a number, never parsed into a text field) takes pandas' way."""
    from transforms.stage import _text_array

    got, expected = _text_array(values), pd.array(values, dtype="str")
    assert got.dtype == expected.dtype
    pd.testing.assert_series_equal(pd.Series(got), pd.Series(expected))
