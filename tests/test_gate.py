"""The plausibility gate: implausible deliveries are held, not in force, until released.

The flow tests put a broken Utrecht export for a new month on top of the published demo, as the
issue reproduced it; the unit tests use small deliveries the demo generator never wrote.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from lvv.settings import DEMO_PSEUDONYM_KEY, KEY_ENV, DataPaths
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.delivery import process_delivery
from transforms.gate import HELD, ReleaseError, release_held, verdict, with_gate_status
from transforms.protect import Pseudonymiser
from transforms.queries import outflow
from transforms.reconcile import bridge

TABLE_A = {"legalised": 43, "returned": 50, "onward_migration": 2, "repeat_application": 170,
           "postponed_departure": 20, "departed_unknown": 100, "stay_terminated": 76, "other_non_durable": 76}
SEED = date(2020, 11, 1)
AUGUST = date(2022, 8, 31)


@pytest.fixture
def demo_copy(demo_pristine, tmp_path, monkeypatch) -> DataPaths:
    """A copy of the session's demo publication (conftest: written and run at 2020-11-01)."""
    shutil.copytree(demo_pristine.root, tmp_path / "data", symlinks=True)
    # a file the demo did not write is real data to the pipeline: it needs the key (the demo's)
    monkeypatch.setenv(KEY_ENV, DEMO_PSEUDONYM_KEY)
    return DataPaths.resolve(tmp_path / "data")


def broken_utrecht(paths: DataPaths, record_numbers) -> Path:
    """Utrecht's July 2022 export delivered again as August, its record-number column rewritten."""
    source = next((paths.raw / "utrecht" / "2022-07").glob("*.xlsx"))
    workbook = openpyxl.load_workbook(source)
    sheet = workbook["Export"]
    sheet.cell(1, 2, AUGUST)
    for row in range(3, sheet.max_row + 1):
        if sheet.cell(row, 2).value is not None:  # a data row (not a footer)
            sheet.cell(row, 1).value = record_numbers(row)
    target = paths.raw / "utrecht" / "2022-08" / "lvv_utrecht_202208.xlsx"
    target.parent.mkdir(parents=True)
    workbook.save(target)
    return target


def table_a(database: Path, known_at: date | None = None) -> dict[str, int]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        frame = outflow(con, SEED, "evaluation-2021", known_at)
    finally:
        con.close()
    return dict(zip(frame["line"], frame["persons"].astype(int)))


def run(paths: DataPaths, **options) -> dict:
    from flows.monthly_outflow import RunParameters, monthly_outflow

    return monthly_outflow(RunParameters(data_dir=str(paths.root), reference_date=AUGUST, **options))["run"]


def delivery_row(database: Path, delivery_id: str) -> dict:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute("select * from deliveries where delivery_id = ?", [delivery_id]).df().iloc[0].to_dict()
    finally:
        con.close()


def blank(row: int) -> None:
    """A record-number column emptied."""
    return None


@pytest.fixture(scope="module")
def held_blank(demo_pristine, tmp_path_factory) -> tuple[DataPaths, dict]:
    """The demo with a blank record-number column delivered as August and run once: the state the
    tests of a held delivery start from (each test that runs again works on a copy)."""
    paths = DataPaths.resolve(tmp_path_factory.mktemp("gate-held") / "data")
    shutil.copytree(demo_pristine.root, paths.root, symlinks=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, DEMO_PSEUDONYM_KEY)
        broken_utrecht(paths, blank)
        before = table_a(paths.database)
        record = run(paths)
    return paths, {"before": before, "record": record}


@pytest.fixture
def held(held_blank, tmp_path, monkeypatch) -> DataPaths:
    """A copy of held_blank's data: the August delivery held."""
    shutil.copytree(held_blank[0].root, tmp_path / "data", symlinks=True)
    monkeypatch.setenv(KEY_ENV, DEMO_PSEUDONYM_KEY)
    return DataPaths.resolve(tmp_path / "data")


@pytest.mark.parametrize("numbers", ["blank", "all-the-same"])
def test_a_broken_record_number_column_is_held_and_changes_no_published_figure(numbers, request):
    if numbers == "blank":  # the run the held-delivery tests below start from
        paths, ran = request.getfixturevalue("held_blank")
        before, record = ran["before"], ran["record"]
    else:
        paths = request.getfixturevalue("demo_copy")
        broken_utrecht(paths, lambda row: 20001)
        before = table_a(paths.database)
        record = run(paths)
    assert before == TABLE_A
    assert record["status"] == "published"  # the deliveries view now lists it, held
    assert "held, not in force: utrecht/2022-08" in record["message"]
    assert table_a(paths.database) == TABLE_A
    row = delivery_row(paths.database, "utrecht/2022-08")
    assert row["status"] == HELD
    assert "quarantined" in row["status_reason"] and "lvv" not in row["status_reason"].lower()
    assert [d["status"] for d in record["deliveries"]] == [HELD]


