"""The published figures against the demo's oracle, which shares nothing with the pipeline.

The oracle (lvv.demo.oracle) is the generator's own record: every episode with its facts in the
generator's codes, and what each delivery said. The generator wrote the files from its own
hand-typed register tables (lvv/demo/registers.py), the tests classify with their own rule
tables and pseudonymise with hmac directly (oracle_tables.py). A label mapped to the wrong code
in a contract, a date notation read the wrong way round, a follow-up column ignored or an
episode version in force at the wrong knowledge date shows here as a row that differs.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from lvv.demo import oracle_episodes, oracle_statements
from oracle_tables import RULES, as_rows, classify, episode_pseudonym, lines, person_pseudonym

SEED = 2020_11_01
REF_A, REF_B, REF_C = date(2020, 11, 1), date(2019, 12, 31), date(2022, 7, 1)
KNOWN_A = date(2020, 11, 30)
FACTS = ["episode_id", "municipality", "person_id", "intake_date", "exit_date", "outcome_code",
         "follow_up_code"]


@pytest.fixture(scope="module")
def con(demo_db):
    return demo_db


@pytest.fixture(scope="module")
def statements() -> pd.DataFrame:
    """What every delivery said, pseudonymised here with the demo key (hmac, not the pipeline)."""
    return pseudonymised(oracle_statements(SEED))


def pseudonymised(frame: pd.DataFrame) -> pd.DataFrame:
    records = zip(frame["municipality"], frame["record_id"], strict=True)
    return frame.assign(episode_id=[episode_pseudonym(m, r) for m, r in records],
                        person_id=[person_pseudonym(p) for p in frame["person_id"]])


def known_at(statements: pd.DataFrame, when: date) -> pd.DataFrame:
    """The oracle's episodes as known at `when`: each one's latest statement that was not a
    planted mistake (a quarantined row leaves the version before it in force)."""
    valid = statements[(statements["stand_per"] <= when) & statements["mistake_kind"].isna()]
    return valid.sort_values("stand_per").drop_duplicates("episode_id", keep="last")


def closed_by(frame: pd.DataFrame, ref: date) -> pd.DataFrame:
    return frame[frame["exit_date"].notna() & (frame["exit_date"] <= pd.Timestamp(ref).date())]


def published(con, sql: str) -> pd.DataFrame:
    return con.sql(sql).df()


# ------------------------------------------------------------------ row by row
def test_published_episodes_are_the_oracle_row_by_row(con, statements):
    expected = pseudonymised(oracle_episodes(SEED))
    got = con.sql(f"select {', '.join(FACTS)} from episodes").fetchall()
    assert len(got) == len(expected) == 2085
    assert set(got) == as_rows(expected, FACTS)
    # the final statements of the last deliveries are the oracle's final facts
    assert as_rows(known_at(statements, date(2022, 7, 31)), FACTS) == as_rows(expected, FACTS)


def test_each_delivery_is_in_force_at_its_stand_per_date(con, statements):
    stand_pers = sorted(statements["stand_per"].unique())
    assert len(stand_pers) == 41  # every month 2019-03 .. 2022-07: one or more deliveries each
    checked = 0
    for when in stand_pers:
        got = con.execute(
            f"select {', '.join(FACTS)} from episodes_known_at($k)", {"k": when}
        ).fetchall()
        expected = as_rows(known_at(statements, when), FACTS)
        assert len(got) == len(expected), when
        assert set(got) == expected, f"as known at {when}: " + repr(sorted(set(got) ^ expected)[:4])
        checked += len(got)
    assert checked > 40_000
    # the planted mistakes took effect: their rows were never in force
    assert statements["mistake_kind"].notna().sum() == 8


def test_the_oracle_record_is_written_next_to_the_manifest(demo_run):
    _, demo, _ = demo_run
    written = pd.read_csv(demo.oracle, dtype=str, keep_default_na=False)
    oracle = oracle_episodes(SEED)
    assert len(written) == len(oracle)
    assert list(written["person_id"]) == list(oracle["person_id"])  # leading zeros kept
    assert list(written["exit_date"]) == [d.isoformat() if isinstance(d, date) else "" for d in oracle["exit_date"]]
    late = oracle[oracle["exit_stated_in"].notna()]
    assert (late["exit_stated_in"] >= late["appeared_in"]).all()


# ------------------------------------------------------------------ the README's bridge
#: README "The 2020 discrepancy, explained": programme as known at 2020-11-30 against
#: evaluation-2021 as known now, at 2020-11-01
README_A = {"legalised": 42, "returned": 53, "onward_migration": 2, "repeat_application": 167,
            "postponed_departure": 19, "departed_unknown": 103, "stay_terminated": 76,
            "other_non_durable": 66}
README_EFFECTS = {
    ("legalised", "late_registration"): 1,
    ("returned", "counting_rule"): -12, ("returned", "corrected_outcome"): 9,
    ("repeat_application", "late_registration"): 3,
    ("postponed_departure", "late_registration"): 1,
    ("departed_unknown", "late_registration"): 2, ("departed_unknown", "corrected_outcome"): -5,
    ("other_non_durable", "counting_rule"): 12, ("other_non_durable", "late_registration"): 2,
    ("other_non_durable", "corrected_outcome"): -4,
}


def oracle_bridge(statements: pd.DataFrame) -> tuple[dict, dict, dict]:
    """(persons per line at A, at B, per (line, effect)) from the oracle's statements alone."""
    then = closed_by(known_at(statements, KNOWN_A), REF_A).set_index("episode_id")
    now = closed_by(known_at(statements, date(2022, 7, 31)), REF_A).set_index("episode_id")

    def line(row, rule):
        return classify(rule, row["outcome_code"], row["follow_up_code"])[0]

    moves: dict[tuple[str, str], set] = {}

    def move(line_, effect, who, sign):
        moves.setdefault((line_, effect), set()).add((who, sign))

    for eid in then.index.union(now.index):
        a = line(then.loc[eid], "programme") if eid in then.index else None
        ab = line(now.loc[eid], "programme") if eid in now.index else None
        b = line(now.loc[eid], "evaluation-2021") if eid in now.index else None
        row = now.loc[eid] if eid in now.index else then.loc[eid]
        who = (row["municipality"], row["person_id"])
        if a is None:
            move(ab, "late_registration", who, +1)
        elif ab is None:
            move(a, "withdrawn_exit", who, -1)
        elif a != ab:
            move(a, "corrected_outcome", who, -1)
            move(ab, "corrected_outcome", who, +1)
        if ab is not None and ab != b:
            move(ab, "counting_rule", who, -1)
            move(b, "counting_rule", who, +1)

    def per_line(frame, rule):
        counted = frame.assign(line=[line(r, rule) for _, r in frame.iterrows()])
        persons = counted.groupby(["line", "municipality"])["person_id"].nunique().groupby("line").sum()
        return {k: int(v) for k, v in persons.items()}

    effects = {k: sum(sign for _, sign in v) for k, v in moves.items()}
    effects = {k: v for k, v in effects.items() if v}
    return per_line(then, "programme"), per_line(now, "evaluation-2021"), effects


