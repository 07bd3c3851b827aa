"""pandera contracts of the episode tables, from one delivery's staged rows to curated versions."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.taxonomy import OUTCOMES_WITH_FOLLOW_UP, taxonomy

OUTCOME_CODES = taxonomy().codes("outcomes")
FOLLOW_UP_CODES = taxonomy().codes("follow_ups")
PERSON_ID_PATTERN = r"^\d{10}$"


class StagedEpisodes(pa.DataFrameModel):
    """One row per data row of one or more deliveries of one municipality, parsed and typed.

    `delivery` tells the deliveries of a batch apart (validating a municipality's deliveries in
    one call instead of one call each is what keeps a full rebuild fast); `excel_row` is the row
    number in that delivery's sheet. Identifiers are still raw here: this table never leaves the
    process that read the file. Cells that failed to parse are null, and their findings were
    recorded when parsing; the checks below are the ones that need clean typed columns.
    """

    delivery: Series[int] = pa.Field(ge=0)
    excel_row: Series[int] = pa.Field(ge=1)
    record_id: Series[str] = pa.Field(nullable=True)
    person_id: Series[str] = pa.Field(nullable=True, str_matches=PERSON_ID_PATTERN)
    intake_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    exit_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    outcome_code: Series[str] = pa.Field(nullable=True, isin=OUTCOME_CODES)
    follow_up_code: Series[str] = pa.Field(nullable=True, isin=FOLLOW_UP_CODES)
    has_outcome_label: Series[bool]
    has_follow_up_label: Series[bool]
    has_exit_value: Series[bool]
    known_from: Series[pd.Timestamp]

    class Config:
        strict = True
        coerce = False

    @pa.dataframe_check(name="episode-duplicate")
    def record_id_unique_per_delivery(cls, df: pd.DataFrame) -> Series[bool]:
        return df["record_id"].isna() | ~df.duplicated(["delivery", "record_id"], keep=False)

    @pa.dataframe_check(name="exit-before-intake")
    def exit_not_before_intake(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["exit_date"] < df["intake_date"])

    @pa.dataframe_check(name="exit-without-outcome")
    def exit_has_outcome(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["exit_date"].notna() & ~df["has_outcome_label"])

    @pa.dataframe_check(name="outcome-without-exit")
    def outcome_has_exit(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["has_outcome_label"] & ~df["has_exit_value"])

    @pa.dataframe_check(name="follow-up-not-detention")
    def follow_up_only_after_detention(cls, df: pd.DataFrame) -> Series[bool]:
        detention = df["outcome_code"].isin(sorted(OUTCOMES_WITH_FOLLOW_UP))
        return ~(df["has_follow_up_label"] & df["outcome_code"].notna() & ~detention)

    @pa.dataframe_check(name="date-after-delivery")
    def dates_not_after_delivery(cls, df: pd.DataFrame) -> Series[bool]:
        late = (df["intake_date"] > df["known_from"]) | (df["exit_date"] > df["known_from"])
        return ~late


#: which field a failing check points at, for locating it in the sheet
CHECK_FIELDS = {
    "episode-duplicate": "record_id",
    "exit-before-intake": "exit_date",
    "exit-without-outcome": "outcome",
    "outcome-without-exit": "exit_date",
    "follow-up-not-detention": "follow_up",
    "date-after-delivery": "intake_date",
}
