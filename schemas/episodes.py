"""pandera contracts of the episode tables, from one delivery's staged rows to curated versions."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from schemas.row_rules import PERSON_ID_PATTERN, ROW_RULES, RowRule
from schemas.taxonomy import taxonomy


#: modules pandera imports while validating that a validation of this project never uses
#: (see validating): geopandas, which pandera tries on each lookup of a dtype outside its table,
#: and hypothesis, which pandera's data synthesis needs and its pandas backends import when they
#: register, on the first validation of a process
_UNUSED = ("geopandas", "hypothesis")
_hiding = threading.Lock()
_validations = 0
_hidden: list[str] = []


@contextmanager
def validating() -> Iterator[None]:
    """Around a pandera validation: the modules of _UNUSED that it would look for or import in
    vain marked absent (None in sys.modules: an import fails at once) for as long as it runs,
    and only then. Outside a validation every import is Python's own, so a module installed
    later in the process is found.

    - geopandas, when not installed: pandera 0.35 tries `import geopandas` on every lookup of a
      dtype outside its table (numpy's bool and datetime64, the frame's dtype None), seven times
      each time StagedEpisodes validates a batch; Python does not remember an import that
      failed, so each try searched every directory of sys.path again (35 microseconds here, far
      more on a network file system). Marked, a try fails at once. Whether it is installed is
      asked once per validation (one search), never remembered.
    - hypothesis, installed with the dev tools, while pandera has not yet registered its pandas
      backends: registering imports pandera.strategies for its data synthesis (`schema.example`,
      which the project never calls), and with it hypothesis, 0.12 s of the first validation of
      every run that processes a delivery (`python -m benchmarks.processing`: the fixed cost).
      Once pandera.strategies is imported (with or without hypothesis) it is left alone; an
      `import hypothesis` of another thread during that first validation would fail, and the
      flow's threads import none.

    Validations in several threads at once share one marking, removed when the last one ends; a
    module imported for real before is never touched.
    """
    global _validations
    with _hiding:
        if _validations == 0:
            _hidden[:] = [name for name in _UNUSED if _unused(name)]
            for name in _hidden:
                sys.modules[name] = None  # type: ignore[assignment]
        _validations += 1
    try:
        yield
    finally:
        with _hiding:
            _validations -= 1
            if _validations == 0:
                for name in _hidden:
                    if name in sys.modules and sys.modules[name] is None:
                        del sys.modules[name]
                _hidden.clear()


def _unused(name: str) -> bool:
    """Whether validating may mark `name` absent now: not imported, and not installed (geopandas)
    or not yet imported by pandera's backends (hypothesis)."""
    if name in sys.modules:
        return False
    if name == "hypothesis":
        return "pandera.strategies.base_strategies" not in sys.modules
    return importlib.util.find_spec(name) is None


OUTCOME_CODES = taxonomy().codes("outcomes")
FOLLOW_UP_CODES = taxonomy().codes("follow_ups")


def _record_id_unique_per_delivery(df: pd.DataFrame) -> pd.Series:
    """True where the row's record number is missing or no other row of its delivery has it.

    The pair (delivery, record number) as one integer key, each factorised (a hash: linear in the
    rows), then the key's duplicates: what `df.duplicated(["delivery", "record_id"], keep=False)`
    finds, at a third of its cost on a delivery of a few hundred rows (pandas' multi-column
    `duplicated` pays a factorisation and a frame per column). The key of a missing record number
    is its delivery's own (code 0), never that of a record number (codes 1 to n)."""
    records, _ = pd.factorize(df["record_id"])
    deliveries, _ = pd.factorize(df["delivery"])
    key = deliveries.astype("int64") * (len(df) + 1) + (records + 1)
    return pd.Series((records < 0) | ~pd.Index(key).duplicated(keep=False), index=df.index)


class _Unvectorised(Exception):
    """A column of a dtype _Vector does not take: the rule is applied to the frame itself."""


class _Vector:
    """One column of a staged frame for the row rules (schemas/row_rules.py): a numpy array (dates,
    flags) or, for text, the column itself, with the operations the rules apply to columns.

    pandas spends 20 to 50 microseconds on each operation on a Series whatever its length: on a
    delivery of a few hundred rows, the rules' dozen operations were most of their check's cost.
    Here each is one numpy operation, with pandas' results: NaT compares false (`<`), a date is
    present where not NaT, a flag is never missing; text keeps pandas' own notna and isin.
    """

    __slots__ = ("values", "text")

    def __init__(self, values: Any, text: pd.Series | None = None) -> None:
        self.values, self.text = values, text

    def notna(self) -> _Vector:
        if self.text is not None:
            return _Vector(self.text.notna().to_numpy())
        if self.values.dtype.kind == "M":
            return _Vector(~np.isnat(self.values))
        return _Vector(np.ones(len(self.values), dtype=bool))

    def isin(self, values: Any) -> _Vector:
        if self.text is None:
            raise _Unvectorised
        return _Vector(_one_of(self.text, values).to_numpy())

    def _array(self, other: Any) -> Any:
        if self.text is not None or not isinstance(other, _Vector) or other.text is not None:
            raise _Unvectorised
        return other.values

    def __and__(self, other: Any) -> _Vector:
        return _Vector(self.values & self._array(other))

    def __or__(self, other: Any) -> _Vector:
        return _Vector(self.values | self._array(other))

    def __lt__(self, other: Any) -> _Vector:
        return _Vector(self.values < self._array(other))

    def __invert__(self) -> _Vector:
        if self.text is not None or self.values.dtype.kind != "b":
            raise _Unvectorised
        return _Vector(~self.values)


