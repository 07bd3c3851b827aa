"""The public edition of the monthly report: small-cell protection of everything it publishes.

`public_edition` turns the report's data (transforms/monthly_report.ReportData) into its public
edition: every figure at the reference date, the outflow series and the occupancy series
protected and audited by transforms/suppression.py, the internal sections left out, and the
About sheet's account of the method, what was hidden and the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from transforms import suppression
from transforms.monthly_report import SUPPRESSED, ReportData, report_texts
from transforms.queries import line_labels


# --- small-cell protection ----------------------------------------------------------------------

#: the sections whose figures transforms/suppression.py protects together (position kinds)
PROTECTED_SECTIONS = ("headline", "by_municipality", "durable_share")
#: the folder, beside the reports' folders, where protection patterns are kept (by fingerprint)
PROTECTION_CACHE = "protection-cache"
#: every public sheet with protected cells, in the About sheet's order
PROTECTED_SHEETS = (*PROTECTED_SECTIONS, "outflow_series", "occupancy_series")


@dataclass
class Problem:
    """One protection problem of the public edition: its figures and the pattern chosen."""

    sheet: str                        # "reference_date", "outflow_series", "occupancy_series" or
    figures: suppression.Figures      # "<series>_joint": its month ends audited together
    pattern: suppression.Pattern
    added: int = 0                    # the joint audit: figures hidden beyond the parts' own
    #: the reference date: figures hidden as published, after the joint audit with the outflow
    #: series (None: the pattern's own)
    published: np.ndarray | None = None
    tables_added: int = 0             # the joint audit: of `added`, figures of the reference date

    @property
    def hidden(self) -> np.ndarray:
        return self.pattern.hidden if self.published is None else self.published


def public_edition(data: ReportData, threshold: int, protection: float | None = None,
                   cache_dir: Path | None = None) -> ReportData:
    """The report with small cells protected (transforms/suppression.py) and internal sections left out.

    Every figure at the reference date (every rule's table, totals, headline, durability counts,
    and through the atoms the differences between rules) is protected in one optimisation and
    audited; so is each month end of the outflow series (rules and lines, summed over the
    municipalities), and each month end of the occupancy series (occupancy, cumulative inflow
    and, by subtraction, who left, per municipality). Then the outflow series' month ends and
    the reference date, its final part, are audited together (a cumulative count never falls:
    the reference date's figures are at least the series' last point; the bands included), and
    so are the occupancy series' month ends; more is hidden where that audit fails.
    cache_dir: where patterns and joint audits are kept by the fingerprint of their inputs, with
    their certificates (suppression.protect_cached, audit_together; None: computed every time);
    all but the files used last are removed (suppression.prune).
    """
    protected = replace(data, public=True, threshold=threshold, bridge=data.bridge.iloc[0:0],
                        quality=data.quality.iloc[0:0], quarantine=data.quarantine.iloc[0:0],
                        changes=data.changes.iloc[0:0])
    lines = list(line_labels())
    # every municipality the internal edition shows, also one without a single exit (no atom)
    municipalities = sorted((set(data.atoms["municipality"]) | set(data.by_municipality["municipality"]))
                            - {"total"})
    figures = suppression.edition_figures(data.atoms, data.definitions, lines, municipalities)
    _check_figures(figures, data.by_municipality)
    pattern = suppression.protect_cached(figures, threshold, protection, cache_dir)
    earlier = _before(data, data.reference_date)
    reference = (pd.Timestamp(data.reference_date), figures, pattern)
    protected.outflow_series, series, (hidden, bands) = _protected_series(
        earlier, lines, threshold, protection, cache_dir, reference)

    def shown(*position) -> object:
        index = figures.positions[position]
        return SUPPRESSED if hidden[index] else int(figures.values[index])

    headline = pd.DataFrame([{"line": line, **{d: shown("headline", line, d) for d in data.definitions}}
                             for line in [*lines, "total"]])
    headline.insert(1, "label", headline["line"].map(line_labels()).fillna(""))
    protected.headline = headline
    protected.by_municipality = pd.DataFrame(
        [{"definition": d, "municipality": m,
          **{line: shown("by_municipality", d, m, line) for line in [*lines, "total"]}}
         for d in data.definitions for m in [*municipalities, "total"]],
        columns=["definition", "municipality", *lines, "total"])
    by_share = {figures.ratios[k][0]: band for k, band in bands.items()}  # by share position
    protected.durable_share = _shown_shares(data.definitions, municipalities, shown, by_share)
    joint = next(p for p in series if p.sheet == "outflow_series_joint")
    protected.occupancy_series, occupancy = _protected_occupancy(earlier, threshold, protection, cache_dir,
                                                                 outflow=joint)
    problems = [Problem("reference_date", figures, pattern, published=hidden,
                        tables_added=int((hidden & ~pattern.hidden).sum())), *series, *occupancy]
    joint.tables_added = problems[0].tables_added
    protected.notes = _protection_notes(problems, protected, earlier, threshold,
                                        threshold if protection is None else protection)
    if cache_dir is not None:
        suppression.prune(cache_dir)  # the files this run used are the newest
    return protected


def _before(data: ReportData, day: date) -> ReportData:
    """The series' points before day only. The public series end at the month end before the
    reference date: at the reference date itself the series' figures are the headline's (per rule
    and line) and stand beside its total, but are protected by an optimisation of their own; shown
    in both, a cell one pattern hides as a secondary can be shown by the other, and the total less
    the shown lines then gives a primary back (on the demo: onward migration, 2 persons). What the
    series' last point tells about the reference date (its figures are at least that point's) is
    audited: _protected_series."""
    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty:
            return frame
        return frame[pd.to_datetime(frame["month_end"]) < pd.Timestamp(day)].reset_index(drop=True)

    return replace(data, outflow_series=cut(data.outflow_series), series_atoms=cut(data.series_atoms),
                   occupancy_series=cut(data.occupancy_series))


def _protected_series(data: ReportData, lines: list[str], threshold: int, protection: float | None,
                      cache_dir: Path | None, reference: tuple[pd.Timestamp, suppression.Figures,
                                                               suppression.Pattern]
                      ) -> tuple[pd.DataFrame, list[Problem], tuple[np.ndarray, dict]]:
    """The public series (month end, rule, line), each month protected as the reference date is
    (small values, and small differences between rules, hidden with least loss), then audited
    together with the reference date's figures (its final part: `reference`, its key, figures
    and pattern), knowing that a cumulative count never falls (suppression.series_before; see
    _together). Returns the series, its problems, and the reference date's hidden flags and bands
    as published."""
    series = data.outflow_series.groupby(["month_end", "definition", "line"], as_index=False)["persons"].sum()
    parts = suppression.series_figures_by_month(data.series_atoms, data.definitions, lines)
    key, figures, pattern = reference
    joint, problems = _together("outflow_series", {**parts, key: figures}, threshold, protection, cache_dir,
                                rising=suppression.series_before, given={key: pattern})
    hidden = {position for position, index in joint.figures.positions.items() if joint.hidden[index]}
    keys = zip(pd.to_datetime(series["month_end"]), series["definition"], series["line"])
    series["persons"] = series["persons"].astype("Float64").mask(
        np.array([(month_end, "series", d, line) in hidden for month_end, d, line in keys],
                 dtype=bool))  # typed: an empty series too
    return series, problems, joint.part(key, figures)


def _protected_occupancy(data: ReportData, threshold: int, protection: float | None,
                         cache_dir: Path | None = None, outflow: Problem | None = None
                         ) -> tuple[pd.DataFrame, list[Problem]]:
    """The public occupancy series, each month end protected on its own (suppression.occupancy_figures:
    small occupancy, inflow, and small differences between them, who left, hidden), then audited
    over all month ends together, knowing that the cumulative inflow never falls; then beside the
    outflow (`outflow`: the joint audit of the outflow series and the reference date's tables, as
    published), knowing what holds between them (occupancy_relations): more of the occupancy
    series hidden where that audit fails (_beside_outflow)."""
    out = data.occupancy_series.copy()
    parts = suppression.occupancy_figures_by_month(out)
    if not parts:
        return out, []
    joint, problems = _together("occupancy_series", parts, threshold, protection, cache_dir,
                                rising=lambda position: position if position[0] == "inflow" else None)
    flags = joint.hidden
    if outflow is not None:
        crossed = _beside_outflow(outflow, joint.figures, joint.hidden, threshold, protection, cache_dir)
        problems.append(crossed)
        flags = np.zeros(len(joint.figures.values), dtype=bool)
        for (key, *position), index in crossed.figures.positions.items():
            if key == "occupancy":
                flags[joint.figures.positions[tuple(position)]] |= bool(crossed.hidden[index])
    hidden = {position for position, index in joint.figures.positions.items() if flags[index]}
    month_ends = pd.to_datetime(out["month_end"])
    for column in ("occupancy", "inflow"):
        out[column] = out[column].astype("Float64").mask(np.array(
            [(month_end, column, m) in hidden for month_end, m in zip(month_ends, out["municipality"])],
            dtype=bool))
    return out, problems


def occupancy_relations(figures: suppression.Figures) -> suppression.Rows:
    """What a reader knows between the occupancy series and the outflow, for every data set the
    pipeline can publish, as rows r @ atoms >= 0 over `figures` (suppression.joined of "outflow":
    the outflow series' month ends and the reference date, and "occupancy": its month ends).

    Who entered a municipality's LVV by a month end t and is not in one there (inflow less
    occupancy: the atom `out`) has left it by t: every episode of theirs there that began by t
    ended by t, with an outcome that every counting rule classifies (an exit without an outcome,
    or before its intake, is quarantined; schemas/taxonomy.py holds every rule to every case). So,
    with the month ends before the reference date D:
    (a) out(m, t) <= the persons of m the reference date's atoms count (who left m by D);
    (b) the sum over m of out(m, t) <= the persons the outflow series' atoms count at t (who left
        by t, summed over the municipalities; none where the series has no point at t);
    (c) those persons <= the sum over m of inflow(m, t) (who left by t entered by t).
    Someone who left and came back is in the occupancy and in the outflow: hence only these
    inequalities, no equation.
    """
    atoms = figures.atoms
    outflow_keys = {c[1][0] for c in atoms["classes"] if c[0] == "outflow"}
    reference = max(outflow_keys, default=None)  # the final part: the reference date's tables
    groups: dict[tuple, list[int]] = {}
    for index, (m, (kind, (key, klass))) in enumerate(zip(atoms["municipality"], atoms["classes"])):
        if kind == "occupancy":
            groups.setdefault(("occupancy", key, m, klass[0]), []).append(index)
        elif key == reference:
            groups.setdefault(("left_by_reference", m), []).append(index)
        else:
            groups.setdefault(("left_by", key), []).append(index)
    occupancy = sorted({g[1] for g in groups if g[0] == "occupancy"})
    municipalities = sorted({g[2] for g in groups if g[0] == "occupancy"})
    relations: list[list[tuple[list[int], float]]] = []  # each: (atoms, coefficient) blocks, >= 0
    for t in occupancy:
        outs = [groups.get(("occupancy", t, m, "out"), []) for m in municipalities]
        ins = [groups.get(("occupancy", t, m, "in"), []) for m in municipalities]
        relations += [[(groups.get(("left_by_reference", m), []), 1.0), (out, -1.0)]    # (a)
                      for m, out in zip(municipalities, outs)]
        left = groups.get(("left_by", t), [])
        relations.append([(left, 1.0), *((out, -1.0) for out in outs)])                # (b)
        relations.append([*((block, 1.0) for block in outs + ins), (left, -1.0)])      # (c)
    entries = [(r, column, value) for r, blocks in enumerate(relations) for block, value in blocks
               for column in block]
    r, columns, values = (np.array(x, dtype=t) for x, t in
                          zip(zip(*entries) if entries else ([], [], []), (np.int64, np.int64, "float64")))
    return suppression.Rows.entries(r, columns, values, len(relations), len(atoms))


def _beside_outflow(outflow: Problem, occupancy: suppression.Figures, hidden: np.ndarray, threshold: int,
                    protection: float | None, cache_dir: Path | None = None) -> Problem:
    """The occupancy series (its figures and what its own audit hides) audited with the outflow
    series and the reference date's tables as published (`outflow`: their joint audit, its bands
    included) and occupancy_relations between them. Where that audit fails, more occupancy figures
    are hidden (suppression's heuristic, starting from both patterns); the outflow's figures are
    never hidden for it: they are published and audited already, and hiding the whole occupancy
    series would leave the outflow's own audit, which passes. cache_dir: kept with its
    certificates, as the other joint audits (suppression.audit_cached)."""
    level = threshold if protection is None else protection
    figures = suppression.joined({"outflow": outflow.figures, "occupancy": occupancy})
    known = occupancy_relations(figures)
    # each holds for every data set the pipeline publishes; one that data made otherwise breaks (a
    # synthetic edition whose inflow is not who stayed plus who left) is no knowledge: a reader
    # assuming it meets a contradiction. The rest are audited (more of them only narrows more).
    holds = np.flatnonzero(known @ figures.atoms["persons"].to_numpy(dtype="float64") >= 0)
    figures.relations.append(suppression.Rows.entries(*known.take(holds), len(holds), len(figures.atoms)))
    start = np.zeros(len(figures.values), dtype=bool)
    fixed = np.zeros(len(figures.values), dtype=bool)
    for (key, *position), index in figures.positions.items():
        part, flags = (outflow.figures, outflow.hidden) if key == "outflow" else (occupancy, hidden)
        start[index] |= bool(flags[part.positions[tuple(position)]])
        fixed[index] |= key == "outflow"
    bands = dict(outflow.pattern.bands)  # the outflow's ratios come first in the joined figures
    joint = suppression.audit_cached(figures, start, bands, threshold, level, cache_dir, fixed=fixed)
    pattern = suppression.Pattern(joint.hidden, "joint", None, 0.0, None, joint.intervals, 0.0,
                                  proofs=joint.proofs, cached=joint.cached)
    return Problem("occupancy_series_outflow_joint", figures, pattern, joint.added)


def _together(sheet: str, parts: dict, threshold: int, protection: float | None,
              cache_dir: Path | None, rising, given: dict | None = None
              ) -> tuple[suppression.Joint, list[Problem]]:
    """Each part (a month end) protected on its own (cached; `given`: parts protected already),
    then all audited together (suppression.audit_together: more hidden where the relations
    between parts would narrow a primary). Returns the joint audit and the problems: one per
    month end, and the joint audit's (its pattern: the parts' and what it added)."""
    patterns = {key: (given or {}).get(key) or suppression.protect_cached(figures, threshold, protection,
                                                                          cache_dir)
                for key, figures in parts.items()}
    problems = [Problem(sheet, parts[key], pattern) for key, pattern in patterns.items()
                if key not in (given or {})]
    joint = suppression.audit_together(parts, patterns, threshold, protection, rising, cache_dir)
    pattern = suppression.Pattern(joint.hidden, "joint", None, 0.0, None, joint.intervals, 0.0,
                                  bands=joint.bands)  # published with it: _beside_outflow audits them
    problems.append(Problem(f"{sheet}_joint", joint.figures, pattern, joint.added))
    return joint, problems


def _check_figures(figures: suppression.Figures, by_municipality: pd.DataFrame) -> None:
    """The atoms add up to the figures the internal edition shows (else the audit means nothing)."""
    cells = by_municipality.groupby(["definition", "municipality", "line"])["persons"].sum()
    for (d, m, line), persons in cells.items():
        modelled = figures.values[figures.positions[("by_municipality", d, m, line)]]
        if modelled != persons:
            raise RuntimeError(f"small-cell protection: the atoms give {modelled:g} persons for {d}, "
                               f"{m}, {line}; the table has {persons}")


def band_text(band: tuple[int, int]) -> str:
    """A published band of a share, as text ("10–20 %")."""
    return f"{band[0]}–{band[1]} %"


def _shown_shares(definitions: list[str], municipalities: list[str], shown,
                  bands: dict[tuple, tuple[int, int]] | None = None) -> pd.DataFrame:
    """Durable share per rule and municipality: the share wherever durable and total are shown
    (computable from what is shown); none where the total is 0; where the durable count is hidden,
    its band (suppression.Pattern.bands, by share position) as text, else the marker."""
    rows = []
    for d in definitions:
        for m in municipalities:
            row = {"definition": d, "municipality": m,
                   **{k: shown("durable_share", d, m, k)
                      for k in ("durable", "semi_durable", "non_durable", "total")}}
            band = (bands or {}).get(("durable_share", d, m, "share"))
            if band is not None and row["total"] != SUPPRESSED:
                row["share"] = band_text(band)
            elif SUPPRESSED in (row["durable"], row["total"]):
                row["share"] = SUPPRESSED
            else:
                row["share"] = round(100 * row["durable"] / row["total"], 1) if row["total"] > 0 else None
            rows.append(row)
    return pd.DataFrame(rows, columns=["definition", "municipality", "durable", "semi_durable",
                                       "non_durable", "total", "share"])


def protection_summary(problems: list[Problem], public: ReportData, internal: ReportData) -> pd.DataFrame:
    """sheet, cells, cells_hidden, persons_hidden: per public sheet with protected cells, as
    printed (a figure printed twice counts twice; the durable share's share column counts as
    hidden where it shows the marker; the series count their printed rows' values)."""
    rows = {k: {"sheet": k, "cells": 0, "cells_hidden": 0, "persons_hidden": 0} for k in PROTECTED_SHEETS}
    for problem in problems:
        if problem.sheet != "reference_date":
            continue
        for position, index in problem.figures.positions.items():
            if position[-1] == "share":
                continue
            row = rows[position[0]]
            row["cells"] += 1
            if problem.hidden[index]:
                row["cells_hidden"] += 1
                row["persons_hidden"] += int(problem.figures.values[index])
    # the share column: printed where durable and total are (a position of the durable count in
    # the optimisation, counted here as printed)
    rows["durable_share"]["cells"] += len(public.durable_share)
    rows["durable_share"]["cells_hidden"] += int((public.durable_share["share"] == SUPPRESSED).sum())
    exact = internal.outflow_series.groupby(["month_end", "definition", "line"], as_index=False)["persons"].sum()
    for sheet, shown, full, columns in (
            ("outflow_series", public.outflow_series, exact, ["persons"]),
            ("occupancy_series", public.occupancy_series, internal.occupancy_series, ["occupancy", "inflow"])):
        for column in columns:
            hidden = shown[column].isna().to_numpy(dtype=bool)
            rows[sheet]["cells"] += len(shown)
            rows[sheet]["cells_hidden"] += int(hidden.sum())
            rows[sheet]["persons_hidden"] += int(full[column].to_numpy()[hidden].sum())
    return pd.DataFrame(list(rows.values()), columns=["sheet", "cells", "cells_hidden", "persons_hidden"])


def _protection_notes(problems: list[Problem], protected: ReportData, internal: ReportData,
                      threshold: int, level: float) -> list[str]:
    """The About sheet's account: marker, method, each problem's result, what each sheet hides,
    the audit, and what the audit assumes."""
    texts = report_texts(protected.language)
    words, sections = texts["protection"], texts["sections"]
    summary = protection_summary(problems, protected, internal)
    per_sheet = "; ".join(words["per_sheet"].format(sheet=sections[r.sheet][0], hidden=r.cells_hidden,
                                                    cells=r.cells, persons=r.persons_hidden)
                          for r in summary.itertuples())
    notes = [words["marker"].format(marker=SUPPRESSED, largest=threshold - 1), words["method"]]
    for sheet in ("reference_date", "outflow_series", "occupancy_series"):
        group = [p for p in problems if p.sheet == sheet]
        joint = next((p for p in problems if p.sheet == f"{sheet}_joint"), None)
        if not group:
            continue
        cost = sum(float(p.figures.cost()[p.pattern.hidden].sum()) for p in group)
        bounds = [p.pattern.lower_bound for p in group]
        methods = {p.pattern.method for p in group}
        proof = (words["proofs"]["exact"] if methods == {"exact"}
                 else words["proofs"]["heuristic"] if None in bounds
                 else words["proofs"]["bounded"].format(bound=f"{sum(bounds):.0f}"))
        notes.append(words["problems"][sheet].format(
            n=len(group), cells=sum(len(p.figures.positions) for p in group), hidden=f"{cost:.0f}",
            proof=proof, heuristic=f"{sum(p.pattern.heuristic for p in group):.0f}",
            sheets=", ".join(sections[k][0] for k in PROTECTED_SECTIONS)))
        if joint is not None:  # the outflow series' joint audit has the reference date as its final part
            notes.append(words["joint_reference" if sheet == "outflow_series" else "joint"].format(
                n=len(group), primaries=len(joint.pattern.intervals), added=joint.added,
                tables=joint.tables_added,
                narrowest=f"{min((i.width for i in joint.pattern.intervals), default=float('inf')):g}"))
        crossed = next((p for p in problems if p.sheet == f"{sheet}_outflow_joint"), None)
        if crossed is not None:  # the occupancy series beside the outflow (_beside_outflow)
            notes.append(words["beside_outflow"].format(
                primaries=len(crossed.pattern.intervals), added=crossed.added,
                narrowest=f"{min((i.width for i in crossed.pattern.intervals), default=float('inf')):g}"))
    banded = int(protected.durable_share["share"].map(lambda v: isinstance(v, str) and v != SUPPRESSED).sum())
    notes.append(words["bands"].format(step=suppression.BAND_STEP, marker=SUPPRESSED, banded=banded,
                                       shares=len(protected.durable_share)))
    notes.append(words["hidden"].format(per_sheet=per_sheet))
    intervals = [i for p in problems if not p.sheet.endswith("_joint") for i in p.pattern.intervals]
    narrowest = min((i.width for i in intervals), default=float("inf"))
    notes.append(words["audit"].format(n=len(intervals), threshold=f"{level:g}", narrowest=f"{narrowest:g}")
                 if intervals else words["no_primary"])
    notes.append(words["assumption_together"])
    return notes
