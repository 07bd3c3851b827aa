"""The report's outflow and occupancy series counted in one pass (transforms/monthly_report:
_outflow_series, _occupancy_series).

Each person's first exit is counted once, at the series point on or after it, and a running sum
gives every point. Two oracles, on databases the generator never wrote: outflow() asked at each
series point, and the statement the report used before (each first exit joined to every later
point), kept here. The hand-made network holds what the running sum must get right:
an exit on a month end, on the reference date and after it, an exit before the first intake (so
before the first point), months without a new exit, a reference date within a month, a version
no longer in force, and a person leaving under two rules' lines. The occupancy series the same
way: persons in an LVV at each point and their first intakes up to it, against that asked point by
point; its municipality holds overlapping, adjacent and separate stays of one person, a stay
between two points, one that ends before it starts, one that ends after the reference date and
an intake after it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.test_monthly_report import NET_REF, network, report  # noqa: F401  (fixtures)
from transforms.monthly_report import _first_intake, _occupancy_series, _outflow_series, _report_objects

RULES = ["programme", "evaluation-2021", "evaluation-2022"]

#: the report's statement before the running sum: each person's first exit per rule, municipality,
#: line and durability joined to every series point on or after it, and counted there (written
#: here as a subquery with the reporting lines as a semi-join: the same rows)
RANGE_JOIN = """
    select list_position($definitions, f.definition) as rule, m.month_end, f.municipality, f.line,
        count(*)::bigint as persons
    from series_points($first, $ref) as m
    join (
        select r.definition, v.municipality, r.line, r.durability, v.person_id, min(v.exit_date) as first_exit
        from episodes_known_at(null) as v
        join counting_rules as r
            on v.outcome_code = r.outcome_code and v.follow_up_code is not distinct from r.follow_up_code
        where v.exit_date is not null and list_contains($definitions, r.definition)
            and r.line in (select code from taxonomy where vocabulary = 'reporting_lines')
        group by all
    ) as f on f.first_exit <= m.month_end
    group by all
    order by all
"""


#: occupancy and inflow asked at each series point: the persons with a stay covering it, and with an
#: intake on or before it
POINT_BY_POINT_OCCUPANCY = """
    select m.month_end, e.municipality,
        count(distinct case when e.exit_date is null or e.exit_date > m.month_end then e.person_id end)::bigint
            as occupancy,
        count(distinct e.person_id)::bigint as inflow
    from series_points($first, $ref) as m
    join episodes_known_at(null) as e on e.intake_date <= m.month_end
    group by all
    order by all
"""


def assert_occupancy_at_every_point(con, ref: date) -> pd.DataFrame:
    first = _first_intake(con)
    series = _occupancy_series(con, first, ref)
    expected = con.execute(POINT_BY_POINT_OCCUPANCY, {"first": first, "ref": ref}).df()
    pd.testing.assert_frame_equal(series, expected, check_exact=True)
    return series


def range_join_series(con, first: date, ref: date, definitions: list[str]) -> pd.DataFrame:
    asked = [d.lower() for d in definitions]
    counted = con.execute(RANGE_JOIN, {"first": first, "ref": ref, "definitions": asked}).df()
    frames = [counted[counted["rule"] == asked.index(d.lower()) + 1].assign(definition=d) for d in definitions]
    return pd.concat(frames, ignore_index=True)[["month_end", "definition", "municipality", "line", "persons"]]


def assert_outflow_at_every_point(con, ref: date, definitions: list[str]) -> pd.DataFrame:
    """The series equals the old statement frame for frame, and outflow() at each of its points."""
    first = _first_intake(con)
    series = _outflow_series(con, first, ref, definitions)
    pd.testing.assert_frame_equal(series, range_join_series(con, first, ref, definitions), check_exact=True)
    points = [row[0] for row in con.execute("select month_end from series_points($f, $r) order by 1",
                                            {"f": first, "r": ref}).fetchall()]
    series = series.assign(month_end=pd.to_datetime(series["month_end"]).dt.date)
    for point in points:
        for rule in definitions:
            expected = con.execute("select municipality, line, sum(persons)::bigint from outflow($d, definition := $r) "
                                   "group by all having sum(persons) > 0", {"d": point, "r": rule}).fetchall()
            got = series[(series["month_end"] == point) & (series["definition"] == rule)]
            assert sorted(zip(got["municipality"], got["line"], got["persons"])) == sorted(expected), (point, rule)
    return series


def hand_made(network: Path, folder: Path) -> Path:  # noqa: F811
    """A database with the hand-built network's table types and the rows below."""
    from transforms.publish import build_database

    real = duckdb.connect(str(network), read_only=True)
    typed = {t: real.execute(f"select * from {t} limit 0").df() for t in
             ("episode_versions", "deliveries", "validation_issues", "quarantined_rows")}
    real.close()
    rows = []

    def stay(m, person, n, intake, exit_date=None, outcome=(None, None), known_to=None):
        rows.append(dict(episode_id=f"{m}-{person}-{n}", municipality=m, version=1, person_id=f"{m}-{person}",
                         intake_date=intake, exit_date=exit_date, outcome_code=outcome[0], follow_up_code=outcome[1],
                         known_from=date(2020, 1, 31), known_to=known_to, stated_in=f"{m}/2020-06",
                         excel_row=2 + len(rows), correction=None))

    back, gone, permit = ("return_independent", None), ("departed_unknown", None), ("permit_granted", None)
    stay("a", "first", 1, date(2020, 2, 10))                               # the first intake: points from 2020-02-29
    stay("a", "early", 1, date(2020, 5, 1), date(2020, 1, 15), back)        # exit before the first point
    stay("a", "monthend", 1, date(2020, 3, 5), date(2020, 3, 31), back)     # on a month end
    stay("a", "onref", 1, date(2020, 3, 5), date(2020, 6, 15), gone)        # on the reference date
    stay("a", "afterref", 1, date(2020, 3, 5), date(2020, 6, 20), gone)     # after it: never counted
    stay("a", "june", 1, date(2020, 3, 5), date(2020, 6, 3), permit)        # in the reference date's month
    stay("a", "twice", 1, date(2020, 2, 11), date(2020, 3, 2), back)        # leaves under two outcomes
    stay("a", "twice", 2, date(2020, 3, 20), date(2020, 5, 9), permit)
    stay("a", "twice", 3, date(2020, 5, 20), date(2020, 5, 29), back)       # the same line again: first exit counts
    stay("b", "old", 1, date(2020, 2, 12), date(2020, 2, 14), gone, known_to=date(2020, 3, 31))  # not in force
    stay("b", "old", 2, date(2020, 2, 12), date(2020, 4, 30), gone)         # its version in force
    stay("b", "stays", 1, date(2020, 2, 13))
    stay("c", "over", 1, date(2020, 2, 15), date(2020, 4, 10))       # two overlapping stays
    stay("c", "over", 2, date(2020, 3, 1), date(2020, 5, 5))
    stay("c", "adjacent", 1, date(2020, 2, 20), date(2020, 3, 31))   # leaves on a month end, back that day
    stay("c", "adjacent", 2, date(2020, 3, 31))
    stay("c", "within", 1, date(2020, 4, 2), date(2020, 4, 20))      # between two points
    stay("c", "backwards", 1, date(2020, 5, 10), date(2020, 5, 1))   # ends before it starts
    stay("c", "late", 1, date(2020, 6, 20))                           # enters after the reference date
    stay("c", "afterref", 1, date(2020, 6, 1), date(2020, 6, 20))    # leaves after it
    stay("c", "gap", 1, date(2020, 2, 25), date(2020, 3, 10))        # two stays, a gap between
    stay("c", "gap", 2, date(2020, 5, 1), date(2020, 6, 1))
    tables = {"episode_versions": pd.DataFrame(rows, columns=typed["episode_versions"].columns)
              .astype(typed["episode_versions"].dtypes.to_dict()),
              **{name: typed[name] for name in ("deliveries", "validation_issues", "quarantined_rows")}}
    path = folder / "lvv.duckdb"
    build_database(path, tables)
    return path