class _Columns:
    """A frame's columns as _Vector, for a rule's `r[...]`: only dates (datetime64), flags (bool)
    and text of TEXT_DTYPE; a column of any other dtype (a staging fault the column checks report)
    sends the rule back to pandas, so that its check fails or passes as it always did."""

    __slots__ = ("frame",)

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __getitem__(self, name: str) -> _Vector:
        column = self.frame[name]
        if _is_text(column):
            return _Vector(None, column)
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "bM":
            return _Vector(column.to_numpy())
        raise _Unvectorised


def _holds(rule: RowRule) -> Callable[[pd.DataFrame], pd.Series]:
    """A rule of schemas/row_rules.py as a vectorised pandera check: true where the row keeps it.

    The rule is applied to the frame's columns as numpy arrays (_Columns), falling back to the
    frame itself (pandas) where a column is of another dtype; the same result either way
    (tests/test_staged_oracle.py holds both, and pandera's report, to the rule applied with pandas)."""
    def check(df: pd.DataFrame) -> pd.Series:
        try:
            broken = rule.broken(_Columns(df))
        except _Unvectorised:
            return ~rule.broken(df)
        return pd.Series(~broken.values, index=df.index)
    return check


#: pandas' text dtype (pyarrow storage, NaN for a missing value): what `pd.array(..., dtype="str")` makes
TEXT_DTYPE = pd.StringDtype(na_value=float("nan"))


def _is_text(column: pd.Series) -> bool:
    return column.dtype == TEXT_DTYPE


def _one_of(column: pd.Series, values: Any) -> pd.Series:
    """`column.isin(values)`, for a text column by its distinct values: each looked up once in a
    set, then spread over the rows by their codes (pandas' isin of a text column costs five times
    as much on a delivery of a few hundred rows). A missing value is in `values` only if one of
    them is missing, as with isin; a column of another dtype takes isin itself."""
    if not _is_text(column):
        return column.isin(values)
    allowed = frozenset(v for v in values if v == v and v is not None)
    codes, distinct = pd.factorize(column)  # a missing value: code -1
    found = np.fromiter((value in allowed for value in distinct), dtype=bool, count=len(distinct))
    missing = any(v is None or v != v for v in values)
    return pd.Series(np.append(found, missing)[codes], index=column.index, name=column.name)


def _missing_passes(builtin: pa.Check, test: Callable[[pd.Series], pd.Series]) -> pa.Check:
    """pandera's built-in check `builtin` of a nullable text column, under its name and message
    (what a failure case names), as a test of the whole column where a missing value passes.

    pandera's default (ignore_na) drops a column's missing values before its check: on a text
    column with missing values (the outcome and follow-up codes of every open episode) that copy
    cost more than the test itself, on every call. Passing them instead fails the same rows with
    the same values (tests/test_staged_oracle.py)."""
    return pa.Check(lambda column: column.isna() | test(column), name=builtin.name, error=builtin.error,
                    ignore_na=False)


def _isin(values: list[str]) -> pa.Check:
    """`pa.Check.isin(values)`, its test computed by _one_of."""
    return _missing_passes(pa.Check.isin(values), lambda column: _one_of(column, values))


def _str_matches(pattern: str) -> pa.Check:
    """`pa.Check.str_matches(pattern)`, with its own test (pandas' str.match, na=False)."""
    return _missing_passes(pa.Check.str_matches(pattern), lambda column: column.str.match(pattern, na=False))


def _text(*checks: pa.Check) -> pa.Column:
    """A nullable text column: its dtype checked as one test of the column's dtype.

    Declared `pa.Column(str)`, pandera's dtype check of a text column answers row by row (an array
    of True) and pandera then builds and prints an (empty) table of failure cases for each such
    column on every call, a third of the cost of validating a delivery of a few hundred rows; the
    same test as one boolean is free. (tests/test_stage_columns.py: a column of another dtype fails.)
    It looks at the dtype alone, so pandera is told not to drop the missing values before it
    (ignore_na=False): a copy of the column each call, for nothing.
    """
    return pa.Column(None, [pa.Check(_is_text, name=f"dtype('{TEXT_DTYPE}')", ignore_na=False), *checks],
                     nullable=True)


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
        "person_id": _text(_str_matches(PERSON_ID_PATTERN)),
        "intake_date": pa.Column("datetime64[ns]", nullable=True),
        "exit_date": pa.Column("datetime64[ns]", nullable=True),
        "outcome_code": _text(_isin(OUTCOME_CODES)),
        "follow_up_code": _text(_isin(FOLLOW_UP_CODES)),
        "has_outcome_label": pa.Column(bool),
        "has_follow_up_label": pa.Column(bool),
        "has_exit_value": pa.Column(bool),
        "known_from": pa.Column("datetime64[ns]"),
    },
    # ignore_na=False: pandera would let pass a row whose every cell is missing, finding such rows
    # with a test of every cell of the frame for each check; no row of a frame of these dtypes is
    # one (`delivery`, `excel_row`, `known_from` and the flags are never missing), so the checks say
    # the same without it (tests/test_stage_columns.py)
    checks=[
        pa.Check(_record_id_unique_per_delivery, name="episode-duplicate", ignore_na=False),
        *(pa.Check(_holds(rule), name=code, ignore_na=False) for code, rule in ROW_RULES.items()),
    ],
    strict=True,
    coerce=False,
)


#: which field a failing check points at, for locating it in the sheet
CHECK_FIELDS = {"episode-duplicate": "record_id", **{code: rule.field for code, rule in ROW_RULES.items()}}
