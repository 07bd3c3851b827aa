"""The revision gate: figures already published move beyond the tolerance only when accepted."""

from __future__ import annotations

import shutil
from datetime import date
from functools import partial

import pandas as pd
import pytest

from schemas.gates import RevisionTolerance, revision_tolerance
from tests.test_gate import AUGUST, TABLE_A, demo_copy, table_a  # noqa: F401 (fixtures)
from transforms.runs import month_ends, revisions


def test_month_ends_are_the_last_months_up_to_the_reference_date():
    assert month_ends(date(2022, 8, 31), 3) == [date(2022, 6, 30), date(2022, 7, 31), date(2022, 8, 31)]
    assert month_ends(date(2020, 11, 1), 2) == [date(2020, 9, 30), date(2020, 10, 31)]
    assert month_ends(date(2024, 3, 15), 1) == [date(2024, 2, 29)]


def test_a_revision_is_large_beyond_both_the_persons_and_the_share():
    tolerance = RevisionTolerance(months=12, persons=10, share=0.05)
    before = pd.DataFrame({"definition": ["programme"] * 3, "line": ["returned", "legalised", "deceased"],
                           "month_end": [date(2022, 7, 31)] * 3, "persons": [500, 100, 4]})
    after = before.assign(persons=[489, 111, 30])  # -11 of 500 (2 %), +11 of 100 (11 %), +26 of 4
    table = revisions(before, after, tolerance)
    assert dict(zip(table["line"], table["is_large"])) == {"legalised": True, "deceased": True, "returned": False}
    assert revisions(before, before, tolerance).empty
    assert revision_tolerance().months == 12


def test_a_normal_monthly_delivery_is_published_without_asking(demo_copy):
    """The demo's last month (with its late registrations) delivered a month after the rest."""
    from flows.monthly_outflow import RunParameters, monthly_outflow

    july = sorted(demo_copy.raw.glob("*/2022-07"))
    aside = demo_copy.root.parent / "july"
    for folder in july:
        shutil.move(folder, aside / folder.parent.name)
    params = dict(data_dir=str(demo_copy.root), reference_date=date(2022, 7, 31))
    # withdrawing a month is a revision to accept: accepted at once (not asked first, one run less)
    withdrawn = monthly_outflow(RunParameters(**params, accept_revisions=True))["run"]
    assert withdrawn["status"] == "published"
    for folder in aside.iterdir():
        shutil.move(folder, demo_copy.raw / folder.name / "2022-07")
    monthly = monthly_outflow(RunParameters(**params))["run"]
    assert monthly["status"] == "published", monthly["message"]
    assert len(monthly["deliveries"]) == len(july)
    assert table_a(demo_copy.database) == TABLE_A
    # the release keeps the figures its revision check computed (up to the stand-per date of the
    # release before it, June) and the reference date's, listed in its manifest: the next run's
    # figures before, and the headline of figure-changes and the report
    from transforms.publish import current_manifest, current_release
    from transforms.runs import KEPT_SERIES, headline_series

    release = current_release(demo_copy.curated)
    assert KEPT_SERIES in current_manifest(demo_copy.curated)["files"]
    kept = pd.read_parquet(release / KEPT_SERIES)
    dates = month_ends(date(2022, 6, 30), revision_tolerance().months)
    pd.testing.assert_frame_equal(kept, headline_series(release / "lvv.duckdb", [*dates, date(2022, 7, 31)],
                                                        list(monthly["definitions"])))


def test_the_figures_before_are_taken_where_the_release_keeps_them_and_computed_where_not(demo_run, tmp_path):
    """release_series: the month ends the release kept for every rule asked come from its file
    (marked here, +1000), the others from its database; the rows as headline_series gives them."""
    from transforms.runs import headline_series, keep_series, release_series

    paths, _, _ = demo_run
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(paths.database.resolve(), release / "lvv.duckdb")
    rules, dates = ["programme", "evaluation-2021"], month_ends(date(2020, 11, 30), 4)
    expected = headline_series(release / "lvv.duckdb", dates, rules)
    pd.testing.assert_frame_equal(release_series(release, dates, rules), expected)  # nothing kept
    kept = headline_series(release / "lvv.duckdb", dates[:3], ["evaluation-2021", "programme", "evaluation-2022"])
    keep_series(release, kept.assign(persons=kept["persons"] + 1000))
    marked = expected.assign(persons=expected["persons"] + 1000 * expected["month_end"].isin(dates[:3]))
    pd.testing.assert_frame_equal(release_series(release, dates, rules), marked)
    keep_series(release, kept[kept["definition"] != "programme"])  # a rule missing: computed
    pd.testing.assert_frame_equal(release_series(release, dates, rules), expected)


