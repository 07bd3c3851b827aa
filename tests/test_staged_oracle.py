"""StagedEpisodes (schemas/episodes.py) reports what pandera reports for the contract written the
plain way, on frames the staging never makes: the same failure cases (check, column, row, value),
and validate_many the same findings and the same StagedFrameError.

The oracle is built here, fresh, from pandera's own checks: `pa.Check.str_matches` and
`pa.Check.isin` (pandera drops missing values before them), the row rules applied to the frame with
pandas (`~rule.broken(df)`) and the record numbers' uniqueness with `DataFrame.duplicated`. The
contract under test computes the same things more cheaply per call (row rules on numpy arrays, the
codes looked up by their distinct values, missing values passing instead of being dropped)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pandera.errors
import pandera.pandas as pa
import pytest

from schemas import episodes
from schemas.episodes import FOLLOW_UP_CODES, OUTCOME_CODES, StagedEpisodes
from schemas.row_rules import PERSON_ID_PATTERN, ROW_RULES
from transforms.stage import _typed_frame

NO_DAY = -(2**63)


def _oracle() -> pa.DataFrameSchema:
    """The contract as pandera's plain checks say it (StagedEpisodes before it was made cheaper)."""
    def text(*checks: pa.Check) -> pa.Column:
        dtype = pa.Check(lambda c: c.dtype == episodes.TEXT_DTYPE, name=f"dtype('{episodes.TEXT_DTYPE}')",
                         ignore_na=False)
        return pa.Column(None, [dtype, *checks], nullable=True)

    def unique(df: pd.DataFrame) -> pd.Series:
        return df["record_id"].isna() | ~df.duplicated(["delivery", "record_id"], keep=False)

    def holds(rule):
        return lambda df: ~rule.broken(df)

    return pa.DataFrameSchema(
        name="StagedEpisodes",
        columns={
            "delivery": pa.Column("int64", pa.Check.ge(0)),
            "excel_row": pa.Column("int64", pa.Check.ge(1)),
            "record_id": text(),
            "person_id": text(pa.Check.str_matches(PERSON_ID_PATTERN)),
            "intake_date": pa.Column("datetime64[ns]", nullable=True),
            "exit_date": pa.Column("datetime64[ns]", nullable=True),
            "outcome_code": text(pa.Check.isin(OUTCOME_CODES)),
            "follow_up_code": text(pa.Check.isin(FOLLOW_UP_CODES)),
            "has_outcome_label": pa.Column(bool),
            "has_follow_up_label": pa.Column(bool),
            "has_exit_value": pa.Column(bool),
            "known_from": pa.Column("datetime64[ns]"),
        },
        checks=[pa.Check(unique, name="episode-duplicate", ignore_na=False),
                *(pa.Check(holds(rule), name=code, ignore_na=False) for code, rule in ROW_RULES.items())],
        strict=True,
        coerce=False,
    )


def _broken() -> pd.DataFrame:
    """Two deliveries whose rows break every rule and every column check at least once, beside
    rows that keep them, with missing values in every nullable column: a record number twice in
    one delivery (a duplicate) and once in each delivery (none), a person number too short, of
    letters and of Arabic-Indic digits, codes outside the taxonomy, an exit before the intake, an
    exit without outcome, an outcome without exit, a follow-up after an outcome that takes none,
    dates after the stand-per date, a sheet row 0; an exit on the intake day and the stand-per day
    (neither breaks a rule)."""
    first = {"excel_row": [2, 3, 4, 5, 6, 7, 8, 9, 0],
             "record_id": ["R1", "R1", None, "R4", None, "R6", "R7", None, "R9"],
             "person_id": ["1000000001", None, "12", None, None, "1000000006", None, "x", "١٢٣٤٥٦٧٨٩٠"],
             "intake_days": [18000, NO_DAY, 18010, 18300, NO_DAY, 18000, 20000, NO_DAY, NO_DAY],
             "exit_days": [17990, 18005, NO_DAY, NO_DAY, 18003, 18100, NO_DAY, 30000, NO_DAY],
             "outcome_code": [None, "permit_granted", None, "onward_migration", None, "permit_granted", None, "ZZ",
                              None],
             "follow_up_code": [None, None, "released", None, None, "released", None, "nope", None],
             "has_outcome_label": [False, True, True, True, False, True, False, True, False],
             "has_follow_up_label": [False, False, True, False, False, True, False, True, False],
             "has_exit_value": [True, True, False, False, True, True, False, True, False]}
    second = {"excel_row": [2, 3, 4], "record_id": ["R4", "R9", "R9"], "person_id": ["1000000002", "1000000003", None],
              "intake_days": [18000, 18321, NO_DAY], "exit_days": [NO_DAY, 18321, NO_DAY],  # 18321: 29-02-2020
              "outcome_code": [None, "deceased", "QQ"], "follow_up_code": [None, None, None],
              "has_outcome_label": [False, True, True], "has_follow_up_label": [False, False, False],
              "has_exit_value": [False, True, False]}
    return _typed_frame([(first, date(2020, 1, 31)), (second, date(2020, 2, 29))])


