"""The monthly report's bridge (last month's revisions by cause) in one query for every rule,
held to what it replaced: one `reconcile(previous, rule, rule, known_at_a := previous)` call per
rule, effect not 'none' and persons not 0, concatenated in the rules' order (the oracle below,
computed independently through the published reconcile() macro), on hand-made histories where
every kind of revision occurs, on random ones, and on the demo."""

from __future__ import annotations

import random
from datetime import date

import pandas as pd
import pytest

from schemas.taxonomy import counting_rule_rows
from tests.test_reconcile import database, version
from transforms.monthly_report import _bridge

RULES = ["programme", "evaluation-2021", "evaluation-2022"]
K0 = date(2020, 9, 30)     # known before last month's figure
PREVIOUS = date(2020, 10, 31)  # last month end: the bridge's reference and knowledge date
K2 = date(2020, 11, 30)    # known since


def reconcile_per_rule(con, previous: date, rules: list[str]) -> pd.DataFrame:
    """The bridge as the report computed it before: one reconcile() call per rule."""
    frames = [con.execute("""
        select $definition as definition, line, effect, persons
        from reconcile($previous, $definition, $definition, known_at_a := $previous)
        where effect <> 'none' and persons <> 0
    """, {"previous": previous, "definition": rule}).df() for rule in rules]
    return pd.concat(frames, ignore_index=True)[["definition", "line", "effect", "persons"]]


def hand_made() -> list[dict]:
    """Every effect, a forced departure after detention (its line differs between the rules),
    a person with two revised episodes, a record that changes person, a person in two places."""
    det = ("immigration_detention", "forced_departure")
    return [
        # late registration: the exit was not known last month
        version("late", K0, K2), version("late", K2, None, date(2020, 10, 20), "permit_granted"),
        # corrected outcome, under a rule whose line for it differs
        version("corr", K0, K2, date(2020, 6, 1), "departed_unknown"),
        version("corr", K2, None, date(2020, 6, 1), *det),
        # withdrawn exit
        version("wexit", K0, K2, date(2020, 7, 1), "return_forced"), version("wexit", K2, None),
        # exit moved past the reference date: withdrawn too
        version("later", K0, K2, date(2020, 7, 1), "permit_granted"),
        version("later", K2, None, date(2020, 11, 3), "permit_granted"),
        # an episode added, one withdrawn
        version("added", K2, None, date(2020, 5, 1), "departed_unknown"),
        version("gone", K0, K2, date(2020, 5, 1), "return_forced"),
        # a steward's correction
        version("stew", K0, K2, date(2020, 8, 1), "departed_unknown"),
        version("stew", K2, None, date(2020, 8, 1), "permit_granted", correction="c-1"),
        # one person, two episodes revised differently; the same person elsewhere unchanged
        version("two1", K0, K2, date(2020, 3, 1), "departed_unknown", person="Ptwo"),
        version("two1", K2, None, date(2020, 3, 1), "return_forced", person="Ptwo"),
        version("two2", K0, K2, person="Ptwo"),
        version("two2", K2, None, date(2020, 4, 1), "permit_granted", person="Ptwo"),
        version("two3", K0, None, date(2020, 2, 1), "departed_unknown", person="Ptwo", municipality="utrecht"),
        # a record whose person changed, its line unchanged
        version("who", K0, K2, date(2020, 2, 1), "permit_granted", person="Pold"),
        version("who", K2, None, date(2020, 2, 1), "permit_granted", person="Pnew"),
        # unchanged, and known only after the reference date's knowledge (no move)
        version("same", K0, None, date(2020, 1, 5), *det),
    ]


def random_history(seed: int, episodes: int = 60) -> list[dict]:
    """Episodes of a few persons in two municipalities, each known before last month end, after
    it, or both, with an exit before or after the reference date or none, under any (outcome,
    follow-up) a rule counts, sometimes corrected by a steward."""
    rng = random.Random(seed)
    cases = sorted({(r["outcome_code"], r["follow_up_code"]) for r in counting_rule_rows()},
                   key=lambda c: (c[0], c[1] or ""))
    exits = [None, date(2020, 3, 1), date(2020, 10, 31), date(2020, 11, 1), date(2020, 6, 15)]

    def state() -> dict:
        exit_date = rng.choice(exits)
        outcome, follow_up = rng.choice(cases) if exit_date else (None, None)
        return dict(exit_date=exit_date, outcome=outcome, follow_up=follow_up,
                    person=f"P{rng.randrange(8)}", correction=rng.choice([None, None, None, "c-1", "c-2"]))

    rows = []
    for n in range(episodes):
        place = rng.choice(["amsterdam", "utrecht"])
        kind = rng.choice(["kept", "revised", "added", "withdrawn"])
        first = state()
        if kind == "added":
            rows.append(version(f"e{n}", K2, None, municipality=place, **first))
        elif kind == "withdrawn":
            rows.append(version(f"e{n}", K0, K2, municipality=place, **first))
        elif kind == "kept":
            rows.append(version(f"e{n}", K0, None, municipality=place, **first))
        else:
            rows.append(version(f"e{n}", K0, K2, municipality=place, **first))
            rows.append(version(f"e{n}", K2, None, municipality=place, **state()))
    return rows


def test_the_bridge_of_every_rule_in_one_query_is_the_reconcile_call_of_each(tmp_path):
    con = database(tmp_path, hand_made())
    expected = reconcile_per_rule(con, PREVIOUS, RULES)
    # every effect the knowledge step has occurs, and the rules differ somewhere
    assert {"late_registration", "corrected_outcome", "withdrawn_exit", "added_episode",
            "withdrawn_episode", "steward_correction"} <= set(expected["effect"])
    assert not expected[expected["definition"] == "programme"].reset_index(drop=True).equals(
        expected[expected["definition"] == "evaluation-2021"].reset_index(drop=True))
    found = _bridge(con, PREVIOUS, RULES)
    pd.testing.assert_frame_equal(found, expected)
    # the rules in the order asked, one of them alone
    for rules in (RULES[::-1], ["evaluation-2021"]):
        pd.testing.assert_frame_equal(_bridge(con, PREVIOUS, rules), reconcile_per_rule(con, PREVIOUS, rules))


@pytest.mark.parametrize("seed", range(6))
def test_the_one_query_bridge_matches_reconcile_on_random_histories(tmp_path, seed):
    con = database(tmp_path, random_history(seed))
    expected = reconcile_per_rule(con, PREVIOUS, RULES)
    assert len(expected)  # something moved
    pd.testing.assert_frame_equal(_bridge(con, PREVIOUS, RULES), expected)


def test_nothing_revised_gives_the_same_empty_bridge(tmp_path):
    con = database(tmp_path, [version("same", K0, None, date(2020, 1, 5), "permit_granted")])
    expected = reconcile_per_rule(con, PREVIOUS, RULES)
    found = _bridge(con, PREVIOUS, RULES)
    assert found.empty and expected.empty and list(found.columns) == list(expected.columns)


def test_an_unknown_rule_is_refused_as_reconcile_refuses_it(tmp_path):
    import duckdb

    con = database(tmp_path, hand_made())
    with pytest.raises(duckdb.Error, match="unknown counting rule 'nope'"):
        _bridge(con, PREVIOUS, ["programme", "nope"])


def test_the_demo_bridge_is_the_reconcile_calls_at_several_month_ends(demo_db):
    con = demo_db
    for previous in (date(2020, 10, 31), date(2020, 3, 31), date(2019, 12, 31)):
        expected = reconcile_per_rule(con, previous, RULES)
        pd.testing.assert_frame_equal(_bridge(con, previous, RULES), expected)