def test_the_headline_is_asked_once_the_check_keeps_it_for_figure_changes_and_the_report(demo_run, tmp_path,
                                                                                          monkeypatch):
    """check_series keeps the reference date's figures beside the check's month ends; the headline
    (figure-changes) and the report's gather read them there (marked here, +1000, to show where
    they come from) and, unmarked, gather gives every frame as when it asks the database."""
    from transforms import monthly_report
    from transforms.runs import KEPT_SERIES, check_series, headline, keep_series

    paths, _, _ = demo_run
    release = tmp_path / "release"
    release.mkdir()
    shutil.copy(paths.database.resolve(), release / "lvv.duckdb")
    rules, ref = ["programme", "evaluation-2022"], date(2020, 11, 1)
    dates = month_ends(date(2020, 10, 31), 3)
    checked = check_series(release, dates, ref, rules)
    assert sorted(set(checked["month_end"])) == dates  # the check compares its month ends only
    kept = pd.read_parquet(release / KEPT_SERIES)
    assert sorted(set(kept["month_end"])) == [*dates, ref]
    asked = monthly_report.gather(paths.database, ref, rules)
    calls = []
    per_line = monthly_report._per_line
    monkeypatch.setattr(monthly_report, "_per_line", lambda con, day, d, known_at: calls.append((day, known_at))
                        or per_line(con, day, d, known_at))
    taken = monthly_report.gather(release / "lvv.duckdb", ref, rules)
    assert (ref, None) not in calls and (dates[-1], None) not in calls  # both read from the file
    for name in monthly_report._frames():
        pd.testing.assert_frame_equal(getattr(taken, name), getattr(asked, name), check_exact=True)
    keep_series(release, kept.assign(persons=kept["persons"] + 1000))
    marked = headline(release / "lvv.duckdb", ref, list(reversed(rules)))
    assert list(marked["definition"].unique()) == list(reversed(rules))
    expected = headline(paths.database, ref, list(reversed(rules)))
    assert (marked["persons"] == expected["persons"] + 1000).all()
    assert (monthly_report.gather(release / "lvv.duckdb", ref, rules).headline[rules]
            == asked.headline[rules] + 1000).all().all()


def test_a_deployment_run_asks_in_the_ui_and_stands_down_without_an_answer(prefect_harness, monkeypatch):
    from prefect import flow, runtime

    from flows.monthly_outflow import RunParameters, _decide

    table = pd.DataFrame({"definition": ["programme"], "line": ["returned"], "month_end": [date(2022, 7, 31)],
                          "persons_before": [537], "persons_after": [372], "change": [-165], "is_large": [True]})
    assert _decide(table, RunParameters()) is False  # from the command line: not without --accept-revisions
    assert _decide(table, RunParameters(accept_revisions=True)) is True
    assert _decide(table.assign(is_large=False), RunParameters()) is None
    monkeypatch.setattr(runtime.deployment, "id", "a-deployment")
    # Prefect's pause looks for an answer every 10 s (its poll_interval) and only then sees the
    # 1 s timeout passed: looking every second, the test waits 1-2 s instead of 10
    import flows.monthly_outflow as flow_module

    monkeypatch.setattr(flow_module, "pause_flow_run", partial(flow_module.pause_flow_run, poll_interval=1))

    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    started = []

    @flow(timeout_seconds=60)  # bounded: a pause that never ends fails the run (and the test) in 60 s
    def paused_run() -> bool | None:
        started.append(runtime.flow_run.id)
        return _decide(table, RunParameters(revision_wait_seconds=1))

    try:
        state = paused_run(return_state=True)
        with get_client(sync_client=True) as client:
            history = [s.type.name for s in client.read_flow_run_states(state.state_details.flow_run_id)]
        assert "PAUSED" in history
        # no answer within the timeout: _decide said no (nothing switched), and Prefect fails the run
        assert state.is_failed() and "never resumed" in state.message
    finally:  # whatever failed, no run of this test is left paused on the session's server
        with get_client(sync_client=True) as client:
            for flow_run_id in started:
                if not client.read_flow_run(flow_run_id).state.is_final():
                    client.set_flow_run_state(flow_run_id, Cancelled(message="the test ended"), force=True)


