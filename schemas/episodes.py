"""pandera contracts of the episode tables, from one delivery's staged rows to curated versions."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from schemas.taxonomy import OUTCOMES_WITH_FOLLOW_UP, taxonomy

OUTCOME_CODES = taxonomy().codes("outcomes")
FOLLOW_UP_CODES = taxonomy().codes("follow_ups")
PERSON_ID_PATTERN = r"^\d{10}$"


def _record_id_unique_per_delivery(df: pd.DataFrame) -> pd.Series:
    return df["record_id"].isna() | ~df.duplicated(["delivery", "record_id"], keep=False)


def _exit_not_before_intake(df: pd.DataFrame) -> pd.Series:
    return ~(df["exit_date"] < df["intake_date"])


def _exit_has_outcome(df: pd.DataFrame) -> pd.Series:
    return ~(df["exit_date"].notna() & ~df["has_outcome_label"])


def _outcome_has_exit(df: pd.DataFrame) -> pd.Series:
    return ~(df["has_outcome_label"] & ~df["has_exit_value"])


def _follow_up_only_after_detention(df: pd.DataFrame) -> pd.Series:
    detention = df["outcome_code"].isin(sorted(OUTCOMES_WITH_FOLLOW_UP))
    return ~(df["has_follow_up_label"] & df["outcome_code"].notna() & ~detention)


def _dates_not_after_delivery(df: pd.DataFrame) -> pd.Series:
    late = (df["intake_date"] > df["known_from"]) | (df["exit_date"] > df["known_from"])
    return ~late


#: One row per data row of one or more deliveries of one municipality, parsed and typed.
#:
#: `delivery` tells the deliveries of a batch apart (validating a municipality's deliveries in one
#: call instead of one call each is what keeps a full rebuild fast); `excel_row` is the row number
#: in that delivery's sheet. Identifiers are still raw here: this table never leaves the process
#: that read the file. Cells that failed to parse are null, and their findings were recorded when
#: parsing; the checks below are the ones that need clean typed columns. Each dataframe check is
#: named after the finding code it raises (CHECK_FIELDS).
#:
#: Written with pandera's object API, not as a DataFrameModel: building a model's schema makes
#: pandera look for its Dask types, which imports dask.dataframe (installed for the Dask task
#: runner), a second of every run's start that validates nothing (docs/performance.md).
StagedEpisodes = pa.DataFrameSchema(
    name="StagedEpisodes",
    columns={
        "delivery": pa.Column("int64", pa.Check.ge(0)),
        "excel_row": pa.Column("int64", pa.Check.ge(1)),
        "record_id": pa.Column(str, nullable=True),
        "person_id": pa.Column(str, pa.Check.str_matches(PERSON_ID_PATTERN), nullable=True),
        "intake_date": pa.Column("datetime64[ns]", nullable=True),
        "exit_date": pa.Column("datetime64[ns]", nullable=True),
        "outcome_code": pa.Column(str, pa.Check.isin(OUTCOME_CODES), nullable=True),
        "follow_up_code": pa.Column(str, pa.Check.isin(FOLLOW_UP_CODES), nullable=True),
        "has_outcome_label": pa.Column(bool),
        "has_follow_up_label": pa.Column(bool),
        "has_exit_value": pa.Column(bool),
        "known_from": pa.Column("datetime64[ns]"),
    },
    checks=[
        pa.Check(_record_id_unique_per_delivery, name="episode-duplicate"),
        pa.Check(_exit_not_before_intake, name="exit-before-intake"),
        pa.Check(_exit_has_outcome, name="exit-without-outcome"),
        pa.Check(_outcome_has_exit, name="outcome-without-exit"),
        pa.Check(_follow_up_only_after_detention, name="follow-up-not-detention"),
        pa.Check(_dates_not_after_delivery, name="date-after-delivery"),
    ],
    strict=True,
    coerce=False,
)


#: which field a failing check points at, for locating it in the sheet
CHECK_FIELDS = {
    "episode-duplicate": "record_id",
    "exit-before-intake": "exit_date",
    "exit-without-outcome": "outcome",
    "outcome-without-exit": "exit_date",
    "follow-up-not-detention": "follow_up",
    "date-after-delivery": "intake_date",
}
