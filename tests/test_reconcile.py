"""The bridge on small hand-built histories, where each effect is known in advance."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from transforms.curate import as_date
from transforms.publish import build_database
from transforms.queries import connect
from transforms.reconcile import bridge, bridge_wide, moved, series

D = date(2020, 11, 1)      # reference date
K1 = date(2020, 11, 30)    # first knowledge date (stand per of delivery 1)
K2 = date(2020, 12, 31)    # second knowledge date


def version(episode: str, known_from: date, known_to: date | None, exit_date: date | None = None,
            outcome: str | None = None, follow_up: str | None = None, person: str | None = None,
            municipality: str = "amsterdam", correction: str | None = None) -> dict:
    return dict(episode_id=episode, municipality=municipality, version=1, person_id=person or "P" + episode,
                intake_date=date(2020, 1, 1), exit_date=exit_date, outcome_code=outcome,
                follow_up_code=follow_up, known_from=known_from, known_to=known_to,
                stated_in=f"{municipality}/{known_from:%Y-%m}", excel_row=2, correction=correction)


def database(tmp_path, versions: list[dict]):
    frame = pd.DataFrame(versions)
    for col in ("intake_date", "exit_date", "known_from", "known_to"):
        frame[col] = as_date(frame[col])
    frame["version"] = frame.groupby("episode_id").cumcount() + 1
    path = tmp_path / "lvv.duckdb"
    empty = pd.DataFrame({"delivery_id": pd.Series(dtype="string")})
    # the columns the views over deliveries read (latest_deliveries)
    deliveries = pd.DataFrame({c: pd.Series(dtype="string") for c in ("delivery_id", "municipality", "period",
                                                                        "status")})
    build_database(path, {"episode_versions": frame, "deliveries": deliveries, "validation_issues": empty,
                          "quarantined_rows": empty})
    return connect(path)


def effects(frame: pd.DataFrame) -> dict[tuple[str, str], int]:
    return {(r.line, r.effect): r.persons for r in frame.itertuples() if r.effect != "none"}


def assert_adds_up(frame: pd.DataFrame) -> None:
    for line, group in frame.groupby("line"):
        assert group["persons_a"].iloc[0] + group["persons"].sum() == group["persons_b"].iloc[0], line


def reconcile(con, a="evaluation-2021", b="evaluation-2021"):
    frame = bridge(con, D, a, b, K1, K2)
    assert_adds_up(frame)
    return frame


def test_counting_rule_alone(tmp_path):
    con = database(tmp_path, [version("e1", K1, None, date(2020, 6, 1), "immigration_detention", "forced_departure"),
                              version("e2", K1, None, date(2020, 6, 1), "return_forced")])
    frame = bridge(con, D, "programme", "evaluation-2021", K1, K2)
    assert_adds_up(frame)
    assert effects(frame) == {("returned", "counting_rule"): -1, ("other_non_durable", "counting_rule"): 1}
    assert effects(bridge(con, D, "programme", "evaluation-2022", K1, K2)) == {
        ("returned", "counting_rule"): -2, ("other_non_durable", "counting_rule"): 2}


def test_late_registration_alone(tmp_path):
    con = database(tmp_path, [version("e1", K1, K2), version("e1", K2, None, date(2020, 10, 20), "permit_granted")])
    assert effects(reconcile(con)) == {("legalised", "late_registration"): 1}


def test_exit_after_the_reference_date_is_no_late_registration(tmp_path):
    con = database(tmp_path, [version("e1", K1, K2), version("e1", K2, None, date(2020, 11, 2), "permit_granted")])
    assert effects(reconcile(con)) == {}


def test_corrected_outcome_alone(tmp_path):
    con = database(tmp_path, [version("e1", K1, K2, date(2020, 6, 1), "departed_unknown"),
                              version("e1", K2, None, date(2020, 6, 1), "return_independent")])
    assert effects(reconcile(con)) == {("departed_unknown", "corrected_outcome"): -1,
                                       ("returned", "corrected_outcome"): 1}


def test_detention_follow_up_known_later_is_a_correction_under_the_programme(tmp_path):
    con = database(tmp_path, [
        version("e1", K1, K2, date(2020, 6, 1), "immigration_detention", "unknown"),
        version("e1", K2, None, date(2020, 6, 1), "immigration_detention", "forced_departure")])
    assert effects(bridge(con, D, "programme", "programme", K1, K2)) == {
        ("other_non_durable", "corrected_outcome"): -1, ("returned", "corrected_outcome"): 1}
    assert effects(reconcile(con)) == {}  # the evaluation does not look at the follow-up


def test_steward_correction_alone(tmp_path):
    con = database(tmp_path, [
        version("e1", K1, K2, date(2020, 6, 1), "departed_unknown"),
        version("e1", K2, None, date(2020, 6, 1), "return_independent",
                correction="outcome: MOB -> Zelfstandig vertrek (bevestigd door DT&V; j.steward, 2020-12-03)")])
    assert effects(reconcile(con)) == {("departed_unknown", "steward_correction"): -1,
                                       ("returned", "steward_correction"): 1}


def test_withdrawn_exit_and_added_and_withdrawn_episodes(tmp_path):
    con = database(tmp_path, [
        version("e1", K1, K2, date(2020, 6, 1), "deceased"), version("e1", K2, None),
        version("e2", K2, None, date(2020, 6, 1), "own_network"),
        version("e3", K1, K2, date(2020, 6, 1), "stay_terminated")])
    assert effects(reconcile(con)) == {
        ("other_non_durable", "withdrawn_exit"): -1, ("other_non_durable", "added_episode"): 1,
        ("stay_terminated", "withdrawn_episode"): -1}


def test_all_effects_together_add_up_and_the_drill_down_matches(tmp_path):
    con = database(tmp_path, [
        version("e1", K1, None, date(2020, 6, 1), "immigration_detention", "forced_departure"),
        version("e2", K1, K2), version("e2", K2, None, date(2020, 10, 20), "permit_granted"),
        version("e3", K1, K2, date(2020, 6, 1), "departed_unknown"),
        version("e3", K2, None, date(2020, 6, 1), "return_independent"),
        version("e4", K2, None, date(2020, 6, 1), "own_network"),
        version("e5", K1, K2, date(2020, 6, 1), "stay_terminated"),
        version("e6", K1, None, date(2020, 6, 1), "repeat_application")])
    frame = bridge(con, D, "programme", "evaluation-2021", K1, K2)
    assert_adds_up(frame)
    assert effects(frame) == {
        ("returned", "counting_rule"): -1, ("other_non_durable", "counting_rule"): 1,
        ("legalised", "late_registration"): 1,
        ("departed_unknown", "corrected_outcome"): -1, ("returned", "corrected_outcome"): 1,
        ("other_non_durable", "added_episode"): 1, ("stay_terminated", "withdrawn_episode"): -1}
    drill = moved(con, D, "programme", "evaluation-2021", K1, K2)
    assert len(drill) == 5
    net: dict[tuple[str, str], int] = {}
    for row in drill.itertuples():
        if isinstance(row.to_line, str):
            net[(row.to_line, row.effect)] = net.get((row.to_line, row.effect), 0) + 1
        if isinstance(row.from_line, str):
            net[(row.from_line, row.effect)] = net.get((row.from_line, row.effect), 0) - 1
    assert net == effects(frame)
    wide = bridge_wide(frame).set_index("line")
    assert wide.loc["total", "persons_a"] == 4 and wide.loc["total", "persons_b"] == 5


def test_a_person_in_two_municipalities_is_counted_in_each(tmp_path):
    con = database(tmp_path, [
        version("e1", K1, None, date(2020, 3, 1), "other_shelter", person="P1", municipality="utrecht"),
        version("e2", K1, None, date(2020, 6, 1), "other_shelter", person="P1", municipality="groningen")])
    totals = con.execute("select episodes, persons_per_municipality, persons_programme from "
                         "outflow_totals(date '2020-11-01')").fetchall()
    assert totals == [(2, 2, 1)]


def test_monthly_series_counts_flows_in_the_month_and_stock_at_month_end(tmp_path):
    con = database(tmp_path, [version("e1", K1, None, date(2020, 3, 15), "deceased"), version("e2", K1, None)])
    frame = series(con, date(2020, 1, 1), date(2020, 4, 30), "programme")
    got = {(r.month_end.month, r.measure): r.persons for r in frame.itertuples()}
    assert got[(1, "inflow")] == 2 and (2, "inflow") not in got
    assert got[(3, "outflow")] == 1 and got[(2, "occupancy")] == 2 and got[(3, "occupancy")] == 1


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_that_fails_leaves_the_file_there_before_whole_and_no_part(tmp_path, monkeypatch, suffix):
    """lvv series -o over a file an analyst keeps: written aside and renamed over, so a failure
    while writing (here the wide table's conversion) leaves the old export, and no part beside it."""
    from pathlib import Path

    import openpyxl

    from transforms.reconcile import export_series

    con = database(tmp_path, [version("e1", K1, None, date(2020, 3, 15), "deceased"), version("e2", K1, None)])
    frame = series(con, date(2020, 1, 1), date(2020, 4, 30), "programme")
    target = tmp_path / f"series{suffix}"
    export_series(frame, target)
    before = target.read_bytes()
    if suffix == ".xlsx":
        assert [c.value for c in openpyxl.load_workbook(target)["series"][1]][:2] == ["month_end", "municipality"]
    else:
        assert before.decode().splitlines()[0].startswith("month_end,municipality")

    written_excel, written_csv = pd.DataFrame.to_excel, pd.DataFrame.to_csv

    def excel_then_full(self, writer, sheet_name, **kwargs):  # the first sheet written, then the disk full
        if sheet_name != "series":
            raise OSError(28, "No space left on device")
        return written_excel(self, writer, sheet_name=sheet_name, **kwargs)

    def csv_half_then_full(self, path=None, **kwargs):  # a part of the text written, then the disk full
        if path is not None:
            Path(path).write_text(written_csv(self, **kwargs)[:20])
        raise OSError(28, "No space left on device")

    if suffix == ".xlsx":
        monkeypatch.setattr(pd.DataFrame, "to_excel", excel_then_full)
    else:
        monkeypatch.setattr(pd.DataFrame, "to_csv", csv_half_then_full)
    with pytest.raises(OSError):
        export_series(frame.head(1), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".series")) == []


