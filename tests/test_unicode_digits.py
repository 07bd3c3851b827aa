"""Digits of other scripts (Arabic-Indic, full-width, ...) in V-numbers.

`\\d` in Python's re and in pandas' str.match is any Unicode decimal digit: a V-number typed in
Arabic-Indic digits passed the person-number pattern as typed and was pseudonymised as such, so
the same person typed once in ASCII and once in Arabic-Indic digits got two pseudonyms (broken
person links). Now such digits are written in ASCII before anything else (one pseudonym, flagged
as normalised like other notation fixes), and the pattern takes ASCII digits only, so nothing
else can reach a pseudonym. Values no generator writes, in hand-made sheets.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from schemas.contracts import contract_for
from schemas.row_rules import PERSON_ID_PATTERN
from tests.conftest import good_row, write_sheet
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.read import RawSheet
from transforms.stage import Locator, Parsed, row_findings, stage_rows, validate_staged
from transforms.values import normalise_person_id

PSEUDO = Pseudonymiser("unicode-digits-key")
ARABIC = "٦٦٥٢٣٢٧٨٠٠"  # 6652327800 in Arabic-Indic digits (U+0660..0669)


@pytest.mark.parametrize("typed", [
    ARABIC,
    "۶۶۵۲۳۲۷۸۰۰",  # extended Arabic-Indic (Persian, U+06F0..)
    "６６５２３２７８００",  # full-width (U+FF10..)
    "६६५२३२७८००",  # Devanagari
    "𝟔𝟔𝟓𝟐𝟑𝟐𝟕𝟖𝟎𝟎",  # mathematical bold (U+1D7CE..)
    "6652٣٢٧٨٠٠",  # scripts mixed in one number
    "V ٦٦٥٢.٣٢٧.٨٠٠",  # with a V and separators
    "６６５２ ３２７ ８００",
    "٦٦٥٢٣٢٧٨٠.0",  # a number cell written out as text: its zero back (0665232780)
])
def test_digits_of_another_script_are_written_in_ascii_and_flagged(typed):
    canonical, changed = normalise_person_id(typed)
    assert changed and canonical.isascii() and re.match(PERSON_ID_PATTERN, canonical)
    assert canonical == ("0665232780" if typed.endswith(".0") else "6652327800")


@pytest.mark.parametrize("typed", ["٦٦٥٢", "٦٦٥٢٣٢٧٨٠٠٠", "²²²²²²²²²²", "⑥⑥⑤②③②⑦⑧⓪⓪", "٦٦٥٢٣٢٧٨٠x"])
def test_what_is_not_ten_digits_stays_as_typed_and_fails_the_pattern(typed):
    # superscripts and circled digits are digits to str.isdigit, not decimal digits: not converted
    assert normalise_person_id(typed) == (typed, False)
    assert re.match(PERSON_ID_PATTERN, typed) is None


def test_the_pattern_takes_ascii_digits_only_in_re_and_in_pandas():
    """What stage.py, delivery.py (before pseudonymising) and schemas/episodes.py apply."""
    for typed in (ARABIC, "６６５２３２７８００", "6652٣٢٧٨٠٠"):
        assert re.match(PERSON_ID_PATTERN, typed) is None
    assert pd.Series([ARABIC, "6652327800"]).str.match(PERSON_ID_PATTERN, na=False).tolist() == [False, True]


def _sheet(person_id: str) -> RawSheet:
    contract = contract_for("amsterdam")
    fields = list(contract.columns)
    row = good_row(1, person_id=person_id)
    return RawSheet("a.xlsx", "Blad1", 1, [contract.columns[f] for f in fields], [[row.get(f) for f in fields]],
                    [2], positions={f: i for i, f in enumerate(fields)})


def test_both_contract_paths_refuse_a_v_number_in_other_digits_that_reached_them():
    """The second line: a staged value that normalise_person_id did not write in ASCII (any other
    way in) is malformed on both paths, the pandera contract and `lvv validate`'s row by row."""
    raw = _sheet("6652327800")
    staged = stage_rows(raw, contract_for("amsterdam"), date(2020, 10, 31))
    staged.frame["person_id"] = ARABIC
    findings = validate_staged(staged, Locator(raw))
    assert [(f.code, f.excel_row) for f in findings] == [("person-id-malformed", 2)]
    record = {"excel_row": 2, "record_id": "R0001", "person_id": ARABIC, "intake_date": date(2019, 9, 1),
              "exit_date": None, "outcome_code": None, "follow_up_code": None, "has_outcome_label": False,
              "has_follow_up_label": False, "has_exit_value": False}
    found = row_findings(Parsed([record], [], []), Locator(raw), date(2020, 10, 31))
    assert [(f.code, f.excel_row) for f in found] == [("person-id-malformed", 2)]
    assert all(ARABIC not in str(f.as_row("en")) for f in findings + found)


