"""benchmarks/report_memory.py's synthetic national edition is consistent: its occupancy series and its
outflow obey what a reader knows between them (public_edition.occupancy_relations), as the
pipeline's own publication does (the demo's), so the crossed audit drops no relation for either."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from benchmarks.report_memory import synthetic
from transforms import public_edition


def test_the_synthetic_occupancy_series_agrees_with_its_outflow():
    data = synthetic(6, 24)
    occupancy = data.occupancy_series.sort_values(["municipality", "month_end"])
    rule = data.definitions[0]  # each person is in one line under one rule: the persons who left
    left = (data.outflow_series[data.outflow_series["definition"] == rule]
            .groupby(["month_end", "municipality"], as_index=False)["persons"].sum().rename(columns={"persons": "left"}))
    by_reference = (data.by_municipality[data.by_municipality["definition"] == rule]
                    .groupby("municipality")["persons"].sum())
    both = occupancy.merge(left, on=["month_end", "municipality"], validate="one_to_one")
    assert len(both) == len(occupancy) > 100 and (both["occupancy"] >= 0).all()
    out = both["inflow"] - both["occupancy"]  # entered and not in: left
    assert (out >= 0).all() and (out <= both["left"]).all()  # who is out left; not every leaver is out
    assert (both["left"] <= both["inflow"]).all()  # who left entered
    assert (both["left"] <= both["municipality"].map(by_reference)).all()  # and left by the reference date
    assert (both.groupby("municipality")["inflow"].diff().dropna() >= 0).all()  # cumulative: never falls
    assert (out < both["left"]).any() and (both["occupancy"] > 0).any()  # not tight: some came back


def relations_checked(monkeypatch) -> list[np.ndarray]:
    """Each occupancy_relations the crossed audit builds, evaluated on its data (>= 0: holds)."""
    seen, relations = [], public_edition.occupancy_relations

    def spy(figures):
        known = relations(figures)
        seen.append(known @ figures.atoms["persons"].to_numpy(dtype="float64"))
        return known

    monkeypatch.setattr(public_edition, "occupancy_relations", spy)
    return seen


def test_every_relation_the_crossed_audit_knows_holds_on_the_synthetic_edition(monkeypatch):
    seen = relations_checked(monkeypatch)
    public_edition.public_edition(synthetic(4, 12), 5)
    assert len(seen) == 1 and len(seen[0]) == 12 * (4 + 2)  # per month end: (a) per municipality, (b), (c)
    assert (seen[0] >= 0).all(), np.flatnonzero(seen[0] < 0)


@pytest.mark.flow
def test_every_relation_holds_on_the_pipelines_own_publication(demo_run, monkeypatch):
    """The demo's published database through the report's gather: nothing for the filter to drop."""
    from transforms import monthly_report

    paths, _, _ = demo_run
    data = monthly_report.gather(paths.database, date(2020, 11, 1),
                                 ["programme", "evaluation-2021", "evaluation-2022"])
    assert data.occupancy_series["month_end"].nunique() > 3
    seen = relations_checked(monkeypatch)
    public_edition.public_edition(data, monthly_report.DEFAULT_THRESHOLD)
    assert len(seen) == 1 and len(seen[0]) > 10
    assert (seen[0] >= 0).all(), np.flatnonzero(seen[0] < 0)
