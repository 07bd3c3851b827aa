"""How the public outflow series counts a person (transforms/suppression.series_figures).

DESIGN.md: `outflow(ref_date, definition)` returns persons per municipality, line and durability,
and the published tables sum those rows ("persons are counted per municipality and summed"). A
line's figure is therefore the sum of its (municipality, line, durability) cells, each counting
distinct persons. Counting rules are data: nothing stops a rule from putting two outcomes with
different durability classes in one line (the shipped rules happen not to), and then a person with
one exit of each kind in one municipality is one person in each of the line's two cells, so two in
the line's figure. The series' linear form must give exactly the published figure, or the audit
reasons about a number that is not the one printed.

The rule and exits below are typed by hand; the expected figures are counted by hand from that
definition, not taken from the code.
"""

from __future__ import annotations

import pandas as pd

from transforms.suppression import atoms, edition_figures, series_figures

#: a counting rule the shipped ones are not: one line ('returned') with two durability classes
RULE = pd.DataFrame(
    [("r", "return_independent", "", "returned", "durable"),
     ("r", "return_forced", "", "returned", "non_durable"),
     ("r", "permit_granted", "", "legalised", "durable")],
    columns=["definition", "outcome_code", "follow_up_code", "line", "durability"])

EXITS = pd.DataFrame(
    [("oost", "p1", "return_independent", None),   # p1 left oost twice: once of each kind
     ("oost", "p1", "return_forced", None),
     ("oost", "p2", "return_independent", None),
     ("west", "p3", "return_forced", None),
     ("west", "p1", "permit_granted", None)],      # and left west with a permit
    columns=["municipality", "person_id", "outcome_code", "follow_up_code"])


def test_a_person_with_two_durabilities_in_one_line_counts_once_in_each_cell():
    # by hand, per (municipality, line, durability), distinct persons:
    #   oost returned durable {p1, p2} = 2; oost returned non_durable {p1} = 1
    #   west returned non_durable {p3} = 1;  west legalised durable {p1} = 1
    # the series sums the cells over municipalities and durabilities:
    #   returned = 2 + 1 + 1 = 4, legalised = 1
    figures = series_figures(atoms(EXITS, RULE, ["r"]), ["r"], ["legalised", "returned"])
    value = {key: figures.values[i] for key, i in figures.positions.items()}
    assert value["series", "r", "returned"] == 4
    assert value["series", "r", "legalised"] == 1


def test_the_series_point_and_the_reference_dates_headline_count_the_same_person_alike():
    """The joint audit assumes a series point is at most the reference date's figure of the same
    rule and line (exits only accumulate): with the same exits both must count 4."""
    atom_frame = atoms(EXITS, RULE, ["r"])
    series = series_figures(atom_frame, ["r"], ["legalised", "returned"])
    edition = edition_figures(atom_frame, ["r"], ["legalised", "returned"], ["oost", "west"])
    assert (series.values[series.positions["series", "r", "returned"]]
            == edition.values[edition.positions["headline", "returned", "r"]] == 4)
    assert edition.values[edition.positions["by_municipality", "r", "oost", "returned"]] == 3
