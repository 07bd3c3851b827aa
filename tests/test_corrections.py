"""Corrections files: parsed and checked like a delivery, applied on top of the history."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.corrections import corrections_fingerprint, read_corrections
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.history import state_at
from transforms.protect import Pseudonymiser
from transforms.publish import publish
from transforms.queries import connect, outflow
from transforms.store import save_result

PSEUDO = Pseudonymiser("test-key")
OCT, NOV = date(2020, 10, 31), date(2020, 11, 30)
HEADER = "verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum"
E = lambda n: PSEUDO.episode("amsterdam", f"R{n:04d}")  # noqa: E731


@pytest.fixture
def history(tmp_path) -> Path:
    """Amsterdam, October: row 6 open, row 7 MOB on 01-10, row 8 an unreadable intake date.
    November: row 7 says 'Zelfstandig vertrek', row 8 is fixed; row 6 still open."""
    ams = contract_for("amsterdam")
    october = [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="MOB"), good_row(3, intake_date="onbekend")]
    november = [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="Zelfstandig vertrek"), good_row(3)]
    for period, rows, stand_per in (("2020-10", october, OCT), ("2020-11", november, NOV)):
        path = write_sheet(tmp_path / "raw" / "amsterdam" / period / "a.xlsx", ams, rows, stand_per=stand_per)
        save_result(tmp_path / "staged", process_delivery(path, ams, period, PSEUDO))
    return tmp_path


def corrected(root: Path, *lines: str, name: str = "corrections.csv") -> dict[str, pd.DataFrame]:
    (root / "raw" / "amsterdam" / name).write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return curated_tables(root / "staged", root / "raw")


def versions_of(tables: dict, episode: str) -> pd.DataFrame:
    v = tables["episode_versions"]
    return v[v["episode_id"] == episode].reset_index(drop=True)


def correction_issues(tables: dict) -> pd.DataFrame:
    issues = tables["validation_issues"]
    return issues[issues["delivery_id"] == "amsterdam/corrections"].reset_index(drop=True)


# ------------------------------------------------------------------ reading the file
def test_file_in_english_with_commas_and_excel_dates(tmp_path):
    path = tmp_path / "corrections.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Episode", "Field", "New value", "Reason", "Who", "When"])
    sheet.append([E(1), "Datum uitstroom", date(2020, 11, 2), "left", "An", date(2020, 11, 3)])
    sheet.append([E(1), "exit_date", "", "", "An", date(2020, 11, 3)])
    sheet.append(["1234567890", "exit_date", "02-11-2020", "typo", "An", "03-11-2020"])
    book.save(path)
    parsed = read_corrections(path, contract_for("amsterdam"))
    [c] = parsed.corrections
    assert (c.episode_id, c.field, c.new_value, c.when, c.line) == (E(1), "exit_date", "02-11-2020", date(2020, 11, 3), 2)
    assert [(f.code, f.cell_ref) for f in parsed.findings] == [("correction-incomplete", "D3"),
                                                               ("correction-incomplete", "A4")]
    assert parsed.findings[1].value == "(verborgen)"  # a V-number typed by mistake is never shown


def test_a_file_without_the_required_columns_is_unreadable_and_nothing_applies(tmp_path):
    path = tmp_path / "corrections.csv"
    path.write_text("verblijf,veld,nieuwe waarde\nE0,exit_date,01-01-2020\n", encoding="utf-8")
    parsed = read_corrections(path, contract_for("amsterdam"))
    assert parsed.corrections == [] and [f.code for f in parsed.findings] == ["corrections-unreadable"]
    assert "reden" in parsed.findings[0].as_row("nl")["message"]


# ------------------------------------------------------------------ applying
def test_correction_is_a_new_version_with_its_reason_from_its_date(history):
    tables = corrected(history, ";2020-11;6;instroomdatum;02-09-2019;typfout, zie dossier;Jan;06-12-2020",
                       ";2020-11;6;uitstroomreden;Terugkeer;;Jan;06-12-2020")
    v = versions_of(tables, E(1))
    assert v["known_from"].tolist() == [OCT, date(2020, 12, 6)] and v["version"].tolist() == [1, 2]
    assert v["intake_date"].tolist() == [date(2019, 9, 1), date(2019, 9, 2)]
    assert v.loc[1, "stated_in"] == "amsterdam/2020-11" and pd.isna(v.loc[0, "correction"])
    assert v.loc[1, "correction"] == "intake_date = '02-09-2019': typfout, zie dossier (Jan, 06-12-2020)"
    issues = correction_issues(tables)
    assert issues[["code", "cell_ref"]].values.tolist() == [["correction-incomplete", "F3"],
                                                             ["correction-applied", "E2"]]
    assert issues.loc[1, "episode_id"] == E(1)


def test_an_exit_without_its_outcome_is_refused_as_a_delivery_would_refuse_it(history):
    tables = corrected(history, ";2020-11;6;uitstroomdatum;05-12-2020;vertrokken;Jan;06-12-2020")
    [issue] = correction_issues(tables).to_dict("records")
    assert issue["code"] == "correction-invalid-value" and "uitstroomreden" in issue["message"]
    assert len(versions_of(tables, E(1))) == 1


def test_exit_and_outcome_corrected_together_and_a_bad_line_does_not_stop_the_good_ones(history):
    tables = corrected(history, f"{E(1)};;;uitstroomdatum;05-12-2020;vertrokken;Jan;06-12-2020",
                       f"{E(1)};;;uitstroomreden;Zelfstandig vertrek;vertrokken;Jan;06-12-2020",
                       f"{E(1)};;;Vervolg na vreemdelingenbewaring;Uitgezet?;vertrokken;Jan;06-12-2020")
    now = state_at(tables["episode_versions"]).set_index("episode_id").loc[E(1)]
    assert (now["exit_date"], now["outcome_code"]) == (date(2020, 12, 5), "return_independent")
    codes = correction_issues(tables)[["code", "cell_ref"]].values.tolist()
    assert codes == [["correction-invalid-value", "E4"], ["correction-applied", "E2"], ["correction-applied", "E3"]]


def test_correction_releases_a_quarantined_row_until_the_next_delivery_confirms_it(history):
    tables = corrected(history, ";2020-10;8;instroomdatum;01-09-2019;typfout;Jan;03-11-2020")
    v = versions_of(tables, E(3))
    assert v["known_from"].tolist() == [date(2020, 11, 3)]  # in force from the correction, kept by November
    assert v.loc[0, "intake_date"] == date(2019, 9, 1) and pd.isna(v.loc[0, "known_to"])
    assert v.loc[0, "stated_in"] == "amsterdam/2020-10" and "typfout" in v.loc[0, "correction"]
    assert correction_issues(tables)["code"].tolist() == ["correction-applied"]
    assert E(3) not in set(state_at(tables["episode_versions"], OCT)["episode_id"])


def test_correction_superseded_by_a_newer_delivery_is_reported_and_gives_way(history):
    tables = corrected(history, ";2020-10;7;uitstroomreden;Terug naar BBB;verkeerd gekozen;Jan;03-11-2020")
    v = versions_of(tables, E(2))
    assert v["outcome_code"].tolist() == ["departed_unknown", "back_to_bbb", "return_independent"]
    assert v["known_from"].tolist() == [OCT, date(2020, 11, 3), NOV]
    [issue] = correction_issues(tables).to_dict("records")
    assert issue["code"] == "correction-superseded" and issue["episode_id"] == E(2)
    assert "2020-11" in issue["message"] and "Zelfstandig vertrek" in issue["message"]


def test_correction_on_a_stand_per_date_leaves_no_empty_version(history):
    tables = corrected(history, ";2020-11;6;instroomdatum;02-09-2019;typfout;Jan;30-11-2020")
    v = versions_of(tables, E(1))
    assert v["known_from"].tolist() == [OCT, NOV]
    assert (v["known_to"].isna() | (v["known_to"] > v["known_from"])).all()
    assert v.loc[1, "intake_date"] == date(2019, 9, 2)


@pytest.mark.parametrize("line, code", [
    (";2020-12;6;uitstroomdatum;05-12-2020;x;Jan;06-12-2020", "correction-unknown-episode"),
    (f"E{'0' * 20};;;uitstroomdatum;05-12-2020;x;Jan;06-12-2020", "correction-unknown-episode"),
    (";2020-11;6;uitstroomreden;Zelfstandig vertrek;x;Jan;06-12-2020", "correction-invalid-value"),  # outcome, no exit
    (";2020-11;6;uitstroomdatum;05-12-2020;x;Jan;01-12-2020", "correction-invalid-value"),  # after its own date
    (";2020-11;6;veld dat niet bestaat;1;x;Jan;06-12-2020", "correction-unknown-field"),
    (";2020-11;6;instroomdatum;02-09-2019;x;Jan;06-12-2999", "correction-incomplete"),  # dated in the future
])
def test_corrections_that_do_not_apply_are_reported_and_change_nothing(history, line, code):
    tables = corrected(history, line)
    assert correction_issues(tables)["code"].tolist() == [code]
    assert tables["episode_versions"]["correction"].isna().all()


def test_follow_up_folded_into_the_label_can_be_corrected(tmp_path):
    ehv = contract_for("eindhoven")
    rows = [good_row(1, intake_date="01-09-2019", exit_date="01-10-2020", outcome="VB")]
    path = write_sheet(tmp_path / "raw" / "eindhoven" / "2020-10" / "e.csv", ehv, rows)
    save_result(tmp_path / "staged", process_delivery(path, ehv, "2020-10", PSEUDO))
    (tmp_path / "raw" / "eindhoven" / "corrections.csv").write_text(
        f"{HEADER}\n;2020-10;2;vervolg;Uitgezet;bericht DT&V;Piet;05-11-2020\n", encoding="cp1252")
    now = state_at(curated_tables(tmp_path / "staged", tmp_path / "raw")["episode_versions"]).iloc[0]
    assert (now["outcome_code"], now["follow_up_code"]) == ("immigration_detention", "forced_departure")


def test_published_macros_answer_with_the_correction_and_as_known_before_it(history):
    tables = corrected(history, ";2020-11;6;uitstroomdatum;05-11-2020;vertrokken;Jan;06-12-2020",
                       ";2020-11;6;uitstroomreden;MOB;vertrokken;Jan;06-12-2020")
    publish(history / "curated", tables)
    con = connect(history / "curated" / "lvv.duckdb")
    try:
        now = outflow(con, date(2020, 12, 1), "programme")
        before = outflow(con, date(2020, 12, 1), "programme", known_at=date(2020, 12, 1))
        corrections = con.execute("select count(*) from episode_versions where correction is not null").fetchone()
    finally:
        con.close()
    assert now["persons"].sum() == before["persons"].sum() + 1
    assert corrections == (1,)


def test_fingerprint_changes_with_the_corrections_file_only(history):
    raw = history / "raw"
    before = corrections_fingerprint(raw, ["amsterdam", "utrecht"])
    (raw / "amsterdam" / "corrections.csv").write_text(HEADER + "\n", encoding="utf-8")
    written = corrections_fingerprint(raw, ["amsterdam", "utrecht"])
    assert written != before and corrections_fingerprint(raw, ["utrecht", "amsterdam"]) == written