def test_a_released_delivery_changes_the_figures_through_an_accepted_revision(held, monkeypatch):
    monkeypatch.setenv("LVV_USER", "steward-utrecht")
    decision = release_held(held.curated, held.staged, "utrecht/2022-08",
                            "the register was really emptied")
    assert decision["released_by"] == "steward-utrecht"
    refused = run(held)  # the release moves published figures: somebody must accept that
    assert refused["status"] == "awaiting-acceptance" and "--accept-revisions" in refused["message"]
    assert "utrecht" not in refused["message"] or "evaluation-2021" in refused["message"]
    assert table_a(held.database) == TABLE_A
    accepted = run(held, accept_revisions=True)
    assert accepted["status"] == "published" and "accepted by" in accepted["message"]
    after = table_a(held.database)
    assert sum(after.values()) < sum(TABLE_A.values())
    assert table_a(held.database, known_at=date(2022, 7, 31)) == TABLE_A  # as known before: kept
    con = duckdb.connect(str(held.database), read_only=True)
    try:
        explained = bridge(con, SEED, "evaluation-2021", "evaluation-2021", date(2022, 7, 31), None)
        row = con.execute("select status, status_reason from deliveries where delivery_id = 'utrecht/2022-08'").fetchone()
        logged = con.execute("select status, message from runs where status = 'released'").fetchall()
    finally:
        con.close()
    moved = explained.groupby("line").first()
    assert (moved["persons_a"] - moved["persons_b"]).sum() == sum(TABLE_A.values()) - sum(after.values())
    assert explained.loc[explained["effect"].notna(), "persons"].abs().sum() > 0
    assert row[0] == "accepted" and "released by steward-utrecht" in row[1]
    assert logged and "steward-utrecht" in logged[0][1] and "really emptied" in logged[0][1]


def test_a_later_delivery_supersedes_a_held_one(held):
    september = held.raw / "utrecht" / "2022-09" / "lvv_utrecht_202209.xlsx"
    september.parent.mkdir(parents=True)
    workbook = openpyxl.load_workbook(next((held.raw / "utrecht" / "2022-07").glob("*.xlsx")))
    workbook["Export"].cell(1, 2, date(2022, 9, 30))
    workbook.save(september)
    record = run(held)
    assert [d["status"] for d in record["deliveries"]] == ["accepted"]
    assert delivery_row(held.database, "utrecht/2022-08")["status"] == "superseded"
    assert table_a(held.database) == TABLE_A
    with pytest.raises(ReleaseError, match="not held"):
        release_held(held.curated, held.staged, "utrecht/2022-09", "why not")


# --- the measures, on deliveries the demo generator never wrote -----------------------------------

def _amsterdam(tmp_path: Path, name: str, rows: list[dict], stand_per: date):
    ams = contract_for("amsterdam")
    path = write_sheet(tmp_path / name / "a.xlsx", ams, rows, stand_per=stand_per)
    return process_delivery(path, ams, stand_per.strftime("%Y-%m"), Pseudonymiser("k"))


def test_open_episodes_vanishing_is_held_but_not_in_a_first_delivery(tmp_path):
    open_rows = [good_row(n) for n in range(1, 41)]
    first = _amsterdam(tmp_path, "oct", open_rows, date(2020, 10, 31))
    second = _amsterdam(tmp_path, "nov", open_rows[:25] + [good_row(n) for n in range(100, 115)], date(2020, 11, 30))
    assert not verdict(first.delivery, first.episodes, first.quarantine, None, None).held
    found = verdict(second.delivery, second.episodes, second.quarantine, first.delivery, first.episodes)
    assert found.held and found.codes == ["open-episodes-missing"]  # 15 of 40 gone; same row count
    assert "38% of the 40 episodes open in amsterdam/2020-10 are missing" in found.reason("en")
    assert "lopende verblijven" in found.reason("nl")
    # a municipality whose register really churns raises its own threshold in its contract
    assert not verdict(second.delivery, second.episodes, second.quarantine, first.delivery, first.episodes,
                       {"open-episodes-missing": 0.4}).held


def test_backdated_exits_and_a_halved_register_are_held(tmp_path):
    rows = [good_row(n) for n in range(1, 61)]
    first = _amsterdam(tmp_path, "oct", rows, date(2020, 10, 31))
    backdated = [good_row(n, exit_date=date(2020, 6, 1), outcome="MOB") if n <= 20 else good_row(n)
                 for n in range(1, 61)]
    second = _amsterdam(tmp_path, "nov", backdated, date(2020, 11, 30))
    found = verdict(second.delivery, second.episodes, second.quarantine, first.delivery, first.episodes)
    assert found.codes == ["exits-backdated"] and found.measures["exits-backdated"] == pytest.approx(20 / 60, abs=1e-3)
    halved = _amsterdam(tmp_path, "dec", rows[:25], date(2020, 12, 31))
    assert "rows-dropped" in verdict(halved.delivery, halved.episodes, halved.quarantine, first.delivery,
                                     first.episodes).codes


