"""pandera contracts of the episode tables, from one delivery's staged rows to curated versions."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa

from schemas.row_rules import PERSON_ID_PATTERN, ROW_RULES, RowRule
from schemas.taxonomy import taxonomy

OUTCOME_CODES = taxonomy().codes("outcomes")
FOLLOW_UP_CODES = taxonomy().codes("follow_ups")


def _record_id_unique_per_delivery(df: pd.DataFrame) -> pd.Series:
    return df["record_id"].isna() | ~df.duplicated(["delivery", "record_id"], keep=False)


def _holds(rule: RowRule) -> Callable[[pd.DataFrame], pd.Series]:
    """A rule of schemas/row_rules.py as a vectorised pandera check: true where the row keeps it."""
    return lambda df: ~rule.broken(df)


#: pandas' text dtype (pyarrow storage, NaN for a missing value): what `pd.array(..., dtype="str")` makes
TEXT_DTYPE = pd.StringDtype(na_value=float("nan"))


def _is_text(column: pd.Series) -> bool:
    return column.dtype == TEXT_DTYPE


def _text(*checks: pa.Check) -> pa.Column:
    """A nullable text column: its dtype checked as one test of the column's dtype.

    Declared `pa.Column(str)`, pandera's dtype check of a text column answers row by row (an array
    of True) and pandera then builds and prints an (empty) table of failure cases for each such
    column on every call, a third of the cost of validating a delivery of a few hundred rows; the
    same test as one boolean is free. (tests/test_stage_columns.py: a column of another dtype fails.)
    """
    return pa.Column(None, [pa.Check(_is_text, name=f"dtype('{TEXT_DTYPE}')"), *checks], nullable=True)


#: One row per data row of one or more deliveries of one municipality, parsed and typed.
#:
#: `delivery` tells the deliveries of a batch apart (validating a municipality's deliveries in one
#: call instead of one call each is what keeps a full rebuild fast); `excel_row` is the row number
#: in that delivery's sheet. Identifiers are still raw here: this table never leaves the process
#: that read the file. Cells that failed to parse are null, and their findings were recorded when
#: parsing; the checks below are the ones that need clean typed columns. Each dataframe check is
#: named after the finding code it raises (CHECK_FIELDS); the row rules are schemas/row_rules.py's,
#: which `lvv validate` applies row by row without pandas.
#:
#: Written with pandera's object API, not as a DataFrameModel: building a model's schema makes
#: pandera look for its Dask types, which imports dask.dataframe (installed for the Dask task
#: runner), a second of every run's start that validates nothing (docs/performance.md).
StagedEpisodes = pa.DataFrameSchema(
    name="StagedEpisodes",
    columns={
        "delivery": pa.Column("int64", pa.Check.ge(0)),
        "excel_row": pa.Column("int64", pa.Check.ge(1)),
        "record_id": _text(),
        "person_id": _text(pa.Check.str_matches(PERSON_ID_PATTERN)),
        "intake_date": pa.Column("datetime64[ns]", nullable=True),
        "exit_date": pa.Column("datetime64[ns]", nullable=True),
        "outcome_code": _text(pa.Check.isin(OUTCOME_CODES)),
        "follow_up_code": _text(pa.Check.isin(FOLLOW_UP_CODES)),
        "has_outcome_label": pa.Column(bool),
        "has_follow_up_label": pa.Column(bool),
        "has_exit_value": pa.Column(bool),
        "known_from": pa.Column("datetime64[ns]"),
    },
    checks=[
        pa.Check(_record_id_unique_per_delivery, name="episode-duplicate"),
        *(pa.Check(_holds(rule), name=code) for code, rule in ROW_RULES.items()),
    ],
    strict=True,
    coerce=False,
)


#: which field a failing check points at, for locating it in the sheet
CHECK_FIELDS = {"episode-duplicate": "record_id", **{code: rule.field for code, rule in ROW_RULES.items()}}
