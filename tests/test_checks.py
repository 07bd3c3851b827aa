"""One test per check of schemas/checks.yaml: a fixture that triggers it and a near-identical one
that does not. Every code in the catalogue must have a case here (the test fails on a new code)."""

from __future__ import annotations

import re

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.checks import catalogue, limits
from schemas.contracts import contract_for
from schemas.episodes import PERSON_ID_PATTERN
from transforms import stage
from tests.conftest import good_row, write_sheet
from transforms.curate import curated_tables
from transforms.date_notations import notation_findings
from transforms.delivery import check_delivery, process_delivery
from transforms.history import episode_versions
from transforms.protect import Pseudonymiser
from transforms.revisions import duplicate_deliveries, persons_open_elsewhere, revisions
from transforms.store import save_result

PSEUDO = Pseudonymiser("test-key")
OCT, NOV = date(2020, 10, 31), date(2020, 11, 30)
Case = Callable[[Path, bool], set[str]]
CASES: dict[str, Case] = {}


def case(*codes: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        for code in codes:
            CASES[code] = fn
        return fn
    return register


def delivery_codes(folder: Path, rows: list[dict], period: str | None = "2020-10", stand_per: date = OCT,
                   contract_as_written=None, **layout) -> set[str]:
    """The codes process_delivery finds in a tiny Amsterdam delivery."""
    ams = contract_for("amsterdam")
    path = write_sheet(folder / "a.xlsx", contract_as_written or ams, rows, stand_per=stand_per, **layout)
    return {f.code for f in process_delivery(path, ams, period, PSEUDO).findings}


def bytes_codes(folder: Path, content: bytes) -> set[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.xlsx").write_bytes(content)
    return {f.code for f in process_delivery(folder / "a.xlsx", contract_for("amsterdam"), "2020-10", PSEUDO).findings}


def good_workbook(folder: Path) -> bytes:
    path = write_sheet(folder / "good.xlsx", contract_for("amsterdam"), [good_row(1), good_row(2)], stand_per=OCT)
    return path.read_bytes()


# ------------------------------------------------------------------ file level
@case("file-not-spreadsheet")
def _not_spreadsheet(folder: Path, on: bool) -> set[str]:
    return bytes_codes(folder, b"%PDF-1.4 not a workbook" * 40) if on else bytes_codes(folder, good_workbook(folder))


@case("file-unreadable")
def _truncated(folder: Path, on: bool) -> set[str]:
    content = good_workbook(folder)
    return bytes_codes(folder, content[: len(content) // 2] if on else content)


@case("file-password-protected")
def _password(folder: Path, on: bool) -> set[str]:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024
    return bytes_codes(folder, ole if on else good_workbook(folder))


@case("file-legacy-excel")
def _legacy_excel(folder: Path, on: bool) -> set[str]:
    from tests.test_unseen_exports import _compound_file

    return bytes_codes(folder, _compound_file(["Workbook"] if on else ["EncryptedPackage"]))


@case("file-empty")
def _empty(folder: Path, on: bool) -> set[str]:
    return delivery_codes(folder, [] if on else [good_row(1)])


@case("sheet-missing")
def _sheet(folder: Path, on: bool) -> set[str]:
    ams = contract_for("amsterdam")
    renamed = ams.model_copy(update={"file": ams.file.model_copy(update={"sheet": "Blad1"})})
    return delivery_codes(folder, [good_row(1)], contract_as_written=renamed if on else None)


@case("header-not-found")
def _header(folder: Path, on: bool) -> set[str]:
    headers = {f: f"kolom {i}" for i, f in enumerate(contract_for("amsterdam").columns)} if on else None
    return delivery_codes(folder, [good_row(1)], headers=headers)


@case("column-missing")
def _column_missing(folder: Path, on: bool) -> set[str]:
    headers = dict(contract_for("amsterdam").columns, exit_date="Datum uitstr." if on else "Datum uitstroom")
    return delivery_codes(folder, [good_row(1)], headers=headers)


@case("column-duplicate")
def _column_duplicate(folder: Path, on: bool) -> set[str]:
    """Two columns under one contract header: the reader kept the last, silently (a second, empty
    'Datum uitstroom' gave every exit as missing). Spelled differently, as normalise_label matches."""
    headers = dict(contract_for("amsterdam").columns, given_name=" datum  UITSTROOM" if on else "Voornaam")
    return delivery_codes(folder, [good_row(1)], headers=headers)


@case("column-unknown")
def _column_unknown(folder: Path, on: bool) -> set[str]:
    headers = dict(contract_for("amsterdam").columns, given_name="Notitie" if on else "Voornaam")
    return delivery_codes(folder, [good_row(1)], headers=headers)


@case("limit-exceeded")
def _limit(folder: Path, on: bool) -> set[str]:
    chars = limits().cell_chars
    return delivery_codes(folder, [good_row(1, outcome="x" * (chars + 1 if on else chars - 1))])


@case("findings-more")
def _findings_more(folder: Path, on: bool) -> set[str]:
    n = limits().findings_per_check + (1 if on else 0)  # n rows with one record number: n findings
    return delivery_codes(folder, [good_row(1, person_id=f"{1000000000 + i:010d}") for i in range(n)])


@case("sheet-hidden")
def _sheet_hidden(folder: Path, on: bool) -> set[str]:
    import openpyxl

    ams = contract_for("amsterdam")
    path = write_sheet(folder / "a.xlsx", ams, [good_row(1)], stand_per=OCT)
    workbook = openpyxl.load_workbook(path)
    workbook.create_sheet("Blad1")
    workbook.active = 1
    workbook[ams.file.sheet].sheet_state = "hidden" if on else "visible"
    workbook.save(path)
    return {f.code for f in process_delivery(path, ams, "2020-10", PSEUDO).findings}


def _csv_codes(folder: Path, text: str, encoding: str) -> set[str]:
    """The codes of a tiny Eindhoven delivery (a CSV, cp1252 in its contract) written as `text`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_bytes(text.encode(encoding))
    return {f.code for f in process_delivery(folder / "a.csv", contract_for("eindhoven"), "2020-10", PSEUDO).findings}


_EINDHOVEN_CSV = ("Clientnr;Vnr;Naam;Geb.datum;Startdatum;Einddatum;Uitstroom\r\n"
                  "4101;5550306006;Gonçalves;10-12-1961;07-07-2019;03-02-2020;Gedwongen beëindigd\r\n")


@case("stand-per-unreadable")
def _stand_per_unreadable(folder: Path, on: bool) -> set[str]:
    import openpyxl

    ams = contract_for("amsterdam")
    path = write_sheet(folder / "a.xlsx", ams, [good_row(1)], stand_per=OCT)
    book = openpyxl.load_workbook(path)
    for row in book[ams.file.sheet].iter_rows(max_row=ams.file.header_row - 1):
        for cell in row:
            if isinstance(cell.value, (date, str)) and str(cell.value).startswith(("2020-10-31", "31-10-2020")):
                cell.value = "31 oktober 2020" if on else "31-10-2020"
    book.save(path)
    return {f.code for f in process_delivery(path, ams, "2020-10", PSEUDO).findings}


@case("csv-encoding-differs")
def _csv_encoding(folder: Path, on: bool) -> set[str]:
    return _csv_codes(folder, _EINDHOVEN_CSV, "utf-8" if on else "cp1252")


@case("file-not-csv")
def _not_csv(folder: Path, on: bool) -> set[str]:
    """A workbook where the contract says CSV (by its bytes, whatever its name), and the CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    workbook = write_sheet(folder / "w.xlsx", contract_for("amsterdam"), [good_row(1)], stand_per=OCT).read_bytes()
    (folder / "a.csv").write_bytes(workbook if on else _EINDHOVEN_CSV.encode("cp1252"))
    return {f.code for f in process_delivery(folder / "a.csv", contract_for("eindhoven"), "2020-10", PSEUDO).findings}


@case("csv-separator-line")
def _csv_separator(folder: Path, on: bool) -> set[str]:
    return _csv_codes(folder, "sep=,\r\n" + _EINDHOVEN_CSV.replace(";", ",") if on else
                      "sep=;\r\n" + _EINDHOVEN_CSV, "cp1252")


def _edited_codes(folder: Path, change: Callable[[dict[str, bytes]], None], rows: list[dict] | None = None) -> set[str]:
    """The codes of a tiny Amsterdam delivery whose XML parts `change` edits in place (what
    openpyxl cannot write: two sheets of one name, a formula without a value, an error value)."""
    import zipfile

    path = write_sheet(folder / "a.xlsx", contract_for("amsterdam"), rows or [good_row(1)], stand_per=OCT)
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    change(parts)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return {f.code for f in process_delivery(path, contract_for("amsterdam"), "2020-10", PSEUDO).findings}


@case("sheet-ambiguous")
def _sheet_ambiguous(folder: Path, on: bool) -> set[str]:
    def change(parts: dict[str, bytes]) -> None:
        second = "CLIËNTEN LVV" if on else "Cliënten LVV (oud)"
        parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
            b"</sheets>", f'<sheet name="{second}" sheetId="9" r:id="rId1"/></sheets>'.encode(), 1)
    return _edited_codes(folder, change)


def _exit_cell(on: bytes, off: bytes) -> Case:
    """Row 6's exit date (a date cell, 01-09-2020) as `on` or `off` (\\1: the cell's reference)."""
    def run(folder: Path, trigger: bool) -> set[str]:
        def change(parts: dict[str, bytes]) -> None:
            sheet = parts["xl/worksheets/sheet1.xml"]
            parts["xl/worksheets/sheet1.xml"], n = re.subn(rb'<c r="([A-Z]6)" s="1" t="n"><v>44075</v></c>',
                                                           on if trigger else off, sheet)
            assert n == 1
        return _edited_codes(folder, change, [good_row(1, exit_date=date(2020, 9, 1), outcome="MOB")])
    return run


# a formula without a calculated value (a tool that does not calculate), and one with it
CASES["cell-formula-no-value"] = _exit_cell(rb'<c r="\1" s="1"><f>DATE(2020,9,1)</f></c>',
                                            rb'<c r="\1" s="1"><f>DATE(2020,9,1)</f><v>44075</v></c>')
# an Excel error value where a date stands, and the formula's value when it works
CASES["cell-error-value"] = _exit_cell(rb'<c r="\1" t="e"><f>VLOOKUP(1,X!A:B,2,0)</f><v>#N/A</v></c>',
                                       rb'<c r="\1" s="1"><f>VLOOKUP(1,X!A:B,2,0)</f><v>44075</v></c>')
# an inline string with its text in a <v> (as PHPExcel writes one), and the same text in its <is>
CASES["cell-inline-value"] = _exit_cell(rb'<c r="\1" t="inlineStr"><v>01-09-2020</v></c>',
                                        rb'<c r="\1" t="inlineStr"><is><t>01-09-2020</t></is></c>')


@case("delivery-duplicate")
def _duplicate(folder: Path, on: bool) -> set[str]:
    records = [{"municipality": "amsterdam", "period": "2020-10", "sha256": "aa", "file": "a.xlsx"},
               {"municipality": "amsterdam", "period": "2020-11", "sha256": "aa" if on else "bb", "file": "b.xlsx"},
               {"municipality": "utrecht", "period": "2020-11", "sha256": "bb", "file": "c.xlsx"}]
    return {item.finding.code for item in duplicate_deliveries(records)}


@case("period-missing")
def _period_missing(folder: Path, on: bool) -> set[str]:
    return delivery_codes(folder, [good_row(1)], period=None if on else "2020-10")


@case("period-inconsistent")
def _period_inconsistent(folder: Path, on: bool) -> set[str]:
    return delivery_codes(folder, [good_row(1)], stand_per=date(2020, 9, 30) if on else OCT)


# ------------------------------------------------------------------ field level: one cell changed
FIELD_CASES = {  # code: (overrides that trigger it, near-identical overrides that do not)
    "person-id-missing": (dict(person_id=None), dict(person_id="1000000001")),
    "person-id-malformed": (dict(person_id="12345"), dict(person_id="0000012345")),
    "record-id-missing": (dict(record_id=None), dict(record_id="R0001")),
    "date-missing": (dict(intake_date=None), dict(intake_date=date(2019, 9, 1))),
    "date-unparseable": (dict(intake_date="onbekend"), dict(intake_date=date(2019, 9, 1))),
    "date-after-delivery": (dict(exit_date=date(2020, 11, 5), outcome="MOB"),
                            dict(exit_date=date(2020, 10, 5), outcome="MOB")),
    "exit-before-intake": (dict(exit_date=date(2019, 1, 1), outcome="MOB"),
                           dict(exit_date=date(2019, 10, 1), outcome="MOB")),
    "intake-before-pilot": (dict(intake_date=date(2019, 1, 1)), dict(intake_date=date(2019, 3, 1))),
    "outcome-unknown-label": (dict(exit_date=date(2020, 5, 1), outcome="Gedwongen vertrok"),
                              dict(exit_date=date(2020, 5, 1), outcome="Gedwongen vertrek")),
    "follow-up-unknown-label": (dict(exit_date=date(2020, 5, 1), outcome="Vreemdelingenbewaring", follow_up="Uitgezet?"),
                                dict(exit_date=date(2020, 5, 1), outcome="Vreemdelingenbewaring", follow_up="Uitgezet")),
    "exit-without-outcome": (dict(exit_date=date(2020, 5, 1)), dict(exit_date=date(2020, 5, 1), outcome="MOB")),
    "outcome-without-exit": (dict(outcome="MOB"), dict(outcome="MOB", exit_date=date(2020, 5, 1))),
    "follow-up-not-detention": (dict(exit_date=date(2020, 5, 1), outcome="MOB", follow_up="Uitgezet"),
                                dict(exit_date=date(2020, 5, 1), outcome="Vreemdelingenbewaring", follow_up="Uitgezet")),
}


def _field_case(code: str) -> Case:
    def run(folder: Path, on: bool) -> set[str]:
        return delivery_codes(folder, [good_row(1, **FIELD_CASES[code][0 if on else 1]), good_row(2)])
    return run


for _code in FIELD_CASES:
    CASES[_code] = _field_case(_code)


def told_codes(folder: Path, intakes: list[str]) -> set[str]:
    """The codes `lvv validate` shows for a tiny Amsterdam delivery (its check and what
    date_notations tells of the columns), one row per intake text."""
    ams = contract_for("amsterdam")
    path = write_sheet(folder / "a.xlsx", ams, [good_row(i + 1, intake_date=t) for i, t in enumerate(intakes)],
                       stand_per=OCT)
    findings = check_delivery(path, ams, "2020-10", PSEUDO).findings
    return {f.code for f in findings + notation_findings(findings)}


@case("date-notation-other")
def _notation_other(folder: Path, on: bool) -> set[str]:
    return told_codes(folder, ["2019-09-25", "2019-10-13"] if on else ["25-09-2019", "13-10-2019"])


@case("date-notation-ambiguous")
def _notation_ambiguous(folder: Path, on: bool) -> set[str]:
    return told_codes(folder, ["07/08/2019", "03/04/2020"] if on else ["07/08/2019", "25/04/2020"])


@case("row-not-data")
def _not_data(folder: Path, on: bool) -> set[str]:
    return delivery_codes(folder, [good_row(1)], extra_rows=[["Totaal" if on else "R9999", 1]])


@case("row-header-repeated")
def _header_repeated(folder: Path, on: bool) -> set[str]:
    """The header again below the data (two exports joined), or a row of a stay whose intake cell
    is that column's name: one cell that is a name is no header."""
    ams = contract_for("amsterdam")
    stay = {**good_row(9), "intake_date": ams.columns["intake_date"]}
    row = [ams.columns[f] if on else stay[f] for f in ams.columns]
    return delivery_codes(folder, [good_row(1)], extra_rows=[row])


@case("person-id-normalised")
def _normalised(folder: Path, on: bool) -> set[str]:
    return delivery_codes(folder, [good_row(1, person_id="V 1000.000.001" if on else "1000000001")])


@case("row-count-mismatch")
def _row_count(folder: Path, on: bool) -> set[str]:
    ams = contract_for("amsterdam")
    counted = ams.model_copy(update={"file": ams.file.model_copy(update={"row_count_label": "Aantal regels"})})
    path = write_sheet(folder / "a.xlsx", ams, [good_row(1), good_row(2)], stand_per=OCT,
                       extra_rows=[["Totaal", 2], [f"Aantal regels: {3 if on else 2}"]])
    return {f.code for f in process_delivery(path, counted, "2020-10", PSEUDO).findings}


def _gap_codes(folder: Path, periods: list[str], files: int = 1) -> set[str]:
    ams = contract_for("amsterdam")
    staged = folder / "staged"
    for period in periods:
        year, month = (int(x) for x in period.split("-"))
        for n in range(files):
            name = "a.xlsx" if n == 0 else f"a_v{n + 1}.xlsx"
            path = write_sheet(folder / "raw" / "amsterdam" / period / name, ams, [good_row(1 + n)],
                               stand_per=date(year, month, 28))
        save_result(staged, process_delivery(path, ams, period, PSEUDO))
    return set(curated_tables(staged, folder / "raw")["validation_issues"]["code"])


@case("delivery-missing")
def _missing_month(folder: Path, on: bool) -> set[str]:
    return _gap_codes(folder, ["2020-09", "2020-11"] if on else ["2020-10", "2020-11"])


@case("delivery-superseded")
def _superseded(folder: Path, on: bool) -> set[str]:
    return _gap_codes(folder, ["2020-10"], files=2 if on else 1)


# ------------------------------------------------------------------ record level
@case("episode-duplicate")
def _episode_duplicate(folder: Path, on: bool) -> set[str]:
    return delivery_codes(folder, [good_row(1), good_row(1 if on else 2, person_id="1000000009")])


@case("episodes-overlap")
def _overlap(folder: Path, on: bool) -> set[str]:
    first = good_row(1, exit_date=date(2020, 1, 1), outcome="Andere opvang")
    second = good_row(2, person_id=first["person_id"], intake_date=date(2019, 12, 1) if on else date(2020, 1, 1))
    return delivery_codes(folder, [first, second])


def version_rows(*rows: dict) -> pd.DataFrame:
    base = dict(person_id="P1", intake_date=date(2020, 1, 5), exit_date=None, outcome_code=None,
                follow_up_code=None, excel_row=2)
    return pd.DataFrame([{**base, **r} for r in rows])


def deliveries_of(*ids: str) -> pd.DataFrame:
    months = {"a/1": date(2020, 1, 31), "a/2": date(2020, 2, 29), "b/1": date(2020, 1, 31)}
    return pd.DataFrame({"delivery_id": list(ids), "municipality": [i.split("/")[0] for i in ids],
                         "period": [i.split("/")[1] for i in ids], "stand_per": [months[i] for i in ids],
                         "status": "accepted"})


@case("person-open-elsewhere")
def _open_elsewhere(folder: Path, on: bool) -> set[str]:
    dl = deliveries_of("a/1", "b/1")
    rows = version_rows(dict(delivery_id="a/1", episode_id="ea", intake_date=date(2019, 10, 1),
                             exit_date=None if on else date(2020, 1, 5), outcome_code=None if on else "other_shelter"),
                        dict(delivery_id="b/1", episode_id="eb", intake_date=date(2020, 1, 5)))
    versions = episode_versions(dl, rows, pd.DataFrame(columns=["delivery_id", "episode_id"]))
    return {item.finding.code for item in persons_open_elsewhere(versions, dl)}


# ------------------------------------------------------------------ between deliveries
REVISION_CASES = {  # code: (attributes in delivery 1, in delivery 2 to trigger, in delivery 2 not to)
    "intake-changed": ({}, dict(intake_date=date(2020, 1, 6)), {}),
    "exit-withdrawn": (dict(exit_date=date(2020, 1, 20), outcome_code="departed_unknown"), {},
                       dict(exit_date=date(2020, 1, 20), outcome_code="departed_unknown")),
    "exit-changed": (dict(exit_date=date(2020, 1, 20), outcome_code="departed_unknown"),
                     dict(exit_date=date(2020, 1, 22), outcome_code="departed_unknown"),
                     dict(exit_date=date(2020, 1, 20), outcome_code="return_independent")),
    "outcome-changed": (dict(exit_date=date(2020, 1, 20), outcome_code="departed_unknown"),
                        dict(exit_date=date(2020, 1, 20), outcome_code="return_independent"),
                        dict(exit_date=date(2020, 1, 22), outcome_code="departed_unknown")),
}


def revision_codes(first: list[dict], second: list[dict]) -> set[str]:
    dl = deliveries_of("a/1", "a/2")
    rows = version_rows(*[dict(delivery_id="a/1", **r) for r in first], *[dict(delivery_id="a/2", **r) for r in second])
    versions = episode_versions(dl, rows, pd.DataFrame(columns=["delivery_id", "episode_id"]))
    return {item.finding.code for item in revisions(versions, dl)}


def _revision_case(code: str) -> Case:
    def run(folder: Path, on: bool) -> set[str]:
        before, changed, unchanged = REVISION_CASES[code]
        after = changed if on else unchanged
        return revision_codes([dict(episode_id="e1", **before)], [dict(episode_id="e1", **after)])
    return run


for _code in REVISION_CASES:
    CASES[_code] = _revision_case(_code)


@case("episode-disappeared")
def _disappeared(folder: Path, on: bool) -> set[str]:
    first = [dict(episode_id="e1"), dict(episode_id="e2", person_id="P2")]
    second = [dict(episode_id="e2", person_id="P2")] + ([] if on else [dict(episode_id="e1")])
    return revision_codes(first, second)


# ------------------------------------------------------------------ corrections
@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """October: row 6 open, row 7 MOB, row 8 bad intake, row 9 bad intake and no V-number.
    November: everything valid; row 7's outcome is 'Zelfstandig vertrek'."""
    root = tmp_path_factory.mktemp("corrections")
    ams = contract_for("amsterdam")
    october = [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="MOB"),
               good_row(3, intake_date="onbekend"), good_row(4, intake_date="x", person_id=None)]
    november = [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="Zelfstandig vertrek"),
                good_row(3), good_row(4)]
    for period, rows, stand_per in (("2020-10", october, OCT), ("2020-11", november, NOV)):
        path = write_sheet(root / "raw" / "amsterdam" / period / "a.xlsx", ams, rows, stand_per=stand_per)
        save_result(root / "staged", process_delivery(path, ams, period, PSEUDO))
    return root / "staged"


HEADER = "verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum"
CORRECTION_CASES = {  # code: (corrections file that triggers it, near-identical one that does not)
    "corrections-unreadable": ("verblijf;levering;rij;veld;nieuwe waarde;door;datum\n"
                               ";2020-10;7;uitstroomdatum;05-10-2020;Jan;05-11-2020",
                               f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;Jan;05-11-2020"),
    "correction-incomplete": (f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;;05-11-2020",
                              f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;Jan;05-11-2020"),
    "correction-unknown-field": (f"{HEADER}\n;2020-10;7;geboortedatum;05-10-2020;typfout;Jan;05-11-2020",
                                 f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;Jan;05-11-2020"),
    "correction-unknown-episode": (f"{HEADER}\n;2020-10;70;uitstroomdatum;05-10-2020;typfout;Jan;05-11-2020",
                                   f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;Jan;05-11-2020"),
    "correction-invalid-value": (f"{HEADER}\n;2020-10;7;uitstroomdatum;31-02-2020;typfout;Jan;05-11-2020",
                                 f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;Jan;05-11-2020"),
    "correction-row-still-invalid": (f"{HEADER}\n;2020-10;9;instroomdatum;01-09-2019;typfout;Jan;05-11-2020",
                                     f"{HEADER}\n;2020-10;8;instroomdatum;01-09-2019;typfout;Jan;05-11-2020"),
    "correction-superseded": (f"{HEADER}\n;2020-10;7;uitstroomreden;Terug naar BBB;verkeerd;Jan;05-11-2020",
                              f"{HEADER}\n;2020-10;7;uitstroomreden;Zelfstandig vertrek;verkeerd;Jan;05-11-2020"),
    "correction-applied": (f"{HEADER}\n;2020-10;7;uitstroomdatum;05-10-2020;typfout;Jan;05-12-2020",
                           f"{HEADER}\n;2020-10;7;uitstroomdatum;05-13-2020;typfout;Jan;05-12-2020"),
}


def correction_codes(staged: Path, folder: Path, text: str) -> set[str]:
    raw = folder / "raw"
    (raw / "amsterdam").mkdir(parents=True, exist_ok=True)
    (raw / "amsterdam" / "corrections.csv").write_text(text + "\n", encoding="utf-8")
    issues = curated_tables(staged, raw)["validation_issues"]
    return set(issues.loc[issues["delivery_id"] == "amsterdam/corrections", "code"])


# ------------------------------------------------------------------ the tests
CODES = sorted(catalogue())


@pytest.mark.parametrize("code", CODES)
def test_check_is_triggered_by_its_fixture_and_not_by_the_near_identical_one(code, tmp_path, request):
    if code in CORRECTION_CASES:
        staged = request.getfixturevalue("staged")
        trigger, clean = CORRECTION_CASES[code]
        found = correction_codes(staged, tmp_path / "on", trigger)
        untouched = correction_codes(staged, tmp_path / "off", clean)
    else:
        assert code in CASES, f"no test case for check {code!r}: add one to tests/test_checks.py"
        found, untouched = CASES[code](tmp_path / "on", True), CASES[code](tmp_path / "off", False)
    assert code in found, (code, found)
    assert code not in untouched, (code, untouched)


def test_every_check_has_a_severity_messages_a_fix_and_an_example():
    for check in catalogue().values():
        assert check.nl and check.en and check.fix_nl and check.fix_en and check.example, check.code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", check.code), check.code


def test_every_check_has_a_case_here():
    assert set(CODES) == set(CASES) | set(CORRECTION_CASES)





# ------------------------------------------------------------------ lvv validate = the pipeline's verdict
def both_paths(path: Path, municipality: str = "amsterdam", period: str = "2020-10") -> tuple[list, list, dict, dict]:
    """(findings of process_delivery, of check_delivery, their delivery records), comparable."""
    contract = contract_for(municipality)
    full = process_delivery(path, contract, period, PSEUDO)
    quick = check_delivery(path, contract, period, PSEUDO)

    def key(f):
        return (f.excel_row or 0, f.code, f.cell_ref, f.value, f.as_row("en")["message"])

    return sorted(map(key, full.findings)), sorted(map(key, quick.findings)), full.delivery, quick.delivery


def test_the_quick_check_uses_the_contract_pattern():
    assert PERSON_ID_PATTERN == stage.PERSON_ID_PATTERN


@pytest.mark.parametrize("code", sorted(FIELD_CASES))
def test_the_quick_check_finds_what_the_pipeline_finds(code, tmp_path):
    rows = [good_row(1, **FIELD_CASES[code][0]), good_row(2), good_row(2, person_id="1000000005"),
            good_row(4, person_id="1000000002", intake_date=date(2019, 10, 1))]
    path = write_sheet(tmp_path / "a.xlsx", contract_for("amsterdam"), rows, stand_per=OCT,
                       extra_rows=[["Totaal", 4]])
    full, quick, full_record, quick_record = both_paths(path)
    assert full == quick and code in {f[1] for f in quick}
    counts = ("status", "rows_read", "rows_curated", "rows_quarantined", "rows_skipped", "stand_per", "layout")
    assert {k: full_record[k] for k in counts} == {k: quick_record[k] for k in counts}


CELLS = {
    "person_id": st.sampled_from([None, "12345", "1000000001", "1000000002", "1000000003"]),
    "record_id": st.sampled_from([None, "R1", "R2", "R3", "R4", "R5"]),
    "intake_date": st.sampled_from([None, "onbekend", date(2019, 1, 5), date(2019, 9, 1), date(2020, 6, 1),
                                    date(2020, 11, 2)]),
    "exit_date": st.sampled_from([None, None, "31-02-2020", date(2019, 5, 1), date(2020, 7, 1), date(2020, 12, 1)]),
    "outcome": st.sampled_from([None, "MOB", "Vreemdelingenbewaring", "Gedwongen vertrok", "  mob. "]),
    "follow_up": st.sampled_from([None, None, "Uitgezet", "Vrij?"]),
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries(CELLS), min_size=1, max_size=6),
       municipality=st.sampled_from(["amsterdam", "eindhoven"]))
def test_the_quick_check_agrees_with_the_pipeline_on_any_rows(tmp_path, rows, municipality):
    contract = contract_for(municipality)
    if contract.file.type == "csv":
        rows = [{k: v.strftime("%d-%m-%Y") if isinstance(v, date) else v for k, v in r.items()} for r in rows]
    path = write_sheet(tmp_path / f"a.{contract.file.type}", contract, rows, stand_per=OCT)
    full, quick, full_record, quick_record = both_paths(path, municipality)
    assert full == quick
    assert full_record["rows_quarantined"] == quick_record["rows_quarantined"]


def test_a_findings_row_is_every_field_but_params_as_asdict_gives_it():
    """Finding.as_row builds its row without dataclasses.asdict's deep copy: the same keys in the
    same order and the same values, whatever the finding holds (values no generator writes)."""
    import dataclasses

    from schemas.checks import FINDING_COLUMNS, Finding

    findings = [
        Finding("findings-more", params={"check": "date-unparseable", "more": 3, "kept": 200}),
        Finding("date-unparseable", file="f.xlsx", sheet="Blad 1", excel_row=7, column_letter="AB",
                column_header="Datum\nin", field="intake_date", value="31-02-2021 ; {x}",
                params={"accepted": ["dd-mm-jjjj"], "nested": {"a": [1, 2]}}),
        Finding("file-empty"),
    ]
    for f in findings:
        for lang in ("nl", "en"):
            row = f.as_row(lang)
            expected = dataclasses.asdict(f)
            expected.pop("params")
            assert list(row)[:len(expected)] == list(expected)
            assert {k: row[k] for k in expected} == expected
            assert set(row) == set(FINDING_COLUMNS)
            assert row["severity"] == f.severity and row["cell_ref"] == f.cell_ref
    assert findings[1].as_row("en")["cell_ref"] == "AB7"
