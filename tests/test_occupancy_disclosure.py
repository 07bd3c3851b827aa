"""The occupancy series beside the outflow: a reader combining them narrows no hidden figure.

Inflow less occupancy (who entered a municipality's LVV and is not in one at a month end) have
all left it, so they are counted in the outflow: at most the persons the outflow series counts at
that month end, and the persons of that municipality the reference date's tables count; and who
left had entered. The relations are rebuilt here from the figures' positions (not with
public_edition.occupancy_relations) and the edition as published is audited with them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from transforms import public_edition, suppression

THRESHOLD = 5


def published(data, monkeypatch) -> tuple[object, list]:
    """The public edition and its protection problems (as _protection_notes gets them)."""
    problems: list = []
    notes = public_edition._protection_notes

    def keep(found, *args):
        problems.extend(found)
        return notes(found, *args)

    monkeypatch.setattr(public_edition, "_protection_notes", keep)
    return public_edition.public_edition(data, THRESHOLD), problems


def independent_relations(figures: suppression.Figures, reference: pd.Timestamp, parts: dict) -> list[np.ndarray]:
    """The relations (a), (b), (c) as dense rows r (r @ atoms >= 0), from where each atom is."""
    column: dict[str, dict] = {"in": {}, "out": {}, "left": {}, "left_at_reference": {}}
    for index, (m, (kind, (key, klass))) in enumerate(zip(figures.atoms["municipality"], figures.atoms["classes"])):
        if kind == "occupancy":
            column[klass[0]].setdefault((key, m), []).append(index)
        elif key == reference:
            column["left_at_reference"].setdefault(m, []).append(index)
        else:
            column["left"].setdefault(key, []).append(index)
    rows, width = [], len(figures.atoms)
    for t in parts:
        municipalities = sorted(parts[t].atoms["municipality"].unique())
        out = [i for m in municipalities for i in column["out"].get((t, m), [])]
        entered = out + [i for m in municipalities for i in column["in"].get((t, m), [])]
        left = column["left"].get(t, [])
        for m in municipalities:  # (a) who left m by t, at most who left m by the reference date
            row = np.zeros(width)
            row[column["left_at_reference"].get(m, [])] += 1
            row[column["out"].get((t, m), [])] -= 1
            rows.append(row)
        row = np.zeros(width)  # (b) summed, at most who left by t (the series' atoms)
        row[left] += 1
        row[out] -= 1
        rows.append(row)
        row = np.zeros(width)  # (c) who left by t had entered
        row[entered] += 1
        row[left] -= 1
        rows.append(row)
    return rows


def reader_audit(data, public, problems) -> list[suppression.Interval]:
    """Every primary's interval to a reader who has the outflow (series and tables, as published)
    and the occupancy series (its shown cells) and knows the three relations."""
    outflow = next(p for p in problems if p.sheet == "outflow_series_joint")
    before = public_edition._before(data, data.reference_date).occupancy_series
    parts = {pd.Timestamp(t): suppression.occupancy_figures(rows) for t, rows in before.groupby("month_end")}
    occupancy = suppression.joined(parts)
    shown = public.occupancy_series.assign(month_end=pd.to_datetime(public.occupancy_series["month_end"]))
    hidden_cells = {(t, column, m) for column in ("occupancy", "inflow")
                    for t, m in zip(shown["month_end"], shown["municipality"])
                    if pd.isna(shown.loc[(shown["month_end"] == t) & (shown["municipality"] == m), column]).all()}
    figures = suppression.joined({"outflow": outflow.figures, "occupancy": occupancy})
    hidden = np.zeros(len(figures.values), dtype=bool)
    for (key, *position), index in figures.positions.items():
        if key == "outflow":
            hidden[index] |= bool(outflow.pattern.hidden[outflow.figures.positions[tuple(position)]])
        else:
            hidden[index] |= tuple(position) in hidden_cells

    rows = independent_relations(figures, pd.Timestamp(data.reference_date), parts)
    width = len(figures.atoms)
    relations = suppression.Rows.of([suppression._sparse(r) for r in rows], width)
    assert (relations @ figures.atoms["persons"].to_numpy(dtype=float) >= 0).all()  # true of the data
    figures.relations.append(relations)
    return suppression.Auditor(figures, THRESHOLD, dict(outflow.pattern.bands)).audit(hidden, THRESHOLD)


RULES = ["programme", "evaluation-2021", "evaluation-2022"]
#: the class sets of the hand-built edition: the line each rule gives an exit (durability by line)
CLASSES = {
    "returned": ("returned", "returned", "returned"),
    "onward": ("onward_migration", "onward_migration", "onward_migration"),
    "detention": ("returned", "other_non_durable", "other_non_durable"),
    "unknown": ("departed_unknown", "departed_unknown", "departed_unknown"),
}
DURABILITY = {"returned": "durable", "onward_migration": "durable", "other_non_durable": "non_durable",
              "departed_unknown": "non_durable"}


def edition_of(stays: list[tuple[str, int, int | None, str]], months: int, reference: date):
    """A report's data, every figure counted from `stays`: (municipality, month of intake, month of
    exit or None, class) with months counted back from the reference date (1: the month end before
    it); one stay per person, so nobody comes back."""
    from transforms import monthly_report

    ends = list(pd.date_range(end=pd.Timestamp(reference) - pd.Timedelta(days=1), periods=months, freq="ME"))
    points = [*ends, pd.Timestamp(reference)]  # the series end at the reference date itself

    def at(month: int | None) -> pd.Timestamp | None:
        return None if month is None else ends[months - month]

    people = pd.DataFrame([{"municipality": m, "intake": at(i), "exit": at(e),
                            "classes": tuple(sorted((rule, line, DURABILITY[line])
                                                    for rule, line in zip(RULES, CLASSES[c])))}
                           for m, i, e, c in stays])
    left = [people[people["exit"].notna() & (people["exit"] <= t)].assign(month_end=t) for t in points]
    series_atoms = (pd.concat(left).groupby(["month_end", "classes"], as_index=False).size()
                    .rename(columns={"size": "persons"}))
    atoms = (left[-1].groupby(["municipality", "classes"], as_index=False).size()
             .rename(columns={"size": "persons"}))
    lines = pd.concat(left).explode("classes", ignore_index=True)
    lines[["definition", "line", "durability"]] = pd.DataFrame(lines["classes"].tolist(), index=lines.index)
    outflow = (lines.groupby(["month_end", "definition", "municipality", "line", "durability"], as_index=False)
               .size().rename(columns={"size": "persons"}))
    by_municipality = outflow[outflow["month_end"] == pd.Timestamp(reference)].drop(columns="month_end")
    occupancy = pd.DataFrame([{"month_end": t, "municipality": m,
                               "occupancy": int(((group["intake"] <= t) & ~(group["exit"] <= t)).sum()),
                               "inflow": int((group["intake"] <= t).sum())}
                              for t in points for m, group in people.groupby("municipality")])
    empty = pd.DataFrame()
    return monthly_report.ReportData(
        reference_date=reference, previous_date=monthly_report.month_end_before(reference), definitions=RULES,
        run={}, headline=empty, by_municipality=by_municipality.reset_index(drop=True),
        outflow_series=outflow[["month_end", "definition", "municipality", "line", "persons"]],
        occupancy_series=occupancy, durable_share=empty, changes=empty, bridge=empty, deliveries=empty,
        quality=empty, quarantine=empty, atoms=atoms, series_atoms=series_atoms, language="en")


@pytest.fixture(scope="module")
def edition():
    """Three municipalities over five month ends, a few persons in each line, drawn with a fixed
    seed (3: the first of the seeds tried whose edition leaks without the crossed audit)."""
    import random

    draw, stays = random.Random(3), []
    for m in ("amsterdam", "groningen", "utrecht"):
        stays += [(m, 5, None, "returned")] * draw.randint(8, 20)  # still there
        for kind, most in (("returned", 20), ("detention", 8), ("unknown", 8), ("onward", 3)):
            for _ in range(draw.randint(0, most)):
                intake = draw.randint(2, 5)
                stays.append((m, intake, draw.randint(1, intake - 1), kind))
    return edition_of(stays, 5, date(2030, 1, 1))


def test_without_the_crossed_audit_the_occupancy_series_narrows_an_outflow_figure(edition, monkeypatch):
    """The edition leaks when the occupancy series is protected on its own (as before)."""
    alone = public_edition._protected_occupancy
    monkeypatch.setattr(public_edition, "_protected_occupancy",
                        lambda *args, outflow=None, **options: alone(*args, **options))
    public, problems = published(edition, monkeypatch)
    narrow = suppression.unprotected(reader_audit(edition, public, problems), THRESHOLD)
    assert narrow, "the synthetic edition no longer shows the leak this test is about"


def test_with_the_crossed_audit_no_primary_is_narrowed(edition, monkeypatch):
    public, problems = published(edition, monkeypatch)
    intervals = reader_audit(edition, public, problems)
    assert intervals and not suppression.unprotected(intervals, THRESHOLD)
    crossed = next(p for p in problems if p.sheet == "occupancy_series_outflow_joint")
    assert crossed.added > 0  # it hid more of the occupancy series
    # the outflow as published is untouched by it: the same as without the occupancy series
    alone = public_edition.public_edition(replace(edition, occupancy_series=edition.occupancy_series.iloc[0:0]),
                                          THRESHOLD)
    pd.testing.assert_frame_equal(public.outflow_series, alone.outflow_series)
    pd.testing.assert_frame_equal(public.by_municipality, alone.by_municipality)
    said = [note for note in public.notes if note.startswith("Then the occupancy over time audited together")]
    assert len(said) == 1 and f"hidden in addition for it in the occupancy over time: {crossed.added}." in said[0]
    assert "are not modelled" not in " ".join(public.notes)


@pytest.mark.flow
def test_the_demo_edition_is_protected_beside_the_outflow(demo_run, monkeypatch):
    """The demo at 2020-11-01: protected on its own, the occupancy series gave outflow figures away
    (a reader narrowed 34 primaries below 5 persons, the narrowest to 3); beside the outflow it hides 11 more
    cells of it, and no primary narrows."""
    from flows.monthly_outflow import DEFAULT_DEFINITIONS
    from transforms.monthly_report import gather

    paths, _, _ = demo_run
    data = replace(gather(paths.database, date(2020, 11, 1), list(DEFAULT_DEFINITIONS)), language="nl")
    public, problems = published(data, monkeypatch)
    intervals = reader_audit(data, public, problems)
    assert len(intervals) > 100 and not suppression.unprotected(intervals, THRESHOLD)
    crossed = next(p for p in problems if p.sheet == "occupancy_series_outflow_joint")
    assert crossed.added > 0
    assert int(public.occupancy_series[["occupancy", "inflow"]].isna().sum().sum()) > crossed.added


def test_the_relations_are_the_three_that_always_hold(edition, monkeypatch):
    """public_edition.occupancy_relations gives exactly the rows built here, and the data meets them."""
    public, problems = published(edition, monkeypatch)
    outflow = next(p for p in problems if p.sheet == "outflow_series_joint")
    before = public_edition._before(edition, edition.reference_date).occupancy_series
    parts = {pd.Timestamp(t): suppression.occupancy_figures(rows) for t, rows in before.groupby("month_end")}
    figures = suppression.joined({"outflow": outflow.figures, "occupancy": suppression.joined(parts)})
    mine = public_edition.occupancy_relations(figures)
    width = len(figures.atoms)
    expected = independent_relations(figures, pd.Timestamp(edition.reference_date), parts)
    dense = []
    for i in range(len(mine)):
        columns, values = mine.row(i)
        row = np.zeros(width)
        row[columns] = values
        dense.append(tuple(row))
    municipalities = len(parts[next(iter(parts))].atoms) // 2  # an in and an out atom each
    assert len(expected) == len(parts) * (municipalities + 2)
    assert sorted(dense) == sorted(tuple(r) for r in expected)
    assert (mine @ figures.atoms["persons"].to_numpy(dtype=float) >= 0).all()


def test_the_crossed_audit_is_kept_proven_and_never_hides_a_published_outflow_figure(edition, monkeypatch, tmp_path):
    """With a cache, the crossed audit is kept with its certificates: the next edition proves it
    without solving and publishes the same; a kept file that hides an outflow figure more (its
    checksum mended, the audit it names would pass) is refused, solved again and rewritten."""
    import hashlib
    import json

    def crossed_of(cache_dir):
        problems: list = []
        notes = public_edition._protection_notes
        monkeypatch.setattr(public_edition, "_protection_notes",
                            lambda found, *args: problems.extend(found) or notes(found, *args))
        public = public_edition.public_edition(edition, THRESHOLD, cache_dir=cache_dir)
        monkeypatch.setattr(public_edition, "_protection_notes", notes)
        return public, next(p for p in problems if p.sheet == "occupancy_series_outflow_joint")

    fresh, solved = crossed_of(None)
    first_public, first = crossed_of(tmp_path)
    kept_public, kept = crossed_of(tmp_path)
    assert not first.pattern.cached and kept.pattern.cached and solved.added > 0
    for public, problem in ((first_public, first), (kept_public, kept)):
        assert np.array_equal(problem.hidden, solved.hidden) and problem.added == solved.added
        pd.testing.assert_frame_equal(public.occupancy_series, fresh.occupancy_series)
    # the kept file of the crossed audit: the one that hides exactly what it hid
    outflow = np.zeros(len(solved.figures.values), dtype=bool)
    for (key, *_), index in solved.figures.positions.items():
        outflow[index] |= key == "outflow"
    for path in tmp_path.glob("joint-*.json"):
        stored = json.loads(path.read_text())
        if set(stored["body"]["hidden"]) == set(np.flatnonzero(solved.hidden).tolist()):
            break
    else:
        raise AssertionError("the crossed audit was not kept")
    shown = np.flatnonzero(outflow & ~solved.hidden).tolist()
    stored["body"]["hidden"] = sorted(stored["body"]["hidden"] + shown[:1])
    stored["checksum"] = hashlib.sha256(json.dumps(stored["body"], sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps(stored))
    again_public, again = crossed_of(tmp_path)
    assert not again.pattern.cached and np.array_equal(again.hidden, solved.hidden)
    pd.testing.assert_frame_equal(again_public.occupancy_series, fresh.occupancy_series)
