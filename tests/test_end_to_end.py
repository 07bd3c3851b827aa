"""The whole monthly-outflow flow on the synthetic demo, checked against the published tables.

The expected numbers are the published figures (../shared/reference/published-figures.md),
typed here from the publications, not taken from the code. They are asserted through the DuckDB
macros a researcher uses, from another working directory, read-only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pandas as pd
import pytest

pytestmark = pytest.mark.flow

TABLE_A = {"legalised": 43, "returned": 50, "onward_migration": 2, "repeat_application": 170,
           "postponed_departure": 20, "departed_unknown": 100, "stay_terminated": 76,
           "other_non_durable": 76}


@pytest.fixture(scope="module")
def db(demo_db):
    return demo_db


def scalar(con, sql: str):
    return con.execute(sql).fetchall()[0][0]


def test_table_a_interim_evaluation_at_1_november_2020(db):
    rows = db.execute("select line, sum(persons) from outflow(date '2020-11-01', "
                      "definition := 'evaluation-2021') group by line").fetchall()
    assert dict(rows) == TABLE_A
    assert scalar(db, "select sum(persons) from outflow(date '2020-11-01', definition := 'evaluation-2021')") == 537


def test_table_b_end_of_2019(db):
    inflow = dict(db.execute("select municipality, persons from inflow(date '2019-12-31')").fetchall())
    occupancy = dict(db.execute("select municipality, persons from occupancy(date '2019-12-31')").fetchall())
    assert sum(inflow.values()) == 1019
    assert (inflow["amsterdam"], inflow["eindhoven"]) == (287, 33)
    assert (occupancy["groningen"], occupancy["rotterdam"], occupancy["utrecht"]) == (201, 73, 268)


def test_table_c_final_evaluation_up_to_july_2022(db):
    assert scalar(db, "select sum(persons) from inflow(date '2022-07-01')") == 2065
    assert scalar(db, "select sum(persons) from outflow(date '2022-07-01')") == 1258
    shares = dict(db.execute("""select durability, round(100 * sum(persons) / 1258)
        from outflow(date '2022-07-01', definition := 'evaluation-2022') group by durability""").fetchall())
    assert shares == {"durable": 18, "semi_durable": 41, "non_durable": 41}


def test_programme_counts_forced_departure_after_detention_as_durable(db):
    durable = {d: scalar(db, f"""select sum(persons) from outflow(date '2020-11-01', definition := '{d}')
                                 where durability = 'durable'""") for d in ("programme", "evaluation-2021")}
    forced_after_detention = scalar(db, """select count(distinct (municipality, person_id)) from episodes
        where exit_date <= date '2020-11-01' and outcome_code = 'immigration_detention'
          and follow_up_code = 'forced_departure'""")
    # the demo's oracle knows it: twelve (tests/test_oracle.py checks it per municipality)
    assert durable["programme"] - durable["evaluation-2021"] == forced_after_detention == 12


def test_every_delivery_accounts_for_every_row(demo_run, db):
    _, demo, _ = demo_run
    rows = db.execute("""select delivery_id, rows_read, rows_curated, rows_quarantined, rows_skipped
                         from deliveries""").fetchall()
    assert len(rows) == len(demo.files)
    for delivery_id, read, curated, quarantined, skipped in rows:
        assert read == curated + quarantined + skipped, delivery_id
    assert sum(r[3] for r in rows) > 0 and sum(r[4] for r in rows) > 0


def test_the_database_answers_from_another_directory_via_the_cli(demo_run, tmp_path):
    paths, _, _ = demo_run
    result = subprocess.run(
        [sys.executable, "-m", "lvv.cli", "outflow", "--ref-date", "2020-11-01", "--definition",
         "evaluation-2021", "--format", "csv", "--data-dir", str(paths.root)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "line,durability,persons"
    assert {l.split(",")[0]: int(l.split(",")[2]) for l in lines[1:]} == TABLE_A
    assert "prefect" not in result.stderr.lower()


def test_reconcile_explains_the_2020_discrepancy_completely(db):
    rows = db.execute("""select line, persons_a, persons_b, effect, persons from reconcile(
        date '2020-11-01', 'programme', 'evaluation-2021', known_at_a := date '2020-11-30')""").df()
    for line, group in rows.groupby("line"):
        assert group["persons_a"].iloc[0] + group["persons"].sum() == group["persons_b"].iloc[0], line
    effects = set(rows["effect"]) - {"none"}
    assert {"counting_rule", "late_registration", "corrected_outcome"} <= effects
    b = rows.drop_duplicates("line").set_index("line")["persons_b"].to_dict()
    assert b == TABLE_A


def test_a_second_run_with_nothing_new_publishes_nothing(demo_run):
    from flows.monthly_outflow import RunParameters, monthly_outflow

    paths, _, _ = demo_run
    before = {p: p.stat().st_mtime_ns for p in paths.curated.glob("*") if p.is_file()}
    summary = monthly_outflow(RunParameters(data_dir=str(paths.root), reference_date=date(2020, 11, 1)))
    assert summary["processed"] == [] and summary["published"] is False
    assert {p: p.stat().st_mtime_ns for p in paths.curated.glob("*") if p.is_file()} == before


RULES = ["programme", "evaluation-2021", "evaluation-2022"]
DAYS = (date(2019, 3, 1), date(2022, 8, 31))


def test_bridge_adds_up_for_random_rules_and_knowledge_dates(db):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from transforms.reconcile import bridge, moved

    maybe_day = st.one_of(st.none(), st.dates(*DAYS))

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(RULES), st.sampled_from(RULES), maybe_day, maybe_day, st.dates(*DAYS))
    def check(rule_a, rule_b, known_a, known_b, ref_date):
        frame = bridge(db, ref_date, rule_a, rule_b, known_a, known_b)
        for line, group in frame.groupby("line"):
            assert group["persons_a"].iloc[0] + group["persons"].sum() == group["persons_b"].iloc[0], line
        for side, rule, known in (("persons_a", rule_a, known_a), ("persons_b", rule_b, known_b)):
            direct = db.execute("select line, sum(persons) from outflow($d, definition := $r, known_at := $k) "
                                "group by line", {"d": ref_date, "r": rule, "k": known}).fetchall()
            published = frame.drop_duplicates("line").set_index("line")[side]
            assert {l: int(n) for l, n in direct} == {l: int(n) for l, n in published.items() if n}
        drill = moved(db, ref_date, rule_a, rule_b, known_a, known_b)
        net: dict[tuple[str, str], int] = {}
        for row in drill.itertuples():
            for line, sign in ((row.to_line, 1), (row.from_line, -1)):
                if isinstance(line, str):
                    net[(line, row.effect)] = net.get((line, row.effect), 0) + sign
        expected = {(r.line, r.effect): r.persons for r in frame.itertuples() if r.effect != "none"}
        assert {k: v for k, v in net.items() if v} == {k: v for k, v in expected.items() if v}

    check()


def test_run_artifacts_show_the_findings_of_each_delivery_without_identifiers(demo_run):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from lvv.demo import truth_episodes

    _, demo, summary = demo_run
    this_run = ArtifactFilterFlowRunId(any_=[summary["run"]["run_id"]])  # other tests run flows too
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(like_="findings-"), flow_run_id=this_run))
        headline = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["outflow-headline"]), flow_run_id=this_run))
    by_key = {a.key: a for a in found}
    assert len(by_key) == len(found)  # one findings artifact per municipality and run
    for mistake in demo.planted:
        artifact = by_key[f"findings-{mistake.municipality}"]
        rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
        assert {"delivery": f"{mistake.municipality}/{mistake.period}", "excel_row": mistake.excel_row,
                "code": mistake.kind} in [{k: r[k] for k in ("delivery", "excel_row", "code")} for r in rows]
        assert f"{mistake.municipality}/{mistake.period} (accepted)" in artifact.description
    assert headline
    text = " ".join(str(a.data) + str(a.description) for a in found)
    assert not any(v in text for v in truth_episodes()["person_id"])


def test_planted_mistakes_yield_exactly_the_planted_findings(demo_run, db):
    _, demo, _ = demo_run
    found = db.execute("""select delivery_id, excel_row, column_header, code from validation_issues
                          where severity in ('error', 'fatal')""").fetchall()
    planted = [(f"{m.municipality}/{m.period}", m.excel_row, m.column, m.kind) for m in demo.planted]
    assert sorted(found) == sorted(planted)
    quarantined = db.execute("select delivery_id, excel_row from quarantined_rows").fetchall()
    assert sorted(quarantined) == sorted((d, r) for d, r, _, _ in planted)


def test_end_2019_row_beside_one_basis_for_every_municipality(db):
    rows = db.execute("""select municipality, published_measure, published_persons, inflow, occupancy
                         from end_2019_bases order by municipality""").fetchall()
    assert [r[0] for r in rows] == ["amsterdam", "eindhoven", "groningen", "rotterdam", "utrecht"]
    for municipality, measure, published, inflow, occupancy in rows:
        assert published == (inflow if measure == "inflow" else occupancy), municipality
        assert inflow >= occupancy
    mixed_total = sum(r[2] for r in rows)
    assert mixed_total != sum(r[3] for r in rows)  # the published row mixes two bases


def test_the_reports_outflow_series_is_outflow_at_every_month_end(db):
    """The monthly report computes the series in one pass; it must be outflow() at each month end,
    and at the reference date as its last point (2020-11-01: not the month end after it)."""
    from transforms.monthly_report import _first_intake, _outflow_series

    rules = ["programme", "evaluation-2021"]
    series = _outflow_series(db, _first_intake(db), date(2020, 11, 1), rules)
    series["month_end"] = pd.to_datetime(series["month_end"]).dt.date
    month_ends = sorted(set(series["month_end"]))
    assert month_ends[-1] == date(2020, 11, 1) and month_ends[-2] == date(2020, 10, 31) and len(month_ends) > 12
    for month_end in (month_ends[0], month_ends[len(month_ends) // 2], date(2020, 10, 31), date(2020, 11, 1)):
        for rule in rules:
            expected = db.execute("select municipality, line, sum(persons)::bigint from outflow($d, definition := $r) "
                                  "group by all", {"d": month_end, "r": rule}).fetchall()
            got = series[(series["month_end"] == month_end) & (series["definition"] == rule)]
            assert sorted(zip(got["municipality"], got["line"], got["persons"])) == sorted(expected)
