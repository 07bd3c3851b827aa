"""Findings across deliveries: duplicates, revisions, one person in two LVVs, nothing lost."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.history import state_at
from transforms.protect import Pseudonymiser
from transforms.revisions import ISSUE_COLUMNS, duplicate_deliveries
from transforms.store import save_result

PSEUDO = Pseudonymiser("test-key")
MONTH_END = {"2020-09": date(2020, 9, 30), "2020-10": date(2020, 10, 31), "2020-11": date(2020, 11, 30)}


def store(root: Path, municipality: str, period: str, rows: list[dict], **layout) -> dict:
    contract = contract_for(municipality)
    suffix = "csv" if contract.file.type == "csv" else "xlsx"
    path = write_sheet(root / "raw" / municipality / period / f"export.{suffix}", contract, rows,
                       stand_per=MONTH_END[period], **layout)
    result = process_delivery(path, contract, period, PSEUDO)
    save_result(root / "staged", result)
    return result.delivery


def issues(root: Path) -> pd.DataFrame:
    return curated_tables(root / "staged")["validation_issues"]


# ------------------------------------------------------------------ same file twice
def test_duplicate_delivery_names_the_original_and_only_flags_the_later_one():
    records = [{"municipality": "utrecht", "period": "2020-11", "sha256": "x", "file": "utrecht/2020-11/b.xlsx"},
               {"municipality": "utrecht", "period": "2020-10", "sha256": "x", "file": "utrecht/2020-10/a.xlsx"},
               {"municipality": "amsterdam", "period": "2020-10", "sha256": "x", "file": "amsterdam/2020-10/a.xlsx"},
               {"municipality": "utrecht", "period": "2020-12", "sha256": None, "file": "utrecht/2020-12/c.xlsx"}]
    [item] = duplicate_deliveries(records)
    assert item.delivery_id == "utrecht/2020-11" and item.finding.code == "delivery-duplicate"
    assert item.finding.severity == "fatal" and item.finding.file == "utrecht/2020-11/b.xlsx"
    assert "utrecht/2020-10/a.xlsx (2020-10)" in item.as_row("nl")["message"]


# ------------------------------------------------------------------ revisions, located
def test_revisions_say_which_delivery_which_episode_before_and_after(tmp_path):
    store(tmp_path, "amsterdam", "2020-10", [
        good_row(1, exit_date=date(2020, 10, 20), outcome="MOB"), good_row(2),
        good_row(3, exit_date=date(2020, 10, 1), outcome="Detentie"), good_row(4)])
    store(tmp_path, "amsterdam", "2020-11", [
        good_row(1, exit_date=date(2020, 10, 20), outcome="Zelfstandig vertrek"),
        good_row(2, intake_date=date(2019, 8, 1)), good_row(3)])
    found = issues(tmp_path).set_index("code")
    assert set(found.index) == {"outcome-changed", "intake-changed", "exit-withdrawn", "episode-disappeared"}
    assert (found["delivery_id"] == "amsterdam/2020-11").all() and (found["severity"] == "warning").all()
    changed = found.loc["outcome-changed"]
    assert changed["cell_ref"] == "H6" and changed["column_header"] == "Reden uitstroom"
    assert changed["value_before"] == "MOB (departed_unknown)"
    assert changed["value"] == "Zelfstandig vertrek (return_independent)"
    assert changed["episode_id"] == PSEUDO.episode("amsterdam", "R0001")
    intake = found.loc["intake-changed", ["cell_ref", "value_before", "value"]].tolist()
    assert intake == ["F7", "01-09-2019", "01-08-2019"]
    assert found.loc["exit-withdrawn", ["cell_ref", "value_before"]].tolist() == ["G8", "01-10-2020"]
    gone = found.loc["episode-disappeared"]
    assert gone["episode_id"] == PSEUDO.episode("amsterdam", "R0004") and pd.isna(gone["excel_row"])
    assert gone["episode_id"] in gone["message"] and "2020-10" in gone["message"]
    text = found.to_csv()
    assert "R0001" not in text and "1000000001" not in text


def test_an_episode_left_out_of_one_delivery_and_back_unchanged_in_the_next_is_reported_gone(tmp_path):
    """September and November state R0002 the same way; October leaves it out. Its September
    version ends at October and a new one starts in November: October dropped it."""
    store(tmp_path, "amsterdam", "2020-09", [good_row(1), good_row(2)])
    store(tmp_path, "amsterdam", "2020-10", [good_row(1)])
    store(tmp_path, "amsterdam", "2020-11", [good_row(1), good_row(2)])
    found = issues(tmp_path)
    assert found[["delivery_id", "code", "episode_id"]].values.tolist() == [
        ["amsterdam/2020-10", "episode-disappeared", PSEUDO.episode("amsterdam", "R0002")]]


def test_a_quarantined_row_is_no_revision_and_is_released_by_the_next_delivery(tmp_path):
    """September valid, October's row quarantined (the September version stays in force),
    November valid again: no revision warning for October, the exit is in force from November."""
    store(tmp_path, "amsterdam", "2020-09", [good_row(1), good_row(2)])
    store(tmp_path, "amsterdam", "2020-10", [good_row(1, exit_date="31-02-2020", outcome="MOB"), good_row(2)])
    store(tmp_path, "amsterdam", "2020-11", [good_row(1, exit_date=date(2020, 10, 5), outcome="MOB"), good_row(2)])
    tables = curated_tables(tmp_path / "staged")
    versions = tables["episode_versions"]
    e1 = versions[versions["episode_id"] == PSEUDO.episode("amsterdam", "R0001")]
    assert e1["known_from"].tolist() == [date(2020, 9, 30), date(2020, 11, 30)]
    assert e1["exit_date"].isna().tolist() == [True, False]
    assert len(state_at(versions, date(2020, 10, 31))) == 2  # still in force while quarantined
    quarantined = tables["quarantined_rows"]
    assert quarantined[["delivery_id", "excel_row", "reasons", "raw_exit_date"]].values.tolist() == [
        ["amsterdam/2020-10", 6, "date-unparseable", "31-02-2020"]]
    assert quarantined.loc[0, "person_id"] == PSEUDO.person("1000000001")
    revision_codes = set(tables["validation_issues"].query("level == 'revision'")["code"])
    assert revision_codes == set()


# ------------------------------------------------------------------ one person in two municipalities
def test_person_open_in_two_municipalities_is_flagged_in_both_latest_deliveries(tmp_path):
    same = "1000000077"
    store(tmp_path, "amsterdam", "2020-10", [good_row(1, person_id=same), good_row(2)])
    store(tmp_path, "utrecht", "2020-10", [good_row(5, person_id=same, intake_date=date(2020, 3, 1)), good_row(6)])
    found = issues(tmp_path).query("code == 'person-open-elsewhere'").set_index("delivery_id")
    assert sorted(found.index) == ["amsterdam/2020-10", "utrecht/2020-10"]
    assert "Utrecht" in found.loc["amsterdam/2020-10", "message"]
    assert found.loc["utrecht/2020-10", ["cell_ref", "value"]].tolist() == ["F3", "01-03-2020"]
    assert found.loc["amsterdam/2020-10", "episode_id"] == PSEUDO.episode("amsterdam", "R0001")


def test_a_move_on_the_exit_day_is_not_open_elsewhere(tmp_path):
    same = "1000000077"
    store(tmp_path, "amsterdam", "2020-10", [good_row(1, person_id=same, exit_date=date(2020, 3, 1),
                                                     outcome="Andere opvang")])
    store(tmp_path, "utrecht", "2020-10", [good_row(5, person_id=same, intake_date=date(2020, 3, 1))])
    assert "person-open-elsewhere" not in set(issues(tmp_path)["code"])


# ------------------------------------------------------------------ nothing lost
@pytest.mark.parametrize("municipality", ["amsterdam", "eindhoven"])
def test_every_row_is_curated_quarantined_or_skipped(tmp_path, municipality):
    rows = [good_row(1), good_row(2, intake_date="onbekend"), good_row(3, person_id=None),
            good_row(1, person_id="1000000099"), good_row(5, exit_date=date(2020, 5, 1), outcome="???")]
    store(tmp_path, municipality, "2020-10", rows, extra_rows=[["Totaal", 5], ["Opmerking: export uit systeem"]])
    store(tmp_path, municipality, "2020-11", [good_row(1), good_row(2)])
    deliveries = curated_tables(tmp_path / "staged")["deliveries"]
    added = deliveries["rows_curated"] + deliveries["rows_quarantined"] + deliveries["rows_skipped"]
    assert (deliveries["rows_read"] == added).all()
    october = deliveries.iloc[0]
    assert (october["rows_read"], october["rows_curated"], october["rows_quarantined"], october["rows_skipped"]) == (
        7, 0, 5, 2)


def test_validation_issues_keep_the_finding_columns_and_add_where_they_belong(tmp_path):
    store(tmp_path, "amsterdam", "2020-10", [good_row(1, intake_date="onbekend")])
    table = issues(tmp_path)
    assert list(table.columns) == ISSUE_COLUMNS
    assert table.loc[0, "delivery_id"] == "amsterdam/2020-10" and table.loc[0, "cell_ref"] == "F6"


def test_a_follow_up_known_later_points_at_the_follow_up_cell(tmp_path):
    detention = dict(exit_date=date(2020, 10, 1), outcome="Vreemdelingenbewaring")
    store(tmp_path, "amsterdam", "2020-10", [good_row(1, **detention)])
    store(tmp_path, "amsterdam", "2020-11", [good_row(1, **detention, follow_up="Uitgezet")])
    [found] = issues(tmp_path).to_dict("records")
    assert (found["code"], found["cell_ref"], found["column_header"]) == (
        "outcome-changed", "I6", "Vervolg na vreemdelingenbewaring")
    assert found["value_before"] == "Vreemdelingenbewaring / Onbekend (immigration_detention/unknown)"
    assert found["value"] == "Vreemdelingenbewaring / Uitgezet (immigration_detention/forced_departure)"


def test_an_earlier_export_sent_again_is_rejected_whole(tmp_path):
    from schemas.contracts import contract_for
    from tests.conftest import good_row, write_sheet
    from transforms.delivery import process_delivery
    from transforms.protect import Pseudonymiser
    from transforms.revisions import reject_if_duplicate

    eindhoven = contract_for("eindhoven")
    october = write_sheet(tmp_path / "2020-10" / "e.csv", eindhoven, [good_row(1, intake_date="01-09-2019")])
    november = tmp_path / "2020-11" / "e.csv"
    november.parent.mkdir()
    november.write_bytes(october.read_bytes())
    pseudo = Pseudonymiser("k")
    first = process_delivery(october, eindhoven, "2020-10", pseudo)
    again = process_delivery(november, eindhoven, "2020-11", pseudo)
    rejected = reject_if_duplicate(again, [first.delivery])
    assert rejected.delivery["status"] == "rejected" and rejected.episodes.empty
    assert [f.code for f in rejected.findings] == ["delivery-duplicate"]
    assert "2020-10" in rejected.findings[0].as_row("en")["message"]
    # the original itself, or a different file, is not a duplicate
    assert reject_if_duplicate(first, [again.delivery]) is first
    other = process_delivery(write_sheet(tmp_path / "x" / "e.csv", eindhoven, [good_row(2, intake_date="01-09-2019")]),
                             eindhoven, "2020-12", pseudo)
    assert reject_if_duplicate(other, [first.delivery]) is other