def test_the_hand_made_series_is_outflow_at_every_point_and_the_old_statement(network, tmp_path):  # noqa: F811
    con = duckdb.connect(str(hand_made(network, tmp_path)), read_only=True)
    _report_objects(con)
    series = assert_outflow_at_every_point(con, date(2020, 6, 15), RULES)
    # by hand, under the programme rule (persons per municipality, line and durability, summed):
    # 02-29 early (its exit of 2020-01-15 counts from the first point); 03-31 + monthend + twice
    # (returned, first on 03-02); 04-30 + b's old (its version in force; the one no longer in force
    # left in February); 05-31 + twice (legalised); the reference date 06-15 + onref + june
    programme = series[series["definition"] == "programme"].groupby("month_end")["persons"].sum()
    assert list(programme.index) == [date(2020, 2, 29), date(2020, 3, 31), date(2020, 4, 30), date(2020, 5, 31),
                                     date(2020, 6, 15)]
    assert list(programme) == [1, 3, 4, 5, 7]


def test_the_hand_made_occupancy_series_is_asked_point_by_point(network, tmp_path):  # noqa: F811
    con = duckdb.connect(str(hand_made(network, tmp_path)), read_only=True)
    _report_objects(con)
    series = assert_occupancy_at_every_point(con, date(2020, 6, 15))
    # by hand, municipality c at 02-29, 03-31, 04-30, 05-31 and 06-15: in an LVV over+adjacent+gap,
    # over+adjacent (gap left, adjacent back on 03-31), over+adjacent, adjacent+gap (back in May),
    # adjacent+afterref; entered over, adjacent and gap, then within, backwards and afterref
    c = series[series["municipality"] == "c"]
    assert list(c["occupancy"]) == [3, 2, 2, 2, 2]
    assert list(c["inflow"]) == [3, 3, 4, 5, 6]


@pytest.mark.parametrize("ref", [NET_REF, date(2020, 11, 17), date(2020, 6, 30)])
def test_the_hand_built_networks_series_is_outflow_at_every_point(network, ref):  # noqa: F811
    con = duckdb.connect(str(network), read_only=True)
    assert_outflow_at_every_point(con, ref, ["Evaluation-2022", "programme"])
    assert_occupancy_at_every_point(con, ref)


def test_the_demo_series_is_the_old_statements(demo_db):
    assert_occupancy_at_every_point(demo_db, date(2020, 11, 1))
    first = _first_intake(demo_db)
    pd.testing.assert_frame_equal(_outflow_series(demo_db, first, date(2020, 11, 1), RULES),
                                  range_join_series(demo_db, first, date(2020, 11, 1), RULES), check_exact=True)
