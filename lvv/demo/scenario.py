"""The demo's scenario as data: population sizes, outflow mix, register habits.

Everything the synthetic history is calibrated on lives here, next to where each number comes
from (the design notes' reference/published-figures.md, "published" below). The numbers the
publications leave open are the demo's own choice and are marked so. The layout of each file is
not here: it comes from the source contract (schemas/sources/*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: the fixed pseudonymisation key of the demo; it protects nothing and says so
from lvv.settings import DEMO_PSEUDONYM_KEY  # noqa: E402  (defined once, with the other settings)

#: published reference dates
REF_B = date(2019, 12, 31)  # Table B (plan and process evaluation)
REF_A = date(2020, 11, 1)  # Table A (interim evaluation)
REF_C = date(2022, 7, 1)  # Table C (final evaluation)
#: the last delivery month; every municipality delivers monthly up to and including it
LAST_PERIOD = "2022-07"


@dataclass(frozen=True)
class Population:
    """Episodes per time window, for one municipality.

    Windows: 1 = pilot start .. REF_B, 2 = REF_B .. REF_A, 3 = REF_A .. REF_C,
    4 = REF_C .. end of LAST_PERIOD; each "a .. b" is a < date <= b (window 1 includes the pilot
    start itself).
    """

    intakes: tuple[int, int, int, int]
    exits: tuple[int, int, int, int]
    #: clients taken over on the pilot start date itself (Groningen's earlier BBB+)
    at_start: int = 0


# Published: inflow at REF_B summed 1019, Amsterdam 287, Eindhoven 33; occupancy at REF_B
# Groningen 201 (245 - 44), Rotterdam 73 (105 - 32), Utrecht 268 (349 - 81); inflow at REF_C
# 2065 (the sums of windows 1-3); outflow at REF_A 537 (windows 1-2) and at REF_C 1258 (1-3).
# The split over the municipalities and windows is the demo's choice.
POPULATIONS: dict[str, Population] = {
    "amsterdam": Population(intakes=(287, 110, 163, 6), exits=(60, 90, 190, 5)),
    "eindhoven": Population(intakes=(33, 35, 52, 2), exits=(3, 19, 55, 1)),
    "groningen": Population(intakes=(245, 80, 125, 4), exits=(44, 86, 160, 4), at_start=150),
    "rotterdam": Population(intakes=(105, 75, 120, 3), exits=(32, 38, 120, 3)),
    "utrecht": Population(intakes=(349, 110, 176, 5), exits=(81, 84, 196, 5)),
}

# Outflow up to REF_A (windows 1-2), as (outcome, follow-up, persons). Under evaluation-2021 the
# lines are the published Table A: legalised 43, returned 50 (40 + 10), onward_migration 2,
# repeat_application 170, postponed_departure 20, departed_unknown 100, stay_terminated 76,
# other_non_durable 76 (24 + 14 + 14 + 12 + 8 + 4). The 12 forced departures after immigration
# detention are the programme monitor's extra durable outflow.
OUTFLOW_TO_A: tuple[tuple[str, str | None, int], ...] = (
    ("permit_granted", None, 43),
    ("return_independent", None, 40),
    ("return_forced", None, 10),
    ("onward_migration", None, 2),
    ("repeat_application", None, 170),
    ("postponed_departure", None, 20),
    ("departed_unknown", None, 100),
    ("stay_terminated", None, 76),
    ("immigration_detention", "forced_departure", 12),
    ("immigration_detention", "released", 7),
    ("immigration_detention", "unknown", 5),
    ("criminal_detention", None, 14),
    ("other_shelter", None, 14),
    ("own_network", None, 12),
    ("back_to_bbb", None, 8),
    ("deceased", None, 4),
)

# Outflow after REF_A up to REF_C (window 3): 721 persons, so that at REF_C under
# evaluation-2022 durable = 85 + 141 = 226 (18 %), semi-durable = 190 + 326 = 516 (41 %) and
# non-durable = 262 + 254 = 516 (41 %) of 1258.
OUTFLOW_A_TO_C: tuple[tuple[str, str | None, int], ...] = (
    ("permit_granted", None, 50),
    ("return_independent", None, 85),
    ("onward_migration", None, 6),
    ("repeat_application", None, 296),
    ("postponed_departure", None, 30),
    ("return_forced", None, 12),
    ("departed_unknown", None, 110),
    ("stay_terminated", None, 60),
    ("immigration_detention", "forced_departure", 8),
    ("immigration_detention", "released", 7),
    ("immigration_detention", "unknown", 5),
    ("criminal_detention", None, 14),
    ("other_shelter", None, 15),
    ("own_network", None, 12),
    ("back_to_bbb", None, 8),
    ("deceased", None, 3),
)

# Outflow after REF_C (window 4, July 2022): not published; drawn with these weights.
OUTFLOW_AFTER_C: tuple[tuple[str, str | None, int], ...] = (
    ("repeat_application", None, 4),
    ("return_independent", None, 2),
    ("departed_unknown", None, 2),
    ("permit_granted", None, 1),
    ("stay_terminated", None, 1),
)

#: fewest days between intake and exit
MIN_STAY_DAYS = 7


@dataclass(frozen=True)
class History:
    """How the registers catch up with reality (the demo's choice)."""

    #: chance an exit is registered 0, 1 or 2 months after the month it happened in
    lag_months: tuple[float, float, float] = (0.86, 0.10, 0.04)
    #: chance a return_independent exit is first registered as departed_unknown (MOB)
    mob_first: float = 0.15
    #: chance a detention follow-up (forced_departure, released) is first registered unknown
    follow_up_late: tuple[tuple[str, float], ...] = (("forced_departure", 0.5), ("released", 0.3))
    #: months until such a correction arrives (uniform)
    correction_months: tuple[int, int] = (1, 4)
    #: forced cases that straddle the REF_A delivery (stated wrong or not at all in the
    #: delivery of REF_A's month, right later): exits <= REF_A registered late, MOB corrected
    #: later, forced departure after detention known later
    late_across_a: int = 6
    mob_across_a: int = 5
    follow_up_across_a: int = 4
    #: planted mistakes per kind, each in its own non-final delivery, fixed in the next one
    mistakes_per_kind: int = 2


HISTORY = History()

#: kinds of planted mistakes (codes in DemoResult.planted)
MISTAKE_KINDS = (
    "date-unparseable",
    "outcome-unknown-label",
    "person-id-missing",
    "exit-before-intake",
)


@dataclass(frozen=True)
class Habits:
    """How one municipality fills in its register, beyond what its source contract fixes."""

    #: record id: a format with {seq} (counted per intake year when {year} is in it)
    record_id: str = "{seq:05d}"
    #: record id written as a number rather than text
    numeric_record_id: bool = False
    #: the first {seq}
    first_seq: int = 1
    #: share of outcome labels typed with odd capitals or spaces
    label_noise: float = 0.04
    #: a few empty rows between data rows
    blank_rows: bool = False
    #: a totals row under the data: this text in column A, the number of rows in column B
    totals_row: str | None = None
    #: one line after a blank row at the bottom; {n} = the number of rows
    footer: str | None = None
    #: a column the contract does not name (free text, mostly empty); real exports have them
    extra_column: str | None = None
    file_name: str = "lvv_{municipality}_{yyyymm}.{ext}"


HABITS: dict[str, Habits] = {
    "amsterdam": Habits(record_id="LVV-{year}-{seq:04d}", blank_rows=True),
    "eindhoven": Habits(
        record_id="{seq}",
        numeric_record_id=True,
        first_seq=1001,
        label_noise=0.3,
        file_name="LVV_Eindhoven_export_{yyyymm}.{ext}",
    ),
    "groningen": Habits(record_id="G{seq:05d}", totals_row="Totaal"),
    "rotterdam": Habits(record_id="RTM/{year}/{seq:03d}", label_noise=0.3),
    "utrecht": Habits(
        record_id="{seq}",
        numeric_record_id=True,
        first_seq=20001,
        blank_rows=True,
        footer="Aantal cliënten: {n}",
        extra_column="Opmerking",
    ),
}
DEFAULT_HABITS = Habits()

#: the free text of the extra column, when not empty
REMARKS = (
    "Zie dossier",
    "Terug in beeld",
    "Contact via advocaat",
    "Nieuwe aanvraag ingediend",
    "Medische indicatie",
    "Verhuisd binnen LVV",
    "Wacht op IND",
    "Let op: tolk nodig",
)

#: title row of a file whose header is not on row 1
TITLE = "LVV {display_name} – cliëntregistratie"
