"""Small-cell protection as an optimisation with an audit (transforms/suppression.py).

Tables here are built by hand (layouts and values the demo generator never wrote); the checks
use criteria of their own: a graph test of which suppressed cells the sums give away, and an
exhaustive search for the least pattern on a table small enough to enumerate.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from transforms.suppression import (
    Figures,
    atoms,
    audit,
    edition_figures,
    protect,
    series_figures,
    unprotected,
)

DURABILITY = {"legalised": "durable", "returned": "durable", "other_non_durable": "non_durable",
              "repeat_application": "semi_durable"}


def one_rule(table: dict[str, dict[str, int]], rule: str = "r") -> pd.DataFrame:
    """Atoms of a single rule's table {municipality: {line: persons}}: one atom per cell."""
    return pd.DataFrame([{"municipality": m, "classes": ((rule, line, DURABILITY[line]),), "persons": v}
                         for m, row in table.items() for line, v in row.items() if v],
                        columns=["municipality", "classes", "persons"])


def grid(figures: Figures, hidden: np.ndarray, rule: str, municipalities: list[str], lines: list[str]
         ) -> np.ndarray:
    """The rule's table with its margins as a grid of hidden flags."""
    return np.array([[hidden[figures.positions[("by_municipality", rule, m, line)]]
                      for line in [*lines, "total"]] for m in [*municipalities, "total"]])


def bridges(hidden: np.ndarray) -> list[tuple[int, int]]:
    """Suppressed cells the row and column sums give away: those on no cycle of suppressed cells."""
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(hidden))]
    found = []
    for skip in edges:
        graph: dict[str, set[str]] = {}
        for i, j in edges:
            if (i, j) != skip:
                graph.setdefault(f"r{i}", set()).add(f"c{j}")
                graph.setdefault(f"c{j}", set()).add(f"r{i}")
        seen, todo = {f"r{skip[0]}"}, [f"r{skip[0]}"]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        if f"c{skip[1]}" not in seen:
            found.append(skip)
    return found


LINES = ["legalised", "returned", "repeat_application", "other_non_durable"]
TABLE = {"noord": {"legalised": 12, "returned": 1, "repeat_application": 41, "other_non_durable": 3},
         "oost": {"legalised": 9, "returned": 14, "repeat_application": 0, "other_non_durable": 22},
         "zuid": {"legalised": 30, "returned": 6, "repeat_application": 17, "other_non_durable": 8}}


def test_small_cells_are_hidden_with_partners_and_none_can_be_recomputed():
    figures = edition_figures(one_rule(TABLE), ["r"], LINES, list(TABLE))
    pattern = protect(figures, threshold=5)
    hidden = grid(figures, pattern.hidden, "r", list(TABLE), LINES)
    assert hidden[0, 1] and hidden[0, 3]  # noord: returned 1, other 3
    assert bridges(hidden) == []
    assert not hidden[1, 2]  # a zero is shown: it discloses nobody
    shown = [figures.values[i] for i in range(len(figures.values)) if not pattern.hidden[i]]
    assert all(v == 0 or v >= 5 for v in shown)
    assert pattern.method == "exact" and pattern.optimum <= pattern.heuristic
    assert all(i.width >= 5 for i in pattern.intervals)


def test_hiding_only_the_small_cells_fails_the_audit():
    figures = edition_figures(one_rule(TABLE), ["r"], LINES, list(TABLE))
    primary = (figures.values > 0) & (figures.values < 5)
    failed = unprotected(audit(figures, primary, threshold=5), 5)
    assert failed and all(f.width == 0 for f in failed)  # the row sums give both cells away


def test_the_difference_between_two_rules_is_protected():
    """Every cell of both rules is >= 5, but the rules differ by 2 persons in 'oost'."""
    exits = pd.DataFrame(
        [("oost", f"p{i}", "permit", "") for i in range(20)]
        + [("oost", f"q{i}", "detention", "forced") for i in range(2)]
        + [("oost", f"s{i}", "return", "") for i in range(10)]
        + [("oost", f"t{i}", "other", "") for i in range(9)]
        + [("west", f"u{i}", code, "") for i, code in enumerate(["permit"] * 8 + ["return"] * 7 + ["other"] * 6)]
        + [("west", "v0", "detention", "forced"), *[("west", f"v{i}", "detention", "released") for i in range(1, 7)]],
        columns=["municipality", "person_id", "outcome_code", "follow_up_code"])
    rules = pd.DataFrame([
        (rule, code, follow, line, DURABILITY[line])
        for rule in ("a", "b")
        for code, follow, line in [("permit", "", "legalised"), ("return", "", "returned"),
                                   ("other", "", "other_non_durable"),
                                   ("detention", "forced", "returned" if rule == "a" else "other_non_durable"),
                                   ("detention", "released", "other_non_durable")]],
        columns=["definition", "outcome_code", "follow_up_code", "line", "durability"])
    lines = ["legalised", "returned", "other_non_durable"]
    figures = edition_figures(atoms(exits, rules, ["a", "b"]), ["a", "b"], lines, ["oost", "west"])
    cell = {key: figures.values[i] for key, i in figures.positions.items()}
    assert cell["by_municipality", "a", "oost", "returned"] - cell["by_municipality", "b", "oost", "returned"] == 2
    pattern = protect(figures, threshold=5)

    def both_shown(m: str, line: str) -> bool:
        return not any(pattern.hidden[figures.positions["by_municipality", r, m, line]] for r in ("a", "b"))

    for m in ("oost", "west"):  # 2 and 1 detained persons deported: no subtraction may reveal them
        assert not both_shown(m, "returned") and not both_shown(m, "other_non_durable")
    assert not unprotected(pattern.intervals, 5)


