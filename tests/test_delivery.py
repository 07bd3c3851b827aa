"""process_delivery on tiny named fixtures: every path from file to protected rows."""

from datetime import date
from pathlib import Path

import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser

PSEUDO = Pseudonymiser("test-key")


def run(path: Path, municipality: str = "amsterdam", period: str = "2020-10"):
    return process_delivery(path, contract_for(municipality), period, PSEUDO)


def codes(result) -> list[str]:
    return sorted(f.code for f in result.findings)


def test_good_delivery_is_curated_whole_and_protected(tmp_path, amsterdam):
    rows = [good_row(1), good_row(2, exit_date=date(2020, 5, 1), outcome="MOB"),
            good_row(3, exit_date=date(2020, 6, 1), outcome="Vreemdelingenbewaring", follow_up="Uitgezet")]
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 10, 31))
    result = run(path)
    assert result.accepted and codes(result) == []
    assert result.delivery["stand_per"] == date(2020, 10, 31) and result.delivery["stand_per_stated"]
    assert result.delivery["rows_read"] == result.delivery["rows_curated"] == 3
    episodes = result.episodes.set_index("excel_row")
    assert episodes.loc[7, "outcome_code"] == "departed_unknown"
    assert episodes.loc[8, ["outcome_code", "follow_up_code"]].tolist() == ["immigration_detention", "forced_departure"]
    text = result.episodes.to_csv()
    for raw in ("1000000001", "R0001", "Testnaam", "1990"):
        assert raw not in text
    assert episodes.loc[6, "person_id"] == PSEUDO.person("1000000001")


def test_labels_match_whatever_the_capitals_and_spaces(tmp_path, amsterdam):
    rows = [good_row(1, exit_date=date(2020, 5, 1), outcome="  zelfstandig   VERTREK "),
            good_row(2, exit_date=date(2020, 5, 1), outcome="art. 64")]
    result = run(write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 10, 31)))
    assert result.episodes["outcome_code"].tolist() == ["return_independent", "postponed_departure"]


def test_unknown_label_is_an_error_with_suggestions_never_a_null(tmp_path, amsterdam):
    rows = [good_row(1), good_row(2, exit_date=date(2020, 5, 1), outcome="Gedwongen vertrok")]
    result = run(write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 10, 31)))
    [finding] = [f for f in result.findings if f.code == "outcome-unknown-label"]
    assert finding.cell_ref == "H7" and finding.value == "Gedwongen vertrok"
    assert "'Gedwongen vertrek'" in finding.as_row("en")["message"]
    assert result.delivery["rows_quarantined"] == 1 and result.delivery["rows_curated"] == 1
    assert result.quarantine.loc[0, "raw_outcome"] == "Gedwongen vertrok"


def test_totals_row_is_skipped_and_rows_add_up(tmp_path, amsterdam):
    rows = [good_row(1), good_row(2, intake_date="31-02-2020")]
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 10, 31),
                       extra_rows=[[], ["Totaal", 2]])
    d = run(path).delivery
    assert (d["rows_read"], d["rows_curated"], d["rows_quarantined"], d["rows_skipped"]) == (3, 1, 1, 1)


@pytest.mark.parametrize("change, code, cell", [
    (dict(exit_date=date(2019, 1, 1), outcome="MOB"), "exit-before-intake", "G6"),
    (dict(exit_date=date(2020, 5, 1)), "exit-without-outcome", "H6"),
    (dict(outcome="MOB"), "outcome-without-exit", "G6"),
    (dict(exit_date=date(2020, 5, 1), outcome="MOB", follow_up="Uitgezet"), "follow-up-not-detention", "I6"),
    (dict(exit_date=date(2020, 11, 5), outcome="MOB"), "date-after-delivery", "G6"),
    (dict(person_id="12345"), "person-id-malformed", "B6"),
    (dict(person_id=None), "person-id-missing", "B6"),
    (dict(intake_date="onbekend"), "date-unparseable", "F6"),
])
def test_each_field_check_locates_its_cell(tmp_path, amsterdam, change, code, cell):
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1, **change)], stand_per=date(2020, 10, 31))
    result = run(path)
    found = [f for f in result.findings if f.code == code]
    assert [f.cell_ref for f in found] == [cell]
    assert result.delivery["rows_quarantined"] == 1


def test_duplicate_record_quarantines_both_rows(tmp_path, amsterdam):
    rows = [good_row(1), good_row(1, person_id="1000000009")]
    result = run(write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 10, 31)))
    assert [f.cell_ref for f in result.findings if f.code == "episode-duplicate"] == ["A6", "A7"]


