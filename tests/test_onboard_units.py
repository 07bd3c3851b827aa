"""The pieces of onboarding one by one: identifier hygiene, the new contract keys, month folders,
the quarantine line, and `lvv contract draft` where it must stop and ask."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import ContractError, RecordIds, SourceContract, contract_for, load_contract
from tests.conftest import good_row, write_sheet
from transforms.contract_draft import check_draft, draft_contract
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.discover import discover, missing_months, month_files
from transforms.export_rules import stand_per_from_name
from transforms.protect import Pseudonymiser
from transforms.publish import publish
from transforms.store import save_result
from transforms.values import normalise_person_id

PSEUDO = Pseudonymiser("test-key")
OCT, NOV = date(2020, 10, 31), date(2020, 11, 30)


# ------------------------------------------------------------------ identifiers
@pytest.mark.parametrize("cell, canonical, changed", [
    ("6652 327 800", "6652327800", True),
    ("6652.327.800", "6652327800", True),
    ("6652-327-800", "6652327800", True),
    ("V6652327800", "6652327800", True),
    ("v 6652 327 800", "6652327800", True),
    ("V-0012.345.678", "0012345678", True),
    ("6652\u00a0327\u00a0800", "6652327800", True),     # non-breaking spaces from a web form
    (12345678, "0012345678", True),                      # a number cell lost two zeros
    (12345678.0, "0012345678", True),
    (6652327800, "6652327800", False),
    ("665232780.0", "0665232780", True),                 # a number cell exported as text: not a dot
    ("6652327800.0", "6652327800", True),
    ("6652327800", "6652327800", False),
    (" 6652327800 ", "6652327800", False),
    ("123456789", "123456789", False),                   # text: nothing says a zero was lost
    ("66523278001", "66523278001", False),               # eleven digits stay wrong
    ("VW6652327800", "VW6652327800", False),
    ("６６５２３２７８００", "6652327800", True),           # full-width digits: the same V-number (defect B)
    (None, None, False),
])
def test_v_numbers_are_normalised_only_where_the_digits_are_unambiguous(cell, canonical, changed):
    assert normalise_person_id(cell) == (canonical, changed)


def test_one_info_finding_counts_the_rows_normalised_and_nothing_is_quarantined(tmp_path, amsterdam):
    rows = [good_row(1, person_id="1000 000 001"), good_row(2, person_id="V1000000002"),
            good_row(3, person_id=12345678), good_row(4), good_row(5, person_id="12AB")]
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=OCT)
    result = process_delivery(path, amsterdam, "2020-10", PSEUDO)
    normalised = [f for f in result.findings if f.code == "person-id-normalised"]
    assert len(normalised) == 1 and normalised[0].params["count"] == 3 and normalised[0].value == ""
    assert result.delivery["rows_quarantined"] == 1  # only '12AB'
    assert set(result.episodes["person_id"]) >= {PSEUDO.person("1000000001"), PSEUDO.person("0012345678")}


def test_validate_shows_the_raw_value_and_the_pipeline_never_does(tmp_path, amsterdam):
    path = write_sheet(tmp_path / "2020-10" / "a.xlsx", amsterdam, [good_row(1, person_id="6652 327 80")],
                       stand_per=OCT)
    done = CliRunner().invoke(app, ["validate", str(path), "--municipality", "amsterdam", "--format", "json"])
    shown = [f["value"] for f in json.loads(done.output)["findings"] if f["code"] == "person-id-malformed"]
    assert shown == ["6652 327 80"]
    stored = process_delivery(path, amsterdam, "2020-10", PSEUDO)
    values = [f.value for f in stored.findings if f.code == "person-id-malformed"]
    assert values and "6652" not in values[0]
    assert "6652" not in stored.quarantine.to_csv()


def test_record_numbers_are_normalised_as_the_contract_says():
    rule = RecordIds(case="upper", strip_prefix="DOS-")
    assert [rule.normalise(v) for v in (" dos-0012 ", "DOS-0012", "0012", None)] == ["0012", "0012", "0012", None]
    assert RecordIds().normalise(" d-12 ") == "d-12"
    assert RecordIds(trim=False).normalise(" 12") == " 12"


# ------------------------------------------------------------------ contract keys, strictly
def contract_text(**changes) -> dict:
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "schemas/sources/utrecht.yaml").read_text())
    for key, value in changes.items():
        target = raw
        *path, last = key.split(".")
        for part in path:
            target = target[part]
        target[last] = value
    return raw


@pytest.mark.parametrize("changes, message", [
    ({"ignore_columns": ["Achternaam"]}, "also mapped"),
    ({"columns.full_name": "Naam"}, "full_name replaces"),
    ({"file.stand_per": {"file_name": "%Y%m%d%H"}}, "only %Y, %m and %d"),
    ({"file.stand_per": {"file_name": "%Y%m"}}, "must hold %Y, %m and %d"),
    ({"file.stand_per": {}}, "needs a label, a file_name"),
    ({"record_ids": {"case": "title"}}, "record_ids.case"),
    ({"record_ids": {"prefix": "D-"}}, "record_ids.prefix"),
    ({"labels_with_code": "ja"}, "labels_with_code"),
    ({"not_data": {"first_cell_matches": ["(totaal"]}}, "not a regular expression"),
])
def test_a_wrong_new_key_is_refused_at_load_with_the_key_named(tmp_path, changes, message):
    path = tmp_path / "utrecht.yaml"
    path.write_text(yaml.safe_dump(contract_text(**changes), allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContractError, match=message.replace("(", r"\(")):
        load_contract(path)


def test_labels_with_code_match_whatever_the_code_notation():
    contract = SourceContract.model_validate(contract_text(labels_with_code=True, outcomes={
        "03 - Terugkeer": "return_independent", "10 - VB - uitgezet":
        {"outcome": "immigration_detention", "follow_up": "forced_departure"}}))
    lookup = contract.outcome_lookup()
    assert lookup[contract.label_key("3. terugkeer")] == ("return_independent", None)
    assert lookup[contract.label_key("03: Terugkeer")] == ("return_independent", None)
    assert lookup[contract.label_key("10 - VB - uitgezet")] == ("immigration_detention", "forced_departure")
    assert contract.label_key("VB - uitgezet") == "vb - uitgezet"  # text without a number keeps its dash


def test_the_row_count_line_is_checked_and_skipped(tmp_path, amsterdam):
    counted = amsterdam.model_copy(update={"file": amsterdam.file.model_copy(update={"row_count_label": "Aantal regels"})})
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1), good_row(2), good_row(3)], stand_per=OCT,
                       extra_rows=[["Aantal regels:", "3.000"]])
    result = process_delivery(path, counted, "2020-10", PSEUDO)
    mismatch = [f for f in result.findings if f.code == "row-count-mismatch"]
    assert len(mismatch) == 1 and mismatch[0].params == {"stated": 3000, "read": 3}
    assert mismatch[0].cell_ref == "A9" and result.delivery["rows_skipped"] == 1


def test_the_stand_per_date_from_the_file_name_takes_the_last_valid_date(amsterdam):
    named = amsterdam.model_copy(update={"file": amsterdam.file.model_copy(
        update={"stand_per": amsterdam.file.stand_per.model_copy(update={"file_name": "%Y-%m-%d"})})})
    assert stand_per_from_name("lvv_2021-03-31_v2_2021-04-02.xlsx", named) == date(2021, 4, 2)
    assert stand_per_from_name("lvv_2021-02-30.xlsx", named) is None
    assert stand_per_from_name("lvv_2021-02-30.xlsx", amsterdam) is None


# ------------------------------------------------------------------ month folders
def test_the_latest_version_stands_with_numbers_compared_as_numbers(tmp_path):
    folder = tmp_path / "raw" / "amsterdam" / "2020-10"
    folder.mkdir(parents=True)
    for name in ("export_v10.xlsx", "export_v9.xlsx", "export.xlsx", "Export_v2.xlsx", "~$export.xlsx"):
        (folder / name).write_bytes(b"x")
    assert [p.name for p in month_files(folder)] == ["export.xlsx", "Export_v2.xlsx", "export_v9.xlsx",
                                                     "export_v10.xlsx"]
    found, notes = discover(tmp_path / "raw", {"amsterdam": contract_for("amsterdam")})
    assert [f.path.name for f in found] == ["export_v10.xlsx"]
    assert any("export_v10.xlsx stands" in n and "export_v9.xlsx" in n for n in notes)


def test_a_month_not_delivered_is_a_gap_covered_by_the_next_delivery():
    assert missing_months(["2020-10", "2021-01", "2020-11"]) == [("2020-12", "2021-01")]
    assert missing_months(["2020-12", "2021-01"]) == []


# ------------------------------------------------------------------ quarantine's effect on a figure
def test_quarantine_impact_counts_stale_and_missing_episodes(tmp_path, amsterdam):
    october = [good_row(1), good_row(2), good_row(3)]
    november = [good_row(1, exit_date=date(2020, 11, 5), outcome="MOB", intake_date="onbekend"),  # stale
                good_row(2), good_row(3), good_row(4, person_id="12AB")]                            # missing
    staged = tmp_path / "curated" / "staged"
    for period, rows, stand_per in (("2020-10", october, OCT), ("2020-11", november, NOV)):
        path = write_sheet(tmp_path / "raw" / "amsterdam" / period / "a.xlsx", amsterdam, rows, stand_per=stand_per)
        save_result(staged, process_delivery(path, amsterdam, period, PSEUDO))
    publish(tmp_path / "curated", curated_tables(staged))
    con = duckdb.connect(str(tmp_path / "curated" / "lvv.duckdb"), read_only=True)
    now = con.execute("select municipality, latest_delivery, episodes_stale, episodes_missing "
                      "from quarantine_impact(date '2020-11-30')").fetchall()
    then = con.execute("select episodes_stale, episodes_missing "
                       "from quarantine_impact(date '2020-11-30', known_at := date '2020-10-31')").fetchall()
    before = con.execute("select episodes_stale from quarantine_impact(date '2019-08-31')").fetchall()
    con.close()
    assert now == [("amsterdam", "amsterdam/2020-11", 1, 1)]
    assert then == [(0, 0)] and before == [(0,)]  # intake 01-09-2019 is after that reference date
    # the report's data-quality table says the same of the latest delivery at its reference date
    from transforms.monthly_report import gather

    latest = gather(tmp_path / "curated" / "lvv.duckdb", date(2020, 11, 30), ["programme"]).deliveries
    assert latest[["delivery_id", "episodes_stale", "episodes_missing"]].values.tolist() == [
        ["amsterdam/2020-11", 1, 1]]
    done = CliRunner().invoke(app, ["outflow", "--ref-date", "2020-11-30", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0 and "1 episodes counted at an older version and 1 not counted" in done.output


def test_outflow_by_an_unknown_dimension_is_a_usage_error(tmp_path):
    done = CliRunner().invoke(app, ["outflow", "--ref-date", "2020-11-30", "--by", "line",
                                    "--data-dir", str(tmp_path)], standalone_mode=False)
    assert "--by takes 'municipality' or 'outcome'" in str(done.exception)


# ------------------------------------------------------------------ the draft stops where it must
def test_a_draft_without_a_required_column_lists_the_line_to_decide(tmp_path, amsterdam):
    headers = dict(amsterdam.columns, exit_date="Vertrokken per")  # no synonym comes close enough
    rows = [good_row(1, exit_date=date(2020, 5, 1), outcome="Hervestiging"), good_row(2)]
    path = write_sheet(tmp_path / "a.xlsx", amsterdam, rows, stand_per=OCT, headers=headers)
    draft = draft_contract([path], "Tiel")
    verdict = check_draft(draft, [path])
    assert not verdict.ok and [line.split(":", 1)[1].split(":", 1)[0].strip() for line in verdict.to_decide] \
        == ["exit_date", '"Hervestiging"']
    done = CliRunner().invoke(app, ["contract", "draft", str(path), "--municipality", "Tiel"])
    assert done.exit_code == 1 and "to decide" in done.output


def test_a_draft_of_several_files_unions_their_labels(tmp_path, amsterdam):
    first = write_sheet(tmp_path / "1.xlsx", amsterdam, [good_row(1, exit_date=date(2020, 5, 1), outcome="MOB")],
                        stand_per=OCT)
    second = write_sheet(tmp_path / "2.xlsx", amsterdam, [good_row(2, exit_date=date(2020, 6, 1),
                                                                   outcome="Vreemdelingenbewaring",
                                                                   follow_up="Vrijgelaten")], stand_per=OCT)
    draft = draft_contract([first, second], "Tiel")
    outcomes = yaml.safe_load(draft)["outcomes"]
    assert outcomes == {"MOB": "departed_unknown", "Vreemdelingenbewaring": "immigration_detention"}
    assert yaml.safe_load(draft)["follow_ups"] == {"Vrijgelaten": "released"}
    assert check_draft(draft, [first, second]).ok


def test_a_draft_passes_over_hidden_and_summary_sheets(tmp_path, amsterdam):
    import openpyxl

    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1), good_row(2)], stand_per=OCT)
    book = openpyxl.load_workbook(path)
    summary = book.create_sheet("Overzicht", 0)
    summary.append(["Aantal", 2])
    old = book.create_sheet("Oud")  # a hidden copy of an older layout, with more rows
    old.append(list(amsterdam.columns.values()))
    for n in range(10):
        old.append([f"R{n}", "1000000001", "X", "Y", "01-01-2019"])
    old.sheet_state = "hidden"
    book.save(path)
    draft = yaml.safe_load(draft_contract([path], "Tiel"))
    assert draft["file"]["sheet"] == amsterdam.file.sheet and draft["file"]["header_row"] == 5


def test_a_draft_takes_a_hidden_data_sheet_when_no_visible_sheet_has_a_header_and_says_so(tmp_path, amsterdam):
    """An export whose one data sheet is hidden, a visible cover sheet in front: a delivery is read
    from it (with the warning sheet-hidden), so the draft finds it too and marks it to check;
    before, it said no sheet had a header."""
    import openpyxl

    path = write_sheet(tmp_path / "a.xlsx", amsterdam, [good_row(1), good_row(2)], stand_per=OCT)
    book = openpyxl.load_workbook(path)
    cover = book.create_sheet("Toelichting", 0)
    cover.append(["Export uit het registratiesysteem"])
    book[amsterdam.file.sheet].sheet_state = "hidden"
    book.active = 0
    book.save(path)
    text = draft_contract([path], "Tiel")
    draft = yaml.safe_load(text)
    assert draft["file"]["sheet"] == amsterdam.file.sheet and draft["file"]["header_row"] == 5
    sheet_line = next(line for line in text.splitlines() if line.strip().startswith("sheet:"))
    assert "# CHECK" in sheet_line and "hidden" in sheet_line


def test_a_full_name_column_is_dropped_even_from_the_quarantine(tmp_path, amsterdam):
    columns = {f: h for f, h in amsterdam.columns.items() if f not in ("family_name", "given_name")}
    named = SourceContract.model_validate({**amsterdam.model_dump(mode="json"),
                                           "columns": {**columns, "full_name": "Naam cliënt"}})
    rows = [{**good_row(1, intake_date="onbekend"), "full_name": "Zoë Tekle"}, good_row(2)]
    path = write_sheet(tmp_path / "a.xlsx", named, rows, stand_per=OCT)
    result = process_delivery(path, named, "2020-10", PSEUDO)
    assert len(result.quarantine) == 1 and "raw_intake_date" in result.quarantine.columns
    assert "Zoë" not in result.quarantine.to_csv() and "Zoë" not in str([f.as_row() for f in result.findings])
