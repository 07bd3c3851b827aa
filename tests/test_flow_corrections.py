"""The flow applies a steward's corrections file, and a corrections-only change is published."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.protect import Pseudonymiser

pytestmark = pytest.mark.flow
KEY = "flow-corrections-test-key"


def test_corrections_file_reaches_the_publication_through_the_flow(tmp_path, prefect_harness, monkeypatch):
    from flows.monthly_outflow import RunParameters, monthly_outflow

    monkeypatch.setenv("LVV_PSEUDONYM_KEY", KEY)
    ams = contract_for("amsterdam")
    rows = [good_row(1), good_row(2, exit_date=date(2020, 10, 1), outcome="MOB")]
    write_sheet(tmp_path / "raw" / "amsterdam" / "2020-10" / "a.xlsx", ams, rows, stand_per=date(2020, 10, 31))
    params = RunParameters(data_dir=str(tmp_path), reference_date=date(2020, 11, 1), definitions=["programme"])
    assert monthly_outflow(params)["published"] is True
    episode = Pseudonymiser(KEY).episode("amsterdam", "R0002")
    (tmp_path / "raw" / "amsterdam" / "corrections.csv").write_text(
        "verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum\n"
        f"{episode};;;uitstroomreden;Zelfstandig vertrek;bevestigd door DT&V;steward;05-11-2020\n",
        encoding="utf-8")
    second = monthly_outflow(params)
    assert second["published"] is True and second["processed"] == []  # no delivery changed
    con = duckdb.connect(str(tmp_path / "curated" / "lvv.duckdb"), read_only=True)
    current = con.execute("select outcome_code, correction from episodes_known_at(null) "
                          "where episode_id = $e", {"e": episode}).fetchall()
    assert current[0][0] == "return_independent" and "DT&V" in current[0][1]
    effects = con.execute("""select line, effect, persons from reconcile(date '2020-11-01', 'programme',
        'programme', known_at_a := date '2020-10-31') where effect != 'none'""").fetchall()
    assert {(line, effect): n for line, effect, n in effects} == {
        ("departed_unknown", "steward_correction"): -1, ("returned", "steward_correction"): 1}