def test_person_identifier_never_shown_in_findings(tmp_path, amsterdam):
    result = run(write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1, person_id="12345")],
                             stand_per=date(2020, 10, 31)))
    rows = [f.as_row("nl") for f in result.findings]
    assert rows and all("12345" not in str(r) for r in rows)


def test_csv_in_windows_1252_with_day_first_dates(tmp_path):
    eindhoven = contract_for("eindhoven")
    rows = [good_row(1, family_name="Çelik-Öztürk", intake_date="05-09-2019",
                     exit_date="31-10-2020", outcome="VB - uitgezet")]
    result = run(write_sheet(tmp_path / "e.csv", eindhoven, rows), "eindhoven")
    assert codes(result) == []
    ep = result.episodes.iloc[0]
    assert (ep["exit_date"], ep["outcome_code"], ep["follow_up_code"]) == (
        date(2020, 10, 31), "immigration_detention", "forced_departure")
    assert result.delivery["stand_per"] == date(2020, 10, 31) and not result.delivery["stand_per_stated"]


def test_excel_serial_dates(tmp_path):
    groningen = contract_for("groningen")
    rows = [good_row(1, intake_date=43556, exit_date=44135, outcome="Vreemdelingenbewaring")]
    result = run(write_sheet(tmp_path / "g.xlsx", groningen, rows, stand_per=date(2020, 10, 31)), "groningen")
    ep = result.episodes.iloc[0]
    assert (ep["intake_date"], ep["exit_date"], ep["follow_up_code"]) == (
        date(2019, 4, 1), date(2020, 10, 31), "unknown")


@pytest.mark.parametrize("content, code", [
    (b"\x00\x01garbage" * 50, "file-not-spreadsheet"),
    (b"", "file-not-spreadsheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "file-password-protected"),
    (b"PK\x03\x04" + b"\x00" * 64, "file-unreadable"),
])
def test_unusable_files_are_rejected_whole_with_one_finding(tmp_path, content, code):
    path = tmp_path / "x.xlsx"
    path.write_bytes(content)
    result = run(path)
    assert not result.accepted
    assert codes(result) == [code]


def test_missing_sheet_and_missing_column_name_what_is_there(tmp_path, amsterdam):
    headers = dict(amsterdam.columns, exit_date="Datum uitstr.")
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1)], stand_per=date(2020, 10, 31),
                       headers=headers)
    result = run(path)
    [finding] = result.findings
    assert finding.code == "column-missing"
    assert finding.params == {"expected": "Datum uitstroom", "closest": "Datum uitstr."}
    other = contract_for("utrecht")
    result = run(path, "utrecht")
    assert codes(result) == ["sheet-missing"] and "Cliënten LVV" in result.findings[0].params["found"]


def test_stand_per_in_another_month_rejects_the_delivery(tmp_path, amsterdam):
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1)], stand_per=date(2020, 9, 30))
    assert codes(run(path, period="2020-10")) == ["period-inconsistent"]


def test_unknown_extra_column_is_a_warning_and_not_processed(tmp_path, amsterdam):
    headers = dict(amsterdam.columns, given_name="Notitie")  # a column the contract does not name
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1)], stand_per=date(2020, 10, 31),
                       headers=headers)
    result = run(path)
    assert codes(result) == ["column-unknown"] and result.accepted


def test_the_stewards_check_imports_neither_numpy_nor_pandas(tmp_path, amsterdam):
    """check_delivery (`lvv validate`) reads and checks a delivery without numpy, pandas or pandera:
    importing them alone takes longer than a steward's check may (transforms/stage.py keeps its
    numpy imports inside the functions that need them). In a new process, on a delivery with a
    finding of each kind of row parse (the row-by-row path runs)."""
    import subprocess
    import sys

    rows = [good_row(1), good_row(2, intake_date="31-02-2020"), good_row(3, person_id="12345"),
            good_row(4, outcome="Onbekend")]
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=date(2020, 10, 31))
    code = (
        "import sys; from pathlib import Path; from schemas.contracts import contract_for\n"
        "from transforms.delivery import check_delivery; from transforms.protect import Pseudonymiser\n"
        f"r = check_delivery(Path({str(path)!r}), contract_for('amsterdam'), '2020-10', Pseudonymiser('k'))\n"
        "print(len(r.findings), sorted(m for m in ('numpy', 'pandas', 'pandera', 'pyarrow') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 3 and out[1].strip() == "[]"