@pytest.mark.parametrize("name", ["evaluation-2020", "programmes"])
def test_unknown_rule_is_refused_before_querying(tmp_path, name):
    from transforms.queries import QueryError

    con = database(tmp_path, [version("e1", K1, None)])
    with pytest.raises(QueryError, match="unknown counting rule"):
        bridge(con, D, name, "programme")


def test_a_rule_name_in_any_case_is_the_rule_and_an_unknown_one_is_an_error_in_sql(tmp_path):
    import duckdb

    con = database(tmp_path, [version("e1", K1, None, exit_date=date(2020, 10, 1), outcome="return_forced")])
    assert bridge(con, D, "Programme", "EVALUATION-2021").equals(bridge(con, D, "programme", "evaluation-2021"))
    for sql in ("select * from outflow(DATE '2020-11-01', definition := 'nope')",
                "select * from reconcile(DATE '2020-11-01', 'programme', 'nope')",
                "select * from monthly_series(DATE '2020-09-01', DATE '2020-11-01', definition := 'nope')"):
        with pytest.raises(duckdb.InvalidInputException, match="unknown counting rule 'nope'; known: evaluation-2021"):
            con.execute(sql).fetchall()
    with pytest.raises(duckdb.InvalidInputException, match="reversed period"):
        con.execute("select * from month_ends(DATE '2020-03-01', DATE '2020-01-01')").fetchall()
