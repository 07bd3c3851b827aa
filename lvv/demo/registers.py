"""The demo's own knowledge of each pilot's register: layout, words, date notation, typed by hand.

The generator writes every file from these tables and nothing else; it imports nothing from
schemas/ or transforms/ and never reads a source contract. The pipeline reads the same files
through the contracts in schemas/sources/. The two were typed apart, so a label mapped to the
wrong code, or a date notation read the wrong way round, in either one makes the pipeline's
figures differ from the demo's oracle (lvv/demo/oracle.py) instead of cancelling out.

Outcomes are the generator's codes (the same words as the taxonomy's, typed again here). A label
list's first entry is the one a register uses most; the order of the others matters only for
which variant a row gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: the outcome whose register entry has a follow-up (what happened after immigration detention)
FOLLOW_UP_OUTCOMES = frozenset({"immigration_detention"})
#: the follow-up when the register does not say
UNKNOWN_FOLLOW_UP = "unknown"
#: the date fields of a register row
DATE_FIELDS = ("intake_date", "exit_date", "birth_date")

#: (outcome, follow-up) -> labels. The follow-up is None unless the register writes it into the
#: outcome label (a register without a follow-up column).
Labels = dict[tuple[str, str | None], tuple[str, ...]]


@dataclass(frozen=True)
class Register:
    """How one municipality's monthly export looks, as the demo writes it."""

    municipality: str
    display_name: str
    pilot_start: date
    file_type: str  # xlsx | csv
    header_row: int
    #: field -> column header, in the file's column order
    columns: dict[str, str]
    #: date | excel_serial | text (then date_formats, the first the most used)
    date_stored_as: str
    outcome_labels: Labels
    follow_up_labels: dict[str, tuple[str, ...]]
    sheet: str | None = None
    stand_per_label: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    date_formats: tuple[str, ...] = ("%d-%m-%Y",)

    @property
    def follow_up_in_label(self) -> bool:
        return "follow_up" not in self.columns

    def all_outcome_labels(self) -> list[str]:
        return [label for labels in self.outcome_labels.values() for label in labels]


def _plain(pairs: dict[str, tuple[str, ...]]) -> Labels:
    return {(code, None): labels for code, labels in pairs.items()}