def test_the_view_marks_held_superseded_and_released_deliveries():
    records = [{"delivery_id": "x/2020-10", "municipality": "x", "period": "2020-10", "status": "held",
                "hold_reason": "r1"},
               {"delivery_id": "x/2020-11", "municipality": "x", "period": "2020-11", "status": "accepted"},
               {"delivery_id": "x/2020-12", "municipality": "x", "period": "2020-12", "status": "held",
                "hold_reason": "r2"}]
    shown = {r["delivery_id"]: (r["status"], r.get("status_reason")) for r in with_gate_status(records)}
    assert shown["x/2020-10"] == ("superseded", "superseded by a later delivery in force; r1")
    assert shown["x/2020-12"] == ("held", "r2") and shown["x/2020-11"] == ("accepted", None)
    assert pd.DataFrame(with_gate_status(records)).shape[0] == 3


def test_validate_tells_the_steward_before_delivery_that_the_file_would_be_held(demo_copy, tmp_path):
    from typer.testing import CliRunner

    from lvv.cli import app

    broken = broken_utrecht(demo_copy, blank)
    outside = tmp_path / "to-deliver" / broken.name
    outside.parent.mkdir()
    broken.rename(outside)  # not delivered: the steward checks it first
    args = ["validate", str(outside), "--municipality", "utrecht", "--period", "2022-08", "--lang", "en"]
    held = CliRunner().invoke(app, [*args, "--data-dir", str(demo_copy.root)])
    assert held.exit_code == 1
    text = " ".join(held.output.split())
    assert "Plausibility (utrecht/2022-07): this delivery would be held" in text and "quarantined" in text
    fine = outside.with_name("good.xlsx")
    workbook = openpyxl.load_workbook(next((demo_copy.raw / "utrecht" / "2022-07").glob("*.xlsx")))
    workbook["Export"].cell(1, 2, AUGUST)
    workbook.save(fine)
    good = CliRunner().invoke(app, [*args[:1], str(fine), *args[2:], "--data-dir", str(demo_copy.root),
                                    "--format", "json"])
    assert good.exit_code == 0, good.output
    verdict_json = __import__("json").loads(good.output)["plausibility"]
    assert verdict_json["held"] is False and verdict_json["compared_with"] == "utrecht/2022-07"
    assert not (demo_copy.staged / "utrecht" / "2022-08").exists()  # validate stores nothing


def test_measures_match_ids_across_dtypes_missing_values_and_the_quarantine():
    """Frames built by hand (object and Arrow strings, a missing id, an id only quarantined): an
    open episode is missing only when neither the episodes nor the quarantine have it."""
    from transforms.gate import measures

    previous_episodes = pd.DataFrame({
        "episode_id": pd.Series(["E1", "E2", "E3", "E4", None, "E6"], dtype="object"),
        "exit_date": [None, None, None, None, None, "2020-09-01"]})
    episodes = pd.DataFrame({"episode_id": pd.Series(["E1", "E2", None, "E9"], dtype="str"),
                             "exit_date": ["2020-10-05", None, "2020-10-01", None]})
    quarantine = pd.DataFrame({"episode_id": pd.Series(["E3"], dtype="object")})
    record = {"rows_read": 5, "rows_quarantined": 1}
    previous = {"rows_read": 6, "stand_per": date(2020, 10, 31)}
    found = measures(record, episodes, quarantine, previous, previous_episodes)
    assert found["open-episodes-missing"] == (1 / 4, 4)  # E4 gone; E3 quarantined; the missing id not counted
    assert found["exits-backdated"] == (1 / 4, 4)  # E1 now exits before the previous stand-per date
    assert found["rows-dropped"] == (1 / 6, 6)


def test_measures_take_exit_dates_as_dates_timestamps_or_text():
    """Exit dates as the store gives them (dates, None) and as no delivery gives them: timestamps
    with a time of day, NaT, ISO text; an exit on the previous stand-per day is not backdated, one
    the day before is, at any hour."""
    from transforms.gate import measures

    ids = pd.Series(["E1", "E2", "E3", "E4"], dtype="str")
    stand_per = date(2020, 10, 31)
    forms = {
        "dates": [date(2020, 10, 30), date(2020, 10, 31), None, date(2020, 11, 2)],
        "timestamps": pd.to_datetime(["2020-10-30 23:59", "2020-10-31 00:00", None, "2020-11-02 08:00"]),
        "text": ["2020-10-30", "2020-10-31", None, "2020-11-02"],
    }
    for form, exits in forms.items():
        previous_episodes = pd.DataFrame({"episode_id": ids, "exit_date": pd.Series([pd.NaT] * 3 + [pd.NaT], dtype=object)
                                          if form == "dates" else pd.to_datetime([None, None, None, "2020-09-01"])})
        if form == "dates":
            previous_episodes.loc[3, "exit_date"] = date(2020, 9, 1)
        episodes = pd.DataFrame({"episode_id": ids, "exit_date": exits})
        found = measures({"rows_read": 4}, episodes, pd.DataFrame(), {"rows_read": 4, "stand_per": stand_per},
                         previous_episodes)
        assert found["exits-backdated"] == (1 / 3, 3), form  # E1 only: E4 was closed before
        assert found["open-episodes-missing"] == (0.0, 3), form