def test_the_headline_series_in_one_statement_is_the_outflow_at_each_date(demo_run):
    """headline_series asks DuckDB once for every date and rule; each figure is what the outflow
    query (`lvv outflow`) gives at that date under that rule, every line shown, zeros included."""
    import duckdb

    from transforms.queries import outflow
    from transforms.runs import headline_series

    paths, _, _ = demo_run
    dates = [date(2019, 6, 30), date(2020, 2, 29), date(2020, 11, 30)]
    rules = ["evaluation-2021", "programme", "evaluation-2022"]
    series = headline_series(paths.database, dates, rules)
    con = duckdb.connect(str(paths.database), read_only=True)
    try:
        expected = pd.concat([outflow(con, day, rule).groupby("line", sort=False, as_index=False)["persons"].sum()
                              .assign(definition=rule, month_end=day) for day in dates for rule in rules])
    finally:
        con.close()
    keys = ["definition", "line", "month_end"]
    got = series.set_index(keys)["persons"].sort_index()
    assert got.to_dict() == expected.set_index(keys)["persons"].sort_index().to_dict()
    assert (got == 0).any() and got.groupby(level="month_end").sum().is_monotonic_increasing
    assert list(series["month_end"].drop_duplicates()) == dates  # by date, then rule, then line


def test_the_headline_series_counts_a_persons_first_exit_as_the_outflow_query(tmp_path):
    """Versions no generator writes: one person leaving twice in one line (counted from the first
    exit, once), the same person in two municipalities (once in each), an exit in a closed version
    (not in force), a stay with no exit, a detention whose follow-up decides the line, an exit on
    the month end itself and one after the last date. Each figure is the outflow query's at that date."""
    import duckdb

    from transforms.curate import DELIVERY_COLUMNS, QUARANTINE_COLUMNS, _issues, _typed_deliveries, _typed_versions
    from transforms.history import VERSION_COLUMNS
    from transforms.publish import build_database
    from transforms.queries import outflow
    from transforms.runs import headline_series

    def version(episode, municipality, person, exit_date, outcome, follow_up=None, known_to=None):
        return {"episode_id": episode, "municipality": municipality, "version": 1, "person_id": person,
                "intake_date": date(2019, 1, 1), "exit_date": exit_date, "outcome_code": outcome,
                "follow_up_code": follow_up, "known_from": date(2019, 1, 31), "known_to": known_to,
                "stated_in": f"{municipality}/2019-01", "excel_row": 2}

    rows = [version("e1", "A", "p1", date(2020, 3, 10), "return_forced"),
            version("e2", "A", "p1", date(2020, 1, 31), "return_independent"),  # the first exit: January
            version("e3", "B", "p1", date(2020, 2, 1), "return_forced"),  # the same person elsewhere
            version("e4", "A", "p2", None, None),  # still in the LVV
            version("e5", "A", "p3", date(2020, 1, 5), "permit_granted", known_to=date(2020, 2, 29)),
            version("e6", "B", "p4", date(2020, 2, 29), "immigration_detention", "forced_departure"),
            version("e7", "B", "p5", date(2020, 1, 2), "immigration_detention", "released"),
            version("e8", "A", "p6", date(2020, 4, 2), "deceased")]
    versions = _typed_versions(pd.DataFrame(rows, columns=VERSION_COLUMNS))
    database = tmp_path / "lvv.duckdb"
    build_database(database, {"episode_versions": versions, "deliveries": _typed_deliveries(pd.DataFrame(
        columns=DELIVERY_COLUMNS)), "validation_issues": _issues(), "quarantined_rows": pd.DataFrame(
        columns=QUARANTINE_COLUMNS).astype(str)})
    dates = [date(2019, 12, 31), date(2020, 1, 31), date(2020, 2, 29), date(2020, 3, 31)]
    rules = ["programme", "evaluation-2022"]
    series = headline_series(database, dates, rules)
    con = duckdb.connect(str(database), read_only=True)
    try:
        expected = pd.concat([outflow(con, day, rule).groupby("line", sort=False, as_index=False)["persons"].sum()
                              .assign(definition=rule, month_end=day) for day in dates for rule in rules])
    finally:
        con.close()
    got = series.set_index(["definition", "line", "month_end"])["persons"]
    assert got.sort_index().to_dict() == expected.set_index(["definition", "line", "month_end"])[
        "persons"].sort_index().to_dict()
    programme = got.loc["programme"]
    assert programme[("returned", date(2020, 1, 31))] == 1  # p1 in A from January, once
    assert programme[("returned", date(2020, 2, 29))] == 3  # p1 in B and p4 (on the month end) join
    assert programme[("returned", date(2020, 3, 31))] == 3  # p1's second exit in A counts no more
    assert programme[("legalised", date(2020, 3, 31))] == 0  # p3's exit is not in force
    assert programme[("other_non_durable", date(2020, 1, 31))] == 1  # p5; p6 leaves after the last date