def test_one_person_typed_in_two_scripts_has_one_pseudonym_and_nothing_shows_the_number(tmp_path):
    rows = [good_row(1, person_id="6652327800", exit_date=date(2020, 1, 10), outcome="MOB"),
            good_row(2, person_id=ARABIC, intake_date=date(2020, 3, 1)),
            good_row(3, person_id="６６５２３２７８０１"),
            good_row(4, person_id="٦٦٥٢٣٢٧٨٠")]  # nine digits: malformed, quarantined
    path = write_sheet(tmp_path / "a.xlsx", contract_for("amsterdam"), rows, stand_per=date(2020, 10, 31))
    result = process_delivery(path, contract_for("amsterdam"), "2020-10", PSEUDO)
    persons = result.episodes.set_index("excel_row")["person_id"]  # the sheet's rows 6 to 9
    assert persons[6] == persons[7] == PSEUDO.person("6652327800")
    assert persons[8] == PSEUDO.person("6652327801")
    assert 9 not in persons.index and result.delivery["rows_quarantined"] == 1
    codes = {f.code: f for f in result.findings}
    assert codes["person-id-normalised"].params["count"] == 2
    assert codes["person-id-malformed"].excel_row == 9
    shown = " ".join(str(f.as_row(lang)) for f in result.findings for lang in ("nl", "en"))
    shown += result.quarantine.to_string()
    for number in ("6652327800", ARABIC, "٦٦٥٢٣٢٧٨٠", "665232780", "６６５２３２７８０１", "6652327801"):
        assert number not in shown, number


# ------------------------------------------------------------------ other `\d` on periods and rows
@pytest.mark.parametrize("name", ["٢٠٢٢-٠٨", "２０２２-０８", "2022-٠٨", "२०२२-08"])
def test_a_month_folder_in_other_digits_is_no_period(tmp_path, name):
    """It was a period of its own ('٢٠٢٢-٠٨', stored and compared as text beside 2022-08, later than
    any ASCII period); now it is a folder not named YYYY-MM: rejected, stored in its own folder."""
    from schemas.contracts import contracts
    from transforms.delivery import parse_period
    from transforms.discover import discover

    assert parse_period(name) is None and parse_period("2022-08") == "2022-08"
    write_sheet(tmp_path / "amsterdam" / name / "a.xlsx", contract_for("amsterdam"), [good_row(1)],
                stand_per=date(2022, 8, 31))
    (found,), _ = discover(tmp_path, contracts())
    assert found.period is None and found.folder.startswith("unknown-") and found.folder.isascii()


CORRECTIONS_HEADER = "verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum"


@pytest.mark.parametrize("period, row, target", [
    ("2020-11", "٦", ("2020-11", 6)),
    ("2020-11", "６", ("2020-11", 6)),
    ("٢٠٢٠-١١", "6", ("2020-11", 6)),
    ("2020-11", "²", None),  # a digit to isdigit(), not a number: int() failed (exit 3)
    ("2020-11", "1" * 5000, None),  # more digits than int() takes
    ("2020-11", "12345678", None),  # more rows than a sheet has
    ("2020-1١", "6", ("2020-11", 6)),
    ("٢٠٢٠-١٣", "6", None),
])
def test_a_correction_by_period_and_row_takes_their_digits_in_any_script_or_says_what_is_wrong(
        tmp_path, period, row, target):
    from transforms.corrections import read_corrections

    path = tmp_path / "corrections.csv"
    path.write_text(f"{CORRECTIONS_HEADER}\n;{period};{row};uitstroomdatum;05-12-2020;x;Jan;06-12-2020\n",
                    encoding="utf-8")
    parsed = read_corrections(path, contract_for("amsterdam"))
    if target is None:
        assert parsed.corrections == [] and [f.code for f in parsed.findings] == ["correction-incomplete"]
        assert "JJJJ-MM" in parsed.findings[0].as_row("nl")["message"] + str(parsed.findings[0].params)
    else:
        assert [(c.period, c.excel_row) for c in parsed.corrections] == [target] and parsed.findings == []