REGISTERS: dict[str, Register] = {
    "amsterdam": Register(
        municipality="amsterdam",
        display_name="Amsterdam",
        pilot_start=date(2019, 3, 1),
        file_type="xlsx",
        sheet="Cliënten LVV",
        header_row=5,
        stand_per_label="Stand per",
        columns={
            "record_id": "Dossiernummer",
            "person_id": "V-nummer",
            "family_name": "Achternaam",
            "given_name": "Voornaam",
            "birth_date": "Geboortedatum",
            "intake_date": "Datum instroom",
            "exit_date": "Datum uitstroom",
            "outcome": "Reden uitstroom",
            "follow_up": "Vervolg na vreemdelingenbewaring",
        },
        date_stored_as="date",
        outcome_labels=_plain(
            {
                "permit_granted": ("Verblijfsvergunning verleend",),
                "return_independent": ("Zelfstandig vertrek",),
                "return_forced": ("Gedwongen vertrek",),
                "onward_migration": ("Doormigratie",),
                "repeat_application": ("Herhaalde aanvraag (AZC)",),
                "postponed_departure": ("Art. 64",),
                "departed_unknown": ("MOB",),
                "stay_terminated": ("Verblijf beëindigd",),
                "criminal_detention": ("Detentie",),
                "immigration_detention": ("Vreemdelingenbewaring",),
                "other_shelter": ("Andere opvang",),
                "own_network": ("Eigen netwerk",),
                "back_to_bbb": ("Terug naar BBB",),
                "deceased": ("Overleden",),
            }
        ),
        follow_up_labels={
            "forced_departure": ("Uitgezet",),
            "released": ("Vrijgelaten",),
            "unknown": ("Onbekend",),
        },
    ),
    "eindhoven": Register(
        municipality="eindhoven",
        display_name="Eindhoven",
        pilot_start=date(2019, 7, 1),
        file_type="csv",
        encoding="cp1252",
        delimiter=";",
        header_row=1,
        columns={
            "record_id": "Clientnr",
            "person_id": "Vnr",
            "family_name": "Naam",
            "birth_date": "Geb.datum",
            "intake_date": "Startdatum",
            "exit_date": "Einddatum",
            "outcome": "Uitstroom",
        },
        date_stored_as="text",
        date_formats=("%d-%m-%Y",),
        outcome_labels={
            ("permit_granted", None): ("Vergunning", "Verblijfsvergunning"),
            ("return_independent", None): ("Vertrek HL", "Zelfst. vertrek herkomstland"),
            ("return_forced", None): ("Uitzetting",),
            ("onward_migration", None): ("Doormigratie",),
            ("repeat_application", None): ("Herh. aanvraag",),
            ("postponed_departure", None): ("Art 64",),
            ("departed_unknown", None): ("Onbekend vertrokken",),
            ("stay_terminated", None): ("Gedwongen beëindigd",),
            ("criminal_detention", None): ("Detentie",),
            ("immigration_detention", "unknown"): ("VB",),
            ("immigration_detention", "forced_departure"): ("VB - uitgezet",),
            ("immigration_detention", "released"): ("VB - vrijgelaten",),
            ("other_shelter", None): ("Andere opvang",),
            ("own_network", None): ("Netwerk",),
            ("back_to_bbb", None): ("BBB",),
            ("deceased", None): ("Overleden",),
        },
        follow_up_labels={},
    ),
    "groningen": Register(
        municipality="groningen",
        display_name="Groningen",
        pilot_start=date(2019, 4, 1),
        file_type="xlsx",
        sheet="Registratie",
        header_row=3,
        stand_per_label="Stand per",
        columns={
            "record_id": "Registratienummer",
            "person_id": "V-nummer",
            "family_name": "Naam",
            "given_name": "Voornamen",
            "birth_date": "Geboortedatum",
            "intake_date": "Instroomdatum",
            "exit_date": "Uitstroomdatum",
            "outcome": "Uitstroombestemming",
            "follow_up": "VB vervolg",
        },
        date_stored_as="excel_serial",
        outcome_labels=_plain(
            {
                "permit_granted": ("Verblijfsvergunning",),
                "return_independent": ("Terugkeer zelfstandig",),
                "return_forced": ("Terugkeer gedwongen",),
                "onward_migration": ("Doormigratie",),
                "repeat_application": ("Herhaalde asielaanvraag",),
                "postponed_departure": ("Artikel 64",),
                "departed_unknown": ("Vertrokken onbekend",),
                "stay_terminated": ("Beëindigd door LVV",),
                "criminal_detention": ("Strafrechtelijke detentie",),
                "immigration_detention": ("Vreemdelingenbewaring",),
                "other_shelter": ("Andere opvang",),
                "own_network": ("Eigen netwerk",),
                "back_to_bbb": ("BBB",),
                "deceased": ("Overleden",),
            }
        ),
        follow_up_labels={
            "forced_departure": ("Gedwongen vertrokken",),
            "released": ("Vrijgelaten",),
            "unknown": ("Onbekend",),
        },
    ),
    "rotterdam": Register(
        municipality="rotterdam",
        display_name="Rotterdam",
        pilot_start=date(2019, 6, 1),
        file_type="xlsx",
        sheet="LVV",
        header_row=1,
        columns={
            "record_id": "Kenmerk",
            "person_id": "V-nr",
            "family_name": "Achternaam",
            "given_name": "Voornaam",
            "birth_date": "Geboortedatum",
            "intake_date": "Instroom",
            "exit_date": "Uitstroom",
            "outcome": "Resultaat",
        },
        date_stored_as="text",
        # day-month-year with dashes mostly, sometimes with slashes, now and then ISO
        date_formats=("%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"),
        outcome_labels={
            ("permit_granted", None): ("Verblijfsvergunning", "VVR"),
            ("return_independent", None): ("Terugkeer",),
            ("return_forced", None): ("Gedwongen terugkeer",),
            ("onward_migration", None): ("Doormigratie",),
            ("repeat_application", None): ("Herhaalde aanvraag", "HA"),
            ("postponed_departure", None): ("Art. 64",),
            ("departed_unknown", None): ("MOB",),
            ("stay_terminated", None): ("Gedwongen beëindiging",),
            ("criminal_detention", None): ("Detentie",),
            ("immigration_detention", "unknown"): ("Vreemdelingenbewaring",),
            ("immigration_detention", "forced_departure"): ("Vreemdelingenbewaring, uitgezet",),
            ("immigration_detention", "released"): ("Vreemdelingenbewaring, vrij",),
            ("other_shelter", None): ("Andere opvang",),
            ("own_network", None): ("Eigen netwerk",),
            ("back_to_bbb", None): ("BBB",),
            ("deceased", None): ("Overleden",),
        },
        follow_up_labels={},
    ),
    "utrecht": Register(
        municipality="utrecht",
        display_name="Utrecht",
        pilot_start=date(2019, 5, 1),
        file_type="xlsx",
        sheet="Export",
        header_row=2,
        stand_per_label="Stand per",
        columns={
            "record_id": "ID",
            "person_id": "Vreemdelingennummer",
            "family_name": "Achternaam",
            "given_name": "Voornaam",
            "birth_date": "Geboortedatum",
            "intake_date": "Begin verblijf",
            "exit_date": "Einde verblijf",
            "outcome": "Uitstroom naar",
            "follow_up": "Na VB",
        },
        date_stored_as="date",
        outcome_labels=_plain(
            {
                "permit_granted": ("Legaal verblijf",),
                "return_independent": ("Vertrek land van herkomst",),
                "return_forced": ("Gedwongen vertrek",),
                "onward_migration": ("Doormigratie",),
                "repeat_application": ("Asielaanvraag (AZC)",),
                "postponed_departure": ("Uitstel van vertrek art. 64",),
                "departed_unknown": ("Onbekend",),
                "stay_terminated": ("Beëindiging verblijf",),
                "criminal_detention": ("Detentie",),
                "immigration_detention": ("Vreemdelingenbewaring",),
                "other_shelter": ("Andere opvang",),
                "own_network": ("Eigen netwerk",),
                "back_to_bbb": ("Terug naar BBB",),
                "deceased": ("Overleden",),
            }
        ),
        follow_up_labels={
            "forced_departure": ("Uitzetting",),
            "released": ("Vrij",),
            "unknown": ("Onbekend",),
        },
    ),
}


def register_for(municipality: str) -> Register:
    return REGISTERS[municipality]
