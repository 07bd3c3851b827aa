"""What waits for a steward stays visible on every run, not only on the run that found it.

A rejected delivery, with a period or without one (a month folder not named YYYY-MM, stored in a
folder of its own, `unknown-...`), keeps `lvv run` at exit 1 with a `needs a steward:` line naming its raw file while that
file is in data/raw unchanged; fixed or removed, the run is back at 0. Lines of a corrections file
that are not applied (unreadable, pointing at no stay, an invalid value) are counted on that line
with their file and line numbers, every run, until the file is fixed.

The real command in new processes (exit codes, stderr) and the flow in this process (its summary,
cheaper), on small hand-written Amsterdam deliveries and corrections files no generator writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lvv.settings import KEY_ENV
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.run_states import lines_not_applied
from transforms.revisions import ISSUE_COLUMNS
from transforms.run_states import waiting_for_steward

KEY = "steward-states-key"
ROWS = [good_row(n) for n in range(1, 6)]


def lvv(root: Path, *args: str, api_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, KEY_ENV: KEY, "PREFECT_API_URL": api_url, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "lvv.cli", *args, "--data-dir", str(root)], env=env,
                          capture_output=True, text=True, timeout=600)


def month(root: Path, folder: str, stand_per: date, rows: list[dict] = ROWS) -> Path:
    return write_sheet(root / "raw" / "amsterdam" / folder / "amsterdam.xlsx", contract_for("amsterdam"), rows,
                       stand_per=stand_per)


def steward_line(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if line.startswith("needs a steward: ")), "")


@pytest.mark.flow
def test_corrections_not_applied_are_counted_with_file_and_lines_every_run(tmp_path, prefect_harness, monkeypatch):
    from flows.monthly_outflow import RunParameters, monthly_outflow
    from transforms.protect import Pseudonymiser

    monkeypatch.setenv(KEY_ENV, KEY)
    month(tmp_path, "2020-10", date(2020, 10, 31),
          [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="MOB")])
    params = RunParameters(data_dir=str(tmp_path), reference_date=date(2020, 11, 1), definitions=["programme"])
    assert monthly_outflow(params)["needs_steward"] == []
    episode = Pseudonymiser(KEY).episode("amsterdam", "R0002")
    corrections = tmp_path / "raw" / "amsterdam" / "corrections.csv"
    good = f"{episode};;;uitstroomreden;Zelfstandig vertrek;bevestigd door DT&V;steward;05-11-2020\n"
    corrections.write_text(
        "verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum\n"
        + good  # line 2: applied
        + f"{episode};;;geboortedatum;01-01-1990;tikfout;steward;05-11-2020\n"  # line 3: not a correctable field
        + "\n"  # line 4: blank, skipped
        + ";2020-10;999;uitstroomdatum;05-10-2020;bestaat niet;steward;05-11-2020\n"  # line 5: no such row
        + f"{episode};;;uitstroomdatum;31-02-2020;ongeldige datum;steward;05-11-2020\n"  # line 6: invalid value
        + f"{episode};;;uitstroomreden;Zelfstandig vertrek;;;\n",  # line 7: incomplete
        encoding="utf-8")
    expected = ["corrections not applied: 4 lines of amsterdam/corrections.csv (lines 3, 5, 6, 7; "
                "the reasons in validation_issues under amsterdam/corrections)"]
    published = monthly_outflow(params)
    assert published["published"] is True and published["needs_steward"] == expected
    unchanged = monthly_outflow(params)  # nothing new: the release still says so
    assert unchanged["run"]["status"] == "unchanged" and unchanged["needs_steward"] == expected

    corrections.write_text("verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum\n" + good, encoding="utf-8")
    assert monthly_outflow(params)["needs_steward"] == []


def issues_database(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame([{**dict.fromkeys(ISSUE_COLUMNS), **row} for row in rows], columns=ISSUE_COLUMNS)
    frame["excel_row"] = frame["excel_row"].astype("Int64")
    with duckdb.connect(str(path)) as con:
        con.register("frame", frame)
        con.execute("create table validation_issues as select * from frame")
    return path


def test_lines_not_applied_counts_distinct_lines_of_errors_only_and_shows_the_first_ten(tmp_path):
    def issue(file: str, row: int | None, code: str, severity: str, level: str = "correction") -> dict:
        return {"delivery_id": file.replace(".csv", "").replace(".xlsx", "").replace("correcties", "corrections"),
                "file": file, "excel_row": row, "code": code, "severity": severity, "level": level}

    rows = [issue("utrecht/corrections.csv", n, "correction-unknown-episode", "error") for n in range(20, 7, -1)]
    rows += [issue("utrecht/corrections.csv", 9, "correction-invalid-value", "error"),  # a line twice: once
             issue("utrecht/corrections.csv", 30, "correction-superseded", "warning"),  # applies no more: not counted
             issue("utrecht/corrections.csv", 31, "correction-applied", "info"),
             issue("amsterdam/corrections.xlsx", None, "corrections-unreadable", "fatal"),
             issue("groningen/2020-10/g.xlsx", 4, "date-unparseable", "error", level="cell")]  # a delivery's
    database = issues_database(tmp_path / "lvv.duckdb", rows)
    raw = tmp_path / "raw"
    (raw / "utrecht").mkdir(parents=True)
    assert lines_not_applied(database, raw) == []  # no corrections file (any more): the release is not asked
    (raw / "utrecht" / "corrections.csv").write_text("verblijf;veld\n", encoding="utf-8")
    assert lines_not_applied(database, raw) == [
        "corrections not applied: amsterdam/corrections.xlsx cannot be read, no line of it applied "
        "(the reasons in validation_issues under amsterdam/corrections)",
        "corrections not applied: 13 lines of utrecht/corrections.csv (lines 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "
        "...; the reasons in validation_issues under utrecht/corrections)"]
    assert lines_not_applied(tmp_path / "none.duckdb", raw) == []
    assert lines_not_applied(database, tmp_path / "no-raw-folder") == []


def test_a_stored_rejection_waits_whatever_run_found_it_and_names_its_file(tmp_path):
    import json

    staged = tmp_path / "staged"
    for folder, period, status in (("2020-10", "2020-10", "accepted"), ("2020-11", "2020-11", "rejected"),
                                   ("unknown", None, "rejected")):
        (staged / "amsterdam" / folder).mkdir(parents=True)
        (staged / "amsterdam" / folder / "delivery.json").write_text(json.dumps({
            "delivery_id": f"amsterdam/{period or '?'}", "municipality": "amsterdam", "period": period,
            "status": status, "file": f"amsterdam/{period or '2020-12 (copy)'}/a.xlsx"}))
    unchanged = {"status": "unchanged", "deliveries": []}  # a later run that processed nothing
    assert waiting_for_steward(unchanged, staged) == [
        "rejected whole, nothing of it in force: amsterdam/2020-11 (amsterdam/2020-11/a.xlsx), "
        "amsterdam/? (amsterdam/2020-12 (copy)/a.xlsx) (fix or remove the file)"]


def test_a_rejection_with_a_later_delivery_in_force_no_longer_waits_but_one_without_a_period_does(tmp_path):
    import json

    staged = tmp_path / "staged"
    records = (("amsterdam", "2020-11", "rejected"), ("amsterdam", "2020-12", "accepted"),
               ("amsterdam", None, "rejected"), ("utrecht", "2020-11", "rejected"),
               ("utrecht", "2020-10", "accepted"), ("rotterdam", "2020-09", "rejected"),
               ("rotterdam", "2020-10", "held"))
    for municipality, period, status in records:
        folder = staged / municipality / (period or "unknown")
        folder.mkdir(parents=True)
        (folder / "delivery.json").write_text(json.dumps({
            "delivery_id": f"{municipality}/{period or '?'}", "municipality": municipality, "period": period,
            "status": status, "file": f"{municipality}/{period or 'x'}/a.xlsx", "hold_reason": "test"}))
    waiting = waiting_for_steward({"status": "unchanged", "deliveries": []}, staged)
    # amsterdam's November is replaced by December in force; utrecht's November has only an earlier
    # month in force and rotterdam's September only a held later one: both still wait, as does the
    # rejection without a period
    assert waiting[0] == ("rejected whole, nothing of it in force: amsterdam/? (amsterdam/x/a.xlsx), "
                          "rotterdam/2020-09 (rotterdam/2020-09/a.xlsx), utrecht/2020-11 (utrecht/2020-11/a.xlsx) "
                          "(fix or remove the file)")