# ------------------------------------------------------------------ record numbers
@pytest.mark.parametrize("typed, rule, canonical", [
    ("٣٤٥", {}, "345"),
    ("３４５", {}, "345"),
    (" R٠٠٤٢ ", {}, "R0042"),
    ("dos-٠٠١٢", {"case": "upper", "strip_prefix": "DOS-"}, "0012"),
    ("४०२७१९", {}, "402719"),
    ("³⁴⁵", {}, "³⁴⁵"),  # superscripts are no decimal digits: as typed
])
def test_a_record_number_in_other_digits_is_the_record_number_in_ascii(typed, rule, canonical):
    from schemas.contracts import RecordIds

    assert RecordIds(**rule).normalise(typed) == canonical


def test_one_stay_typed_in_two_scripts_is_one_episode_and_nothing_shows_its_number(tmp_path):
    """The municipality's record number is pseudonymised into the episode: '٤٠٢٧١٩' in November
    was an episode of its own beside '402719' in October (the stay counted twice, its exit lost)."""
    ams = contract_for("amsterdam")
    results = []
    for period, record, stand_per in (("2020-10", "402719", date(2020, 10, 31)),
                                      ("2020-11", "٤٠٢٧١٩", date(2020, 11, 30))):
        path = write_sheet(tmp_path / period / "a.xlsx", ams, [good_row(1, record_id=record)], stand_per=stand_per)
        results.append(process_delivery(path, ams, period, PSEUDO))
    october, november = (r.episodes["episode_id"].tolist() for r in results)
    assert october == november == [PSEUDO.episode("amsterdam", "402719")]
    # in one delivery the two spellings are one record number twice: a duplicate, located, unshown
    rows = [good_row(1, record_id="402719"), good_row(2, record_id="٤٠٢٧١٩")]
    path = write_sheet(tmp_path / "both.xlsx", ams, rows, stand_per=date(2020, 10, 31))
    result = process_delivery(path, ams, "2020-10", PSEUDO)
    duplicates = sorted(f.excel_row for f in result.findings if f.code == "episode-duplicate")
    assert duplicates == [6, 7] and result.episodes.empty
    shown = " ".join(str(f.as_row(lang)) for f in result.findings for lang in ("nl", "en"))
    shown += result.quarantine.to_string()
    for number in ("402719", "٤٠٢٧١٩"):
        assert number not in shown, number


@pytest.mark.parametrize("text", ["Terug naar BBB ٠٩٧٠٨٥٩٥٥٧", "tel ０６１２３４５６７８", "४०२७१९ en 6652٣٢٧٨٠٠"])
def test_free_text_loses_digit_runs_of_any_script(text):
    """scrub_digits masks a run of six or more decimal digits whatever their script (`\\d` in a
    str pattern): someone else's V-number in Arabic-Indic digits in a label is masked too."""
    from transforms.scrub import MASK, scrub_digits

    scrubbed = scrub_digits(text)
    assert MASK in scrubbed and not any(ch.isdecimal() for ch in scrubbed)


@pytest.mark.parametrize("record, label", [("٣٤٥٦٧", "terug, dossier 34567 gesloten"),
                                           ("34567", "terug, dossier ٣٤٥٦٧ gesloten"),
                                           ("３４５６７", "terug, dossier 3-4567 gesloten")])
def test_a_rows_own_record_number_is_masked_in_its_text_whatever_the_digits_of_either(record, label):
    """A row's own number of five digits (under scrub_digits' six) is masked in text kept from that
    row when the number or the text is typed in another script's digits; the rest of the text stays
    as typed."""
    from transforms.scrub import MASK, identifier_pattern, scrub

    scrubbed = scrub(label, identifier_pattern([record]))
    assert scrubbed == f"terug, dossier {MASK} gesloten", scrubbed
    assert scrub("dossier ٣٤٥٦٨ en ٣٤٥٦٧", identifier_pattern(["34567"])) == f"dossier ٣٤٥٦٨ en {MASK}"