def test_the_kept_figures_are_parsed_once_per_content_and_again_when_rewritten(tmp_path, monkeypatch):
    """A report asks the kept figures three times: the file is parsed once; rewritten (same size,
    within the same clock tick as far as the test knows: the time is put back), it is read anew."""
    import os

    from transforms import runs

    release = tmp_path / "release"
    release.mkdir()
    day = date(2020, 10, 31)
    table = pd.DataFrame({"definition": ["programme", "programme"], "line": ["legalised", "returned"],
                          "month_end": [day, day], "persons": [3, 4]})
    runs.keep_series(release, table)
    parsed = []
    read = pd.read_parquet
    monkeypatch.setattr(runs.pd, "read_parquet", lambda *a, **k: parsed.append(1) or read(*a, **k))
    first = [runs.kept_headline(release, day, ["programme"]) for _ in range(3)]
    assert len(parsed) == 1 and all(f["persons"].tolist() == [3, 4] for f in first)
    stat = (release / runs.KEPT_SERIES).stat()
    runs.keep_series(release, table.assign(persons=[4, 3]))  # the same size
    os.utime(release / runs.KEPT_SERIES, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert runs.kept_headline(release, day, ["programme"])["persons"].tolist() == [4, 3]
    assert runs.release_series(release, [day], ["programme"])["persons"].tolist() == [4, 3]


def test_the_kept_headline_is_picked_once_per_content_day_and_rules_and_each_ask_gets_its_own(tmp_path, monkeypatch):
    """kept_headline's answer is kept by the file's content, the day and the rules: the same ask
    again is not picked out of the frame again (a run asks three times), another day or another
    order of rules is, a rewritten file is; and a caller that changes its frame changes no later answer."""
    from transforms import runs

    release = tmp_path / "release"
    release.mkdir()
    days = [date(2020, 9, 30), date(2020, 10, 31)]
    table = pd.DataFrame({"definition": ["programme", "other"] * 2, "line": ["legalised"] * 4,
                          "month_end": [days[0], days[0], days[1], days[1]], "persons": [1, 2, 3, 4]})
    runs.keep_series(release, table)
    picked = []
    pick = runs._headline_of
    monkeypatch.setattr(runs, "_headline_of", lambda *a: picked.append(a[1:]) or pick(*a))
    first = runs.kept_headline(release, days[1], ["programme", "other"])
    first.loc[0, "persons"] = 99  # the caller's own frame
    assert runs.kept_headline(release, days[1], ["programme", "other"])["persons"].tolist() == [3, 4]
    assert len(picked) == 1
    assert runs.kept_headline(release, days[1], ["other", "programme"])["persons"].tolist() == [4, 3]
    assert runs.kept_headline(release, days[0], ["programme", "other"])["persons"].tolist() == [1, 2]
    assert len(picked) == 3
    runs.keep_series(release, table.assign(persons=[5, 6, 7, 8]))
    assert runs.kept_headline(release, days[1], ["programme", "other"])["persons"].tolist() == [7, 8]
    assert len(picked) == 4
