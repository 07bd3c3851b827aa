"""A review of suppression.certify: kept certificates that are wrong must never widen an interval.

The danger is one way only: a certificate that proves an interval narrower than the truth makes
the kept pattern fail and the audit is solved again (more hidden, never less protection); one that
proves an interval WIDER than the truth lets a pattern pass that does not protect. So every forgery
here is judged by one property: certify gives None, or intervals within the solved ones. Forgeries
the 11 of tests/test_suppression.py do not try: numbers that are not numbers (NaN, infinity) in a
bound or in a point, and a ray so small that every tolerance lets it through.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tests.test_suppression import LINES, TABLE, _decoded, _encoded, one_rule, two_rules_differing_in_noord
from transforms import suppression
from transforms.suppression import edition_figures, protect


def kept(figures):
    pattern = protect(figures, threshold=5)
    solved = suppression.Auditor(figures, 5, pattern.bands).audit(pattern.hidden, 5)
    return pattern, copy.deepcopy(pattern.proofs), solved


def never_wider(certified, solved) -> bool:
    """None (solved again), or every interval within the solved one (NaN is not within anything)."""
    if certified is None:
        return True
    return all(c.lower >= s.lower - 1e-6 and c.upper <= s.upper + 1e-6 for c, s in zip(certified, solved))


def table():
    return edition_figures(one_rule(TABLE), ["r"], LINES, list(TABLE))


def finite_max(body: dict) -> tuple[str, dict]:
    return next((k, e) for k, e in body["ends"].items() if e["max"] and "point" in e["max"])


def test_the_genuine_certificates_pass_the_property():
    """The property holds for what protect keeps (so a failure below is the forgery's doing)."""
    for figures in (table(), two_rules_differing_in_noord()):
        pattern, body, solved = kept(figures)
        certified = suppression.certify(figures, 5, pattern.hidden, pattern.bands, body)
        assert certified == solved and never_wider(certified, solved)


@pytest.mark.parametrize("claim", [float("nan"), "nan", "NaN"])
def test_a_bound_that_is_not_a_number_proves_nothing(claim):
    """float('nan') compares false with everything: an end claimed NaN passed every check, and an
    interval of NaN width is never 'narrower than the level'; the kept file (JSON reads NaN) passed."""
    figures = table()
    pattern, body, solved = kept(figures)
    _, end = finite_max(body)
    end["upper"] = claim
    certified = suppression.certify(figures, 5, pattern.hidden, pattern.bands, body)
    assert certified is None and never_wider(certified, solved)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf times 0: NaN, the point of it
@pytest.mark.parametrize("number", [np.nan, np.inf])
def test_a_point_or_dual_with_a_number_that_is_not_finite_proves_nothing(number):
    """One NaN (or infinite) entry in a kept point: every product with it is NaN, every comparison
    false, so the point 'satisfied' every figure and 'proved' any bound claimed: here every
    primary's most widened by 1000."""
    figures = table()
    pattern, body, solved = kept(figures)
    for index, stored in enumerate(body["points"]):
        columns, values = _decoded(stored[0], "<i4"), _decoded(stored[1], "<f8")
        body["points"][index] = [_encoded([*columns, 0], "<i4"), _encoded([*values, number], "<f8")]
    widened = 0
    for end in body["ends"].values():
        if end["max"] and "point" in end["max"]:
            end["upper"] = float(end["upper"]) + 1000
            end["max"]["dual"][1] = _encoded(_decoded(end["max"]["dual"][1], "<f8") * number, "<f8")
            widened += 1
    assert widened
    certified = suppression.certify(figures, 5, pattern.hidden, pattern.bands, body)
    assert certified is None and never_wider(certified, solved)


def _tiny_ray(figures, hidden, body) -> tuple[str, np.ndarray] | None:
    """A primary with a finite most and two of its atoms in no shown figure together, and a 'ray'
    of 1e-6 on each: every shown figure moves by at most 1e-6 (within the tolerance's absolute
    part) while the primary rises by 2e-6 (beyond it)."""
    shown = np.flatnonzero(~hidden)
    forms = figures.forms
    rows_of = {}
    for row in shown:
        columns, _ = forms.row(row)
        for column in columns:
            rows_of.setdefault(int(column), set()).add(int(row))
    primaries = suppression.sensitive(figures, 5)
    for key, end in body["ends"].items():
        if not (end["max"] and "point" in end["max"]):
            continue
        columns = [int(c) for c in primaries[int(key)][1][0]]
        pairs = [(a, b) for i, a in enumerate(columns) for b in columns[i + 1:]
                 if not rows_of.get(a, set()) & rows_of.get(b, set())]
        if pairs:
            ray = np.zeros(forms.shape[1])
            ray[list(pairs[0])] = 1e-6
            return key, ray
    return None


def small_occupancies():
    """Three municipalities with 1, 2 and 1 persons in an LVV (all hidden, and so is their sum, a
    primary of three atoms that share no figure) beside large inflows (shown)."""
    import pandas as pd

    from transforms.suppression import occupancy_figures

    return occupancy_figures(pd.DataFrame({"municipality": ["oost", "west", "zuid"], "occupancy": [1, 2, 1],
                                           "inflow": [30, 40, 50]}))


def test_a_ray_too_small_to_move_any_shown_figure_beyond_the_tolerance_proves_nothing():
    """A ray is a direction: its scale is the forger's to choose. Scaled down to 1e-6 it kept
    every shown figure 'within 1e-6 (1 + magnitude)' and still 'raised' a primary of two atoms by
    more than 1e-6 (1 + |ray|): its most was proven unbounded, its interval infinitely wide."""
    figures = small_occupancies()
    pattern, body, solved = kept(figures)
    found = _tiny_ray(figures, pattern.hidden, body)
    assert found is not None  # the set-up has such a primary
    key, ray = found
    body["rays"].append([_encoded(np.flatnonzero(ray), "<i4"), _encoded(ray[ray > 0], "<f8")])
    body["ends"][key]["max"] = {"ray": len(body["rays"]) - 1}
    body["ends"][key]["upper"] = "inf"
    certified = suppression.certify(figures, 5, pattern.hidden, pattern.bands, body)
    assert never_wider(certified, solved)
    assert certified is None


def test_the_same_ray_at_any_scale_proves_the_same():
    """A genuine ray (an occupancy whose figures are both hidden) proves its unbounded end at any
    scale; scaled down to where it moves no figure measurably it still proves only what it did."""
    import pandas as pd

    from transforms.suppression import occupancy_figures

    month = pd.DataFrame({"municipality": ["oost", "west", "zuid"], "occupancy": [40, 25, 3],
                          "inflow": [43, 31, 3]})
    figures = occupancy_figures(month)
    pattern, body, solved = kept(figures)
    assert body["rays"]
    for scale in (1e-9, 1e6):
        scaled = copy.deepcopy(body)
        scaled["rays"] = [[at, _encoded(_decoded(values, "<f8") * scale, "<f8")] for at, values in body["rays"]]
        assert suppression.certify(figures, 5, pattern.hidden, pattern.bands, scaled) == solved


def free_atoms_bounded_by_relations():
    """A layout no edition has: three small atoms a1..a3 in no shown figure, each bounded only by a
    relation (a_i <= s_i, s_i shown: 30), and a small atom d in no figure shown and no relation (its
    most genuinely unbounded: a ray). Hidden: each a_i, their sum T (3) and d's figure."""
    import pandas as pd

    from transforms.suppression import Figures, Rows

    atoms = pd.DataFrame({"municipality": ["m1", "m2", "m3", "m1", "m2", "m3", "m1"],
                          "classes": [("a",)] * 3 + [("s",)] * 3 + [("d",)],
                          "persons": [1, 1, 1, 30, 30, 30, 2]})
    figures = Figures(atoms=atoms, forms=np.empty(0), values=np.empty(0))
    for i in range(3):
        figures.add(("s", i), (np.array([3 + i]), np.ones(1)))
        figures.add(("a", i), (np.array([i]), np.ones(1)))
    figures.add(("T",), (np.array([0, 1, 2]), np.ones(3)))
    figures.add(("d",), (np.array([6]), np.ones(1)))
    figures.relations.append(Rows.entries(np.repeat(np.arange(3), 2), np.array([3, 0, 4, 1, 5, 2]),
                                          np.tile([1.0, -1.0], 3), 3, len(atoms)))
    figures.close()
    hidden = np.array([figures.positions[p] for p in figures.positions if p[0] != "s"])
    flags = np.zeros(len(figures.values), dtype=bool)
    flags[hidden] = True
    return figures, flags


def test_a_ray_whose_tiny_part_only_a_relation_bounds_proves_nothing():
    """The ray's scale fixed (d: 1) and every shown figure kept exactly: its part on a1..a3 (1e-6
    each) breaks the relations a_i <= s_i only by 1e-6, within an absolute tolerance, and raised T
    by 3e-6, beyond 1e-6 (1 + |ray|): T's most (truly 90) was proven unbounded. A ray is a
    direction: a relation it breaks at all, relative to its own entries, it breaks."""
    figures, hidden = free_atoms_bounded_by_relations()
    auditor = suppression.Auditor(figures, 5)
    solved = auditor.audit(hidden, 5, prove=True)
    body = suppression.proofs(auditor)
    assert suppression.certify(figures, 5, hidden, {}, body) == solved  # the genuine ones prove
    total = next(k for k, (_, form, _) in enumerate(suppression.sensitive(figures, 5)) if len(form[0]) == 3)
    end = body["ends"][str(total)]
    assert end["upper"] == 90.0
    ray = np.array([1e-6, 1e-6, 1e-6, 0, 0, 0, 1.0])
    body["rays"].append([_encoded(np.flatnonzero(ray), "<i4"), _encoded(ray[ray > 0], "<f8")])
    end["max"], end["upper"] = {"ray": len(body["rays"]) - 1}, "inf"
    certified = suppression.certify(figures, 5, hidden, {}, body)
    assert never_wider(certified, solved) and certified is None


def test_a_genuine_ray_with_the_solvers_noise_still_proves():
    """The checks of a ray are relative to its own entries: noise of 1e-13 (below the tolerance,
    beside an entry of 1: dropped) on an atom of a shown figure or on one a relation bounds does
    not turn a genuine ray away."""
    figures, hidden = free_atoms_bounded_by_relations()
    auditor = suppression.Auditor(figures, 5)
    solved = auditor.audit(hidden, 5, prove=True)
    body = suppression.proofs(auditor)
    assert body["rays"]
    for noisy_atom in (3, 0):  # s1 (in a shown figure), a1 (bounded by a relation only)
        noisy = copy.deepcopy(body)
        for index, (at, values) in enumerate(body["rays"]):
            ray = np.zeros(len(figures.atoms))
            ray[_decoded(at, "<i4")] = _decoded(values, "<f8")
            ray[noisy_atom] += 1e-13 * ray.max()
            noisy["rays"][index] = [_encoded(np.flatnonzero(ray), "<i4"), _encoded(ray[ray > 0], "<f8")]
        assert suppression.certify(figures, 5, hidden, {}, noisy) == solved, noisy_atom


def test_a_kept_pattern_whose_file_claims_nan_bounds_is_audited_by_solving(tmp_path):
    """The whole path of a kept file (protect_cached): every finite most claimed NaN (JSON reads
    NaN; checksum mended, as a forger would) was proven, the pattern taken as kept with NaN
    intervals and no linear programme solved. Now it is solved and its true intervals kept."""
    import hashlib
    import json

    from transforms.suppression import protect_cached

    figures = two_rules_differing_in_noord()
    first = protect_cached(figures, 5, None, tmp_path)
    (path,) = tmp_path.glob("*.json")
    stored = json.loads(path.read_text())
    forged = 0
    for entry in stored["body"]["proofs"]["ends"].values():
        if entry["max"] and "point" in entry["max"]:
            entry["upper"], forged = float("nan"), forged + 1
    assert forged
    stored["checksum"] = hashlib.sha256(json.dumps(stored["body"], sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps(stored))
    audited = protect_cached(figures, 5, None, tmp_path)
    assert audited.cached and audited.lp_solves > 0 and audited.intervals == first.intervals
    assert not any(np.isnan([i.lower, i.upper]).any() for i in audited.intervals)


@pytest.mark.parametrize("number", [np.nan, np.inf])
def test_a_point_with_a_number_that_is_not_finite_anywhere_is_refused(number):
    """A kept point is checked against every figure and relation, but its end's value only on the
    atoms the form and the dual's rows touch: a NaN on another atom made every comparison of its
    rows false, so the point passed as feasible though no number there is a point of the atoms."""
    figures = table()
    pattern, body, solved = kept(figures)
    width = figures.forms.shape[1]
    for index, stored in enumerate(body["points"]):
        columns, values = _decoded(stored[0], "<i4"), _decoded(stored[1], "<f8")
        keep = columns != width - 1
        body["points"][index] = [_encoded([*columns[keep], width - 1], "<i4"),
                                 _encoded([*values[keep], number], "<f8")]
    certified = suppression.certify(figures, 5, pattern.hidden, pattern.bands, body)
    assert certified is None and never_wider(certified, solved)


# --- two-point certificates: a primary proven wide enough by two points, not solved --------------
#
# A joint audit (suppression._audited_together) proves a primary by two feasible points of its
# programme where they reach at least the protection level apart (Auditor._two_point_audit): a
# feasible point proves an interval at least as wide as its values, so such an interval lies within
# the solved one. The narrowest interval, which the About sheet states, stays a solved one. Every
# forgery below is judged by the properties that matter: certify gives None, or intervals within the
# solved ones whose narrowest is the solved narrowest.


def joint_by_points():
    """The three month ends' joint audit (tests/test_suppression.py), some primaries proven by
    two points; its certificates and the intervals a full solve gives."""
    from tests.test_suppression import three_month_ends
    from transforms.suppression import audit_together, series_before

    parts, patterns = three_month_ends()
    joint = audit_together(parts, patterns, 5, rising=series_before)
    solved = suppression.Auditor(joint.figures, 5, joint.bands).audit(joint.hidden, 5)
    return joint, copy.deepcopy(joint.proofs), solved


def keeps_the_narrowest(certified, solved) -> bool:
    return certified is None or min(i.width for i in certified) == min(i.width for i in solved)


def certify_joint(joint, body):
    return suppression.certify(joint.figures, 5, joint.hidden, joint.bands, body)


def by_points(body: dict) -> list[tuple[str, dict]]:
    return [(k, e) for k, e in body["ends"].items() if "low" in e]


def test_a_joint_audit_proven_by_two_points_keeps_every_verdict_and_the_narrowest():
    """Some primaries proven by two points (so the rest of this part tests something), each
    interval within the solved one, the same primaries, the narrowest the solved one; and the
    certificates kept prove exactly what the audit gave."""
    joint, body, solved = joint_by_points()
    assert by_points(body) and len(by_points(body)) < len(body["ends"])
    assert [i.figure for i in joint.intervals] == [i.figure for i in solved]
    assert never_wider(joint.intervals, solved) and keeps_the_narrowest(joint.intervals, solved)
    assert not suppression.unprotected(joint.intervals, 5) and not suppression.unprotected(solved, 5)
    assert certify_joint(joint, body) == joint.intervals


def test_a_two_point_audit_gives_the_solved_verdict_and_narrowest_for_every_pattern_near():
    """The joint pattern with one more figure shown (some fail), or one more hidden (all pass):
    the verdict (pass or fail) is the solved audit's, every interval within the solved one,
    and where it passes the narrowest is the solved narrowest."""
    joint, _, _ = joint_by_points()
    figures = joint.figures
    primary = (figures.values > 0) & (figures.values < 5)
    verdicts = set()
    for flip in np.flatnonzero(~primary):
        hidden = joint.hidden.copy()
        hidden[flip] = not hidden[flip]
        solved = suppression.Auditor(figures, 5, joint.bands).audit(hidden, 5)
        proven = suppression.Auditor(figures, 5, joint.bands).audit(hidden, 5, prove=True, two_point=True)
        failed = bool(suppression.unprotected(solved, 5))
        assert failed == bool(suppression.unprotected(proven, 5))
        if not failed:
            assert never_wider(proven, solved) and keeps_the_narrowest(proven, solved)
        verdicts.add(failed)
    assert verdicts == {True, False}


@pytest.mark.filterwarnings("ignore:invalid value encountered", "ignore:overflow encountered")
@pytest.mark.parametrize("number", [np.nan, np.inf, -np.inf, 1e300, 1e12, -1e12, 1e-300])
def test_a_two_point_end_at_a_point_of_odd_numbers_proves_nothing_wider(number):
    """A point of a two-point end with one entry not a number, infinite, huge or tiny (on each
    atom of the primary in turn: the end's value moves by it): None, or never wider."""
    joint, body, solved = joint_by_points()
    key, entry = by_points(body)[0]
    columns_of = suppression.sensitive(joint.figures, 5)[int(key)][1][0]
    for column in columns_of:
        forged = copy.deepcopy(body)
        for name in ("low", "high"):
            if "point" in forged["ends"][key][name]:
                at = forged["ends"][key][name]["point"]
                columns, values = _decoded(forged["points"][at][0], "<i4"), _decoded(forged["points"][at][1], "<f8")
                keep = columns != column
                forged["points"][at] = [_encoded([*columns[keep], column], "<i4"),
                                        _encoded([*values[keep], number], "<f8")]
        certified = certify_joint(joint, forged)
        assert never_wider(certified, solved) and keeps_the_narrowest(certified, solved)


def with_high_end(body: dict, key: str, kind: str, vector: np.ndarray) -> dict:
    """The certificates with primary `key`'s high end replaced by `vector` ("points": a change
    from the data; "rays")."""
    forged = copy.deepcopy(body)
    forged[kind].append([_encoded(np.flatnonzero(vector), "<i4"), _encoded(vector[vector != 0], "<f8")])
    forged["ends"][key]["high"] = {kind[:-1]: len(forged[kind]) - 1}
    return forged


@pytest.mark.parametrize("kind", ["points", "rays"])
def test_a_two_point_end_moved_on_the_primarys_atoms_alone_proves_nothing_wider(kind):
    """The end's point moved, or a 'ray' put, on the primary's atoms alone (every shown figure
    over them broken), by a little or by a lot: never wider."""
    joint, body, solved = joint_by_points()
    width = joint.figures.forms.shape[1]
    for key, _ in by_points(body):
        form = suppression.sensitive(joint.figures, 5)[int(key)][1]
        for step in (1e-9, 1e-4, 1.0, 1000.0, 1e9):
            vector = np.zeros(width)
            vector[form[0]] = step * np.sign(form[1])
            if kind == "rays":
                vector = np.maximum(vector, 0.0)
            certified = certify_joint(joint, with_high_end(body, key, kind, vector))
            assert never_wider(certified, solved) and keeps_the_narrowest(certified, solved)


def a_difference_shown():
    """Two atoms of 3 persons, each a hidden figure, and their difference (0) shown: any point
    that adds the same to both keeps every figure."""
    import pandas as pd

    figures = suppression.Figures(atoms=pd.DataFrame({"municipality": ["m", "m"], "classes": [("a",), ("b",)],
                                                      "persons": [3, 3]}),
                                  forms=np.empty(0), values=np.empty(0))
    figures.add(("a",), np.array([1.0, 0.0]))
    figures.add(("b",), np.array([0.0, 1.0]))
    figures.add(("a less b",), np.array([1.0, -1.0]))
    return figures.close(), np.array([True, True, False])


def test_a_huge_point_cannot_hide_a_broken_figure_in_its_own_magnitude():
    """The data plus 1e12 on both atoms (the difference kept) plus 0.5 on one (the shown
    difference off by 0.5): within 1e-6 of the point's own size at that figure (2e12), so the
    check every kept point passes, relative to the point, lets it through; a two-point end's
    point is checked relative to the data, which no certificate chooses: refused (every kept
    point is, since: test_a_huge_point_behind_a_dual_end_cannot_widen_an_interval)."""
    figures, hidden = a_difference_shown()
    model = suppression._Model(figures, hidden, {})
    broken = model.truth + 1e12
    broken[0] += 0.5
    assert not model.point_fits(broken)
    assert model.point_fits(model.truth + 1e3) and model.point_fits(model.truth)  # genuine points


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("number", [np.nan, np.inf, -1.0])
def test_a_point_of_numbers_that_are_no_atoms_is_no_point(number):
    joint, _, _ = joint_by_points()
    model = suppression._Model(joint.figures, joint.hidden, joint.bands)
    point = model.truth.copy()
    point[-1] = number
    assert not model.point_fits(point)
    assert not model.point_fits(model.truth[:-1])  # nor one of another length


def test_two_ends_reaching_less_than_nothing_prove_no_interval():
    """Ends swapped (the low one above the high one) prove no interval: None, not a negative width."""
    joint, _, _ = joint_by_points()
    model = suppression._Model(joint.figures, joint.hidden, joint.bands)
    form = suppression.sensitive(joint.figures, 5)[0][1]
    up = model.truth.copy()
    up[form[0]] += 3.0
    assert suppression._two_point_interval(form, ("point", up), ("point", model.truth)) is None
    interval = suppression._two_point_interval(form, ("point", model.truth), ("point", up))
    assert interval is not None and 3.0 - 1e-4 < interval.width < 3.0  # moved inwards


def test_ends_swapped_or_both_at_one_point_prove_nothing():
    joint, body, solved = joint_by_points()
    for key, entry in by_points(body):
        for low, high in ((entry["high"], entry["low"]), (entry["low"], entry["low"]),
                          (entry["high"], entry["high"])):
            forged = copy.deepcopy(body)
            forged["ends"][key]["low"], forged["ends"][key]["high"] = low, high
            certified = certify_joint(joint, forged)
            assert never_wider(certified, solved) and keeps_the_narrowest(certified, solved)
            if certified is not None:  # narrower than the level: the kept audit is solved again
                assert suppression.unprotected(certified, 5) or certified == certify_joint(joint, body)


def test_solved_ends_turned_into_two_points_cannot_move_the_narrowest():
    """Solved primaries' own solutions (genuine points) claimed as two-point ends: each interval
    is within the solved one, but the narrowest would no longer be a solved interval; refused, so
    the About sheet's narrowest is never a point's guess. First every solved primary, then the
    narrowest alone."""
    joint, body, solved = joint_by_points()
    solved_ends = {k: e for k, e in body["ends"].items() if "min" in e and e["min"] and e["max"]
                   and "point" in e["min"] and "point" in e["max"]}
    narrowest = min(solved_ends, key=lambda k: float(solved_ends[k]["upper"]) - float(solved_ends[k]["lower"]))
    for chosen in (list(solved_ends), [narrowest]):
        forged = copy.deepcopy(body)
        for key in chosen:
            entry = forged["ends"][key]
            forged["ends"][key] = {"lower": entry["lower"], "upper": entry["upper"],
                                   "low": {"point": entry["min"]["point"]}, "high": {"point": entry["max"]["point"]}}
        assert certify_joint(joint, forged) is None


@pytest.mark.parametrize("seed", [4, 7, 11])
def test_the_narrowest_of_a_joint_occupancy_audit_is_the_solved_one(seed):
    """Five month ends of an occupancy series of four municipalities (random small counts, the
    inflow cumulative), each protected alone and audited together: primaries proven by points
    reach less than the narrowest solved interval until it is solved (these seeds: otherwise
    the About sheet would state 6.99999 where the narrowest is 7); kept, certified the same."""
    import pandas as pd

    from transforms.suppression import audit_together, occupancy_figures

    rng = np.random.default_rng(seed)
    inflow, parts = rng.integers(1, 8, size=4), {}
    for month_end in pd.date_range("2020-01-31", periods=5, freq="ME"):
        inflow = inflow + rng.integers(0, 4, size=4)
        occupancy = np.minimum(inflow, rng.integers(0, 9, size=4))
        parts[month_end] = occupancy_figures(pd.DataFrame({"municipality": list("abcd"), "occupancy": occupancy,
                                                           "inflow": inflow}))
    patterns = {key: protect(figures, 5) for key, figures in parts.items()}
    joint = audit_together(parts, patterns, 5, rising=lambda position: position if position[0] == "inflow" else None)
    solved = suppression.Auditor(joint.figures, 5, joint.bands).audit(joint.hidden, 5)
    assert by_points(joint.proofs)
    assert never_wider(joint.intervals, solved) and keeps_the_narrowest(joint.intervals, solved)
    assert certify_joint(joint, copy.deepcopy(joint.proofs)) == joint.intervals


def a_floor_behind_a_difference():
    """Atoms a (3 persons, hidden: the primary), b (6, shown), c and d (7 each, hidden; their
    difference shown: 0), and what a reader knows: a - b/2 + c - d >= 0. So a is at least 3,
    and nothing bounds it above (a ray)."""
    import pandas as pd

    figures = suppression.Figures(atoms=pd.DataFrame({"municipality": ["m"] * 4,
                                                      "classes": [("a",), ("b",), ("c",), ("d",)],
                                                      "persons": [3, 6, 7, 7]}),
                                  forms=np.empty(0), values=np.empty(0))
    figures.add(("a",), np.array([1.0, 0.0, 0.0, 0.0]))
    figures.add(("b",), np.array([0.0, 1.0, 0.0, 0.0]))
    figures.add(("c less d",), np.array([0.0, 0.0, 1.0, -1.0]))
    figures.relations.append(suppression.Rows.of([suppression._sparse(np.array([1.0, -0.5, 1.0, -1.0]))], 4))
    return figures.close(), np.array([True, False, False])


def test_a_huge_point_behind_a_dual_end_cannot_widen_an_interval():
    """A dual-certified end whose point is forged at a scale of 1e12: a at 0 (the truth's floor
    is 3) paid for by c - d off by 3, which is within 1e-6 of the point's own size at that
    figure (2e12). The zero dual proves the bound 0 (weak duality: the least of a is at least 0)
    and equals the point's a, so every check but the point's feasibility passes; measured against
    the data's size (as a two-point end's point is), the point is refused and the audit solved.
    Checked relative to the point (the check before), certify proved [0, inf): wider than [3, inf)."""
    figures, hidden = a_floor_behind_a_difference()
    solved = suppression.Auditor(figures, 5, {}).audit(hidden, 5)
    assert {(round(i.lower, 6), i.upper) for i in solved} == {(3.0, np.inf)}  # the figure a and the atom a
    n_rows = len(suppression._Model(figures, hidden, {}).rows)
    truth = figures.atoms["persons"].to_numpy(dtype="float64")
    forged_point = np.array([0.0, 6.0, 1e12 + 3.0, 1e12])
    body = {"points": [_sparse(forged_point - truth)], "rays": [_sparse(np.array([1.0, 0.0, 0.0, 0.0]))],
            "ends": {"0": {"lower": 0.0, "upper": "inf",
                           "min": {"point": 0, "dual": suppression._sparse_list(np.zeros(n_rows))},
                           "max": {"ray": 0}}}}
    assert suppression.certify(figures, 5, hidden, {}, body) is None
    # the same body with the genuine point (a at its floor) proves nothing wider either: the zero
    # dual proves 0, the point reaches 3; a certificate must prove what it claims
    body["points"] = [_sparse(np.array([3.0, 6.0, 7.0, 7.0]) - truth)]
    assert suppression.certify(figures, 5, hidden, {}, body) is None


def _sparse(vector: np.ndarray) -> list[str]:
    return suppression._sparse_list(vector)