def test_the_readme_bridge_follows_from_the_oracle(con, statements):
    persons_a, persons_b, effects = oracle_bridge(statements)
    assert persons_a == README_A and sum(persons_a.values()) == 528
    assert effects == README_EFFECTS
    assert sum(persons_b.values()) == 537
    for line_, n in persons_b.items():  # every difference is explained, line by line
        assert README_A[line_] + sum(v for (l, _), v in effects.items() if l == line_) == n
    got = published(con, "select * from reconcile(date '2020-11-01', 'programme', 'evaluation-2021', "
                         "known_at_a := date '2020-11-30')")
    assert {r.line: r.persons_a for r in got.itertuples()} == persons_a
    assert {r.line: r.persons_b for r in got.itertuples()} == persons_b
    assert {(r.line, r.effect): r.persons for r in got.itertuples() if r.effect != "none"} == effects


# ------------------------------------------------------------------ the counting rules
def test_programme_minus_evaluation_is_the_forced_departures_after_detention(con):
    oracle = oracle_episodes(SEED)
    out = closed_by(oracle, REF_A)
    forced = out[(out["outcome_code"] == "immigration_detention") & (out["follow_up_code"] == "forced_departure")]
    expected = forced.groupby("municipality")["person_id"].nunique().to_dict()
    assert sum(expected.values()) == 12
    durable = published(con, """
        select municipality,
               sum(persons) filter (where definition = 'programme') as programme,
               sum(persons) filter (where definition = 'evaluation-2021') as evaluation
        from (
            select *, 'programme' as definition from outflow(date '2020-11-01', definition := 'programme')
            union all
            select *, 'evaluation-2021' from outflow(date '2020-11-01', definition := 'evaluation-2021')
        ) where durability = 'durable' group by municipality""")
    difference = {r.municipality: int(r.programme - r.evaluation) for r in durable.itertuples()}
    assert {m: d for m, d in difference.items() if d} == expected
    assert all(d >= 0 for d in difference.values())


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rule_at_three_reference_dates_is_the_oracle(con, rule):
    oracle = oracle_episodes(SEED).assign(person_id=lambda f: f["person_id"].map(person_pseudonym))
    for ref in (REF_B, REF_A, REF_C):
        expected = lines(closed_by(oracle, ref), rule)
        got = con.execute("select municipality, line, durability, persons from outflow($d, definition := $r)",
                          {"d": ref, "r": rule}).fetchall()
        assert set(got) == as_rows(expected, ["municipality", "line", "durability", "persons"]), (rule, ref)
