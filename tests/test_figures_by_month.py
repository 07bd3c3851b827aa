"""Every month end's figure sets of the public series built in one pass
(suppression.series_figures_by_month, occupancy_figures_by_month) are the ones series_figures and
occupancy_figures build one month end at a time: the same atoms frames (values, dtypes, index,
order), the same forms, values and positions. The one-at-a-time functions are the definition (one
month end's atoms summed over the municipalities; per municipality who is in and who left); a
protection pattern's cache key is the fingerprint of these sets, so any difference would change
which patterns are kept, and with them the published cells.

Data: the demo's release and the hand-built network of tests/test_monthly_report.py (a person who
leaves twice, one whose second exit falls on a month end, 25 municipalities, a month without
exits), and hand-made frames in layouts gather never writes (rows out of month order, a class set
twice in a month, a municipality twice in a month, a missing month end, a rule asked twice).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.test_monthly_report import NET_REF, network, report  # noqa: F401  (fixtures)
from transforms import suppression
from transforms.monthly_report import gather
from transforms.queries import line_labels

RULES = ["programme", "evaluation-2021", "evaluation-2022"]


def one_by_one_series(series_atoms: pd.DataFrame, definitions: list[str], lines: list[str]) -> dict:
    return {pd.Timestamp(month_end): suppression.series_figures(atoms, definitions, lines)
            for month_end, atoms in series_atoms.groupby("month_end", sort=True)}


def one_by_one_occupancy(series: pd.DataFrame) -> dict:
    return {pd.Timestamp(month_end): suppression.occupancy_figures(rows)
            for month_end, rows in series.groupby("month_end", sort=True)}


def assert_same_parts(got: dict, expected: dict) -> None:
    assert list(got) == list(expected) and all(type(k) is pd.Timestamp for k in got)
    for key, want in expected.items():
        have = got[key]
        pd.testing.assert_frame_equal(have.atoms, want.atoms, check_exact=True, check_index_type=True,
                                      check_column_type=True)
        assert type(have.atoms.index) is type(want.atoms.index), key
        assert list(have.atoms.dtypes) == list(want.atoms.dtypes), key
        for name in ("indptr", "indices", "data"):
            a, b = getattr(have.forms, name), getattr(want.forms, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (key, name)
        assert have.forms.width == want.forms.width
        assert have.values.dtype == want.values.dtype and np.array_equal(have.values, want.values), key
        assert list(have.positions.items()) == list(want.positions.items()), key
        assert (have.sums, have.links, have.relations, have.ratios) == ([], [], [], [])
        assert suppression.fingerprint(have, 5, 5.0) == suppression.fingerprint(want, 5, 5.0), key


def assert_both(series_atoms: pd.DataFrame, occupancy: pd.DataFrame, definitions: list[str],
                lines: list[str]) -> None:
    expected = one_by_one_series(series_atoms, definitions, lines)
    assert_same_parts(suppression.series_figures_by_month(series_atoms, definitions, lines), expected)
    assert_same_parts(suppression.occupancy_figures_by_month(occupancy), one_by_one_occupancy(occupancy))


def test_the_demo_month_ends_are_the_ones_built_one_by_one(demo_run):
    paths, _, _ = demo_run
    data = gather(paths.database, date(2020, 11, 1), RULES, {"run_id": "t"})
    assert data.series_atoms["month_end"].nunique() > 10 and data.occupancy_series["municipality"].nunique() > 1
    assert_both(data.series_atoms, data.occupancy_series, RULES, list(line_labels()))


@pytest.mark.parametrize("ref", [NET_REF, date(2020, 10, 14)])
def test_the_hand_built_networks_month_ends_are_the_ones_built_one_by_one(network, ref):  # noqa: F811
    data = gather(network, ref, RULES, {"run_id": "t"})
    assert data.occupancy_series["municipality"].nunique() == 25
    assert_both(data.series_atoms, data.occupancy_series, RULES, list(line_labels()))


def test_layouts_gather_never_writes_give_the_same_figure_sets():
    a = (("r", "returned", "durable"),)
    b = (("r", "legalised", "durable"), ("r", "returned", "non_durable"), ("r", "returned", "durable"))
    c = (("s", "returned", "durable"), ("r", "other", "durable"))  # a rule and a line not asked
    june, may, july = (pd.Timestamp(2020, m, d) for m, d in ((6, 30), (5, 31), (7, 31)))
    series_atoms = pd.DataFrame({"month_end": [june, may, june, june, pd.NaT, july, may],
                                 "municipality": ["x", "x", "y", "x", "x", "y", "y"],  # summed over
                                 "classes": [a, a, b, b, a, c, a],  # b twice in June, after a
                                 "persons": [2, 1, 3, 4, 9, 1, 6]})  # (sorted, b would come first)
    occupancy = pd.DataFrame({"month_end": [june, may, june, may, pd.NaT, june],
                              "municipality": ["oost", "west", "west", "oost", "oost", "oost"],
                              "occupancy": [3, 0, 1, 2, 7, 1], "inflow": [5, 4, 1, 2, 7, 2]})
    for definitions, lines in ((["r"], ["legalised", "returned", "other"]), (["r", "r"], ["returned", "returned"]),
                               ([], ["returned"]), (["r", "s"], ["gone"])):
        assert_both(series_atoms, occupancy, definitions, lines)
    parts = suppression.series_figures_by_month(series_atoms, ["r"], ["legalised", "returned"])
    june_values = {p: parts[june].values[i] for p, i in parts[june].positions.items()}
    # by hand: June holds a (2 persons) and b (3 + 4 persons, each in two cells of 'returned')
    assert june_values == {("series", "r", "legalised"): 7, ("series", "r", "returned"): 2 + 2 * 7}
    assert list(parts) == [may, june, july]  # the missing month end left out, as groupby does


def test_a_month_with_occupancy_above_its_inflow_is_refused_as_one_by_one():
    occupancy = pd.DataFrame({"month_end": [pd.Timestamp(2020, 6, 30)] * 2 + [pd.Timestamp(2020, 5, 31)] * 2,
                              "municipality": ["zuid", "oost", "west", "noord"],
                              "occupancy": [3, 3, 0, 2], "inflow": [2, 1, 4, 1]})
    with pytest.raises(RuntimeError) as one_by_one:
        one_by_one_occupancy(occupancy)
    with pytest.raises(RuntimeError) as batched:
        suppression.occupancy_figures_by_month(occupancy)
    assert str(batched.value) == str(one_by_one.value) and "['noord']" in str(batched.value)


def test_empty_series_give_no_month_ends():
    empty = pd.DataFrame(columns=["month_end", "classes", "persons"])
    assert suppression.series_figures_by_month(empty, ["r"], ["returned"]) == {}
    assert suppression.occupancy_figures_by_month(
        pd.DataFrame(columns=["month_end", "municipality", "occupancy", "inflow"])) == {}