def _cases(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    with pytest.raises(pandera.errors.SchemaErrors) as failed:
        schema.validate(frame, lazy=True)
    cases = failed.value.failure_cases.astype(str)  # a value of another type would show here too
    return cases.sort_values(list(cases.columns)).reset_index(drop=True)


def _odd_dtypes() -> list[pd.DataFrame]:
    """The broken frame with one column of a dtype staging never makes: the checks that read it
    take pandas' own path, and pandera reports the dtype beside the rules' results."""
    frames = []
    for column, dtype in [("intake_date", "object"), ("exit_date", "datetime64[s]"), ("has_exit_value", "object"),
                          ("delivery", "float64"), ("outcome_code", "object"), ("person_id", "category"),
                          ("follow_up_code", "string")]:
        frame = _broken()
        frame[column] = frame[column].astype(dtype)
        frames.append(frame)
    return frames


def test_every_failure_case_of_a_frame_breaking_every_rule_is_the_plain_contract_s():
    frame = _broken()
    found, expected = _cases(StagedEpisodes, frame), _cases(_oracle(), frame)
    pd.testing.assert_frame_equal(found, expected)
    # the frame does break every check of the contract, each on the rows written for it
    assert set(found["check"]) >= {"episode-duplicate", *ROW_RULES, f"str_matches('{PERSON_ID_PATTERN}')",
                                   "greater_than_or_equal_to(1)"} and any(found["check"].str.startswith("isin("))
    # R1 twice in the first delivery, R9 twice in the second (and once in the first: no duplicate)
    assert sorted(found.loc[found["check"] == "episode-duplicate", "index"].unique()) == ["0", "1", "10", "11"]
    # row 8's Arabic-Indic digits fail both: the pattern takes ASCII digits only ([0-9], not \d, which
    # pandas' fallback to Python's re takes for a digit of any script)
    assert sorted(found.loc[found["check"].str.startswith("str_matches"), "index"]) == ["2", "7", "8"]
    assert sorted(found.loc[found["check"].str.startswith("isin("), "failure_case"]) == ["QQ", "ZZ", "nope"]


@pytest.mark.parametrize("index", range(7))
def test_a_column_of_another_dtype_fails_as_the_plain_contract_says(index):
    frame = _odd_dtypes()[index]
    pd.testing.assert_frame_equal(_cases(StagedEpisodes, frame), _cases(_oracle(), frame))


def test_a_valid_frame_passes_both():
    rows = {"excel_row": [2, 3, 4], "record_id": ["R1", None, "R3"], "person_id": ["1000000001", None, "1000000003"],
            "intake_days": [18000, NO_DAY, 18001], "exit_days": [NO_DAY, NO_DAY, 18002],
            "outcome_code": [None, None, "immigration_detention"], "follow_up_code": [None, None, "released"],
            "has_outcome_label": [False, False, True], "has_follow_up_label": [False, False, True],
            "has_exit_value": [False, False, True]}
    frame = _typed_frame([(rows, date(2020, 1, 31)), (rows, date(2020, 2, 29))])  # R1 in each: no duplicate
    StagedEpisodes.validate(frame, lazy=True)
    _oracle().validate(frame, lazy=True)


def test_validate_many_gives_the_plain_contract_s_findings(monkeypatch):
    """The findings validate_many makes of the failure cases, and the located error of the cases
    no finding stands for, are those of the plain contract."""
    from schemas.contracts import contract_for
    from transforms.read import RawSheet
    from transforms.stage import Locator, Staged, StagedBatch, StagedFrameError, validate_many

    contract = contract_for("rotterdam")
    fields = list(contract.columns)

    def batch(frame: pd.DataFrame):
        parts, locs = [], []
        for d, rows in frame.groupby("delivery", sort=True):
            raw = RawSheet(f"lvv_{d}.xlsx", "Blad1", 1, [contract.columns[f] for f in fields],
                           [[f"c{r}{f}" for f in fields] for r in rows["excel_row"]], rows["excel_row"].tolist(),
                           positions={f: i for i, f in enumerate(fields)})
            parts.append(Staged(rows.drop(columns="delivery").set_index("excel_row"), raw=raw))
            locs.append(Locator(raw))
        return StagedBatch(frame, parts), locs

    def outcome(frame: pd.DataFrame):
        try:
            return [[f.as_row() for f in found] for found in validate_many(*batch(frame))]
        except StagedFrameError as error:
            return str(error)

    # the codes outside the taxonomy and sheet row 0 have no finding: left out, the rest are findings
    frame = _broken()
    frame = frame[~frame["outcome_code"].isin(["ZZ", "QQ"]) & (frame["excel_row"] > 0)].reset_index(drop=True)
    frames = [frame, _broken()]
    found = [outcome(f) for f in frames]
    monkeypatch.setattr(episodes, "StagedEpisodes", _oracle())
    assert found == [outcome(f) for f in frames]
    assert isinstance(found[0], list) and sum(map(len, found[0])) >= 8
    assert isinstance(found[1], str) and "outcome_code" in found[1]


@pytest.mark.parametrize("values", [["R1"], ["R1", None], ["R1", float("nan")], [], ["R9", "R4", "x"]])
def test_codes_are_looked_up_as_isin_does(values):
    """The look-up of a text column's codes by their distinct values is isin's, a missing value
    included (in `values` only when one of them is missing), for text and for other dtypes."""
    column = _broken()["record_id"]
    for kind in (column, column.astype(object), column.astype("category")):
        pd.testing.assert_series_equal(episodes._one_of(kind, values), kind.isin(values))
