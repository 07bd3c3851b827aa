"""pandera contracts of the episode tables, from one delivery's staged rows to curated versions."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable

import pandas as pd
import pandera.pandas as pa

from schemas.row_rules import PERSON_ID_PATTERN, ROW_RULES, RowRule
from schemas.taxonomy import taxonomy


def known_absent(name: str) -> bool:
    """Mark a top-level module that is not installed as absent, once, where Python's import system
    looks first (None in sys.modules: every later `import name` fails at once, and
    importlib.util.find_spec(name) answers None, as it does for a module not installed). True when
    it is absent; an installed module, or one imported already, is left as it is.

    pandera 0.35 asks whether a column's dtype is a geopandas one by trying `import geopandas` on
    every lookup of a dtype outside its table (numpy's bool and datetime64, and the frame's dtype
    None): seven times each time StagedEpisodes validates a batch. Python does not remember an
    import that failed, so each try looked in every directory of sys.path again (a stat each; 35
    microseconds here, far more on a network file system or a long sys.path); marked, a try fails
    at once (4 microseconds).
    """
    if name in sys.modules:
        return sys.modules[name] is None
    if importlib.util.find_spec(name) is not None:
        return False
    sys.modules[name] = None  # type: ignore[assignment]
    return True


known_absent("geopandas")

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