def test_the_exact_programme_finds_the_least_pattern_an_exhaustive_search_finds():
    table = {"a": {"legalised": 3, "returned": 8}, "b": {"legalised": 6, "returned": 2}}
    lines = ["legalised", "returned"]
    figures = edition_figures(one_rule(table), ["r"], lines, list(table))
    pattern = protect(figures, threshold=5)
    cost = figures.cost()
    primary = (figures.values > 0) & (figures.values < 5)
    free = np.flatnonzero(~primary)
    best = np.inf
    for size in range(len(free) + 1):
        for chosen in itertools.combinations(free, size):
            hidden = primary.copy()
            hidden[list(chosen)] = True
            if cost[hidden].sum() < best and not unprotected(audit(figures, hidden, 5), 5):
                best = cost[hidden].sum()
    assert pattern.optimum == best
    assert cost[pattern.hidden].sum() == best


@pytest.mark.parametrize("threshold", [3, 10])
def test_the_threshold_is_a_parameter(threshold):
    figures = edition_figures(one_rule(TABLE), ["r"], LINES, list(TABLE))
    pattern = protect(figures, threshold=threshold)
    small = (figures.values > 0) & (figures.values < threshold)
    assert pattern.hidden[small].all()
    assert all(i.width >= threshold for i in pattern.intervals)


@pytest.mark.flow
def test_the_demo_public_edition_hides_little_and_states_its_audit(demo_run):
    """The flow's public workbook (in Dutch, the deployment's default) at 2020-11-01."""
    import re

    import openpyxl

    from transforms.monthly_report import report_texts

    paths, _, _ = demo_run
    sheet = {key: title for key, (title, _) in report_texts("nl")["sections"].items()}
    book = openpyxl.load_workbook(paths.root / "reports" / "2020-11-01" / "lvv-monthly-2020-11-01-public.xlsx")
    about = " ".join(str(v) for row in book[sheet["about"]].iter_rows(values_only=True) for v in row if v)
    assert "Controle geslaagd" in about and "Gekozen: exact (MILP)" in about
    optimum = int(re.search(r"optimum (\d+) cellen", about).group(1))

    def rows(key: str) -> list[tuple]:
        return [r for r in book[sheet[key]].iter_rows(min_row=5, values_only=True)
                if any(v is not None for v in r)]

    by_municipality = [v for r in rows("by_municipality") for v in r[2:]]
    assert len(by_municipality) == 162  # 3 rules x 6 rows (5 municipalities, total) x 9 columns
    hidden = {"by": by_municipality.count("x"),
              "headline": sum(r[2:].count("x") for r in rows("headline")),
              "counts": sum(r[2:6].count("x") for r in rows("durable_share"))}
    assert hidden["by"] < 89  # before: 89 of 162, whole rows hidden
    assert sum(hidden.values()) <= 1.1 * optimum
    for definition, municipality, durable, semi, non, total, share in rows("durable_share"):
        if total != "x":  # a municipality whose total is shown shows its share wherever computable
            assert isinstance(total, (int, float))
            if durable != "x":
                assert share == pytest.approx(100 * durable / total, abs=0.05), (definition, municipality)
    shares = [r[6] for r in rows("durable_share")]
    assert sum(s != "x" for s in shares) >= len(shares) // 2  # before: not one number
    series: dict[tuple, dict] = {}
    for month_end, definition, line, persons in rows("outflow_series"):
        series.setdefault((month_end, line), {})[definition] = persons
    for (month_end, line), per_rule in series.items():  # no subtraction of two rules reveals 1 to 4
        shown = [v for v in per_rule.values() if v not in ("x", None)]
        assert all(a == b or abs(a - b) >= 5 for a in shown for b in shown), (month_end, line, per_rule)


def test_a_month_of_the_series_hides_a_small_difference_between_rules():
    """Summed over the municipalities, the rules differ by 3 persons in 'returned' (all cells >= 5)."""
    table = pd.DataFrame(
        [{"municipality": m, "classes": classes, "persons": n} for m, classes, n in [
            ("oost", (("a", "returned", "durable"), ("b", "returned", "durable")), 9),
            ("west", (("a", "returned", "durable"), ("b", "returned", "durable")), 6),
            ("oost", (("a", "returned", "durable"), ("b", "other_non_durable", "non_durable")), 2),
            ("west", (("a", "returned", "durable"), ("b", "other_non_durable", "non_durable")), 1),
            ("oost", (("a", "other_non_durable", "non_durable"), ("b", "other_non_durable", "non_durable")), 7),
            ("west", (("a", "legalised", "durable"), ("b", "legalised", "durable")), 11)]],
        columns=["municipality", "classes", "persons"])
    figures = series_figures(table, ["a", "b"], ["legalised", "returned", "other_non_durable"])
    value = {key: figures.values[i] for key, i in figures.positions.items()}
    assert value["series", "a", "returned"] == 18 and value["series", "b", "returned"] == 15
    pattern = protect(figures, threshold=5)
    shown = {key for key, i in figures.positions.items() if not pattern.hidden[i]}
    assert not {("series", "a", "returned"), ("series", "b", "returned")} <= shown
    assert not {("series", "a", "other_non_durable"), ("series", "b", "other_non_durable")} <= shown
    assert ("series", "a", "legalised") in shown  # the rules agree there: nothing to hide
