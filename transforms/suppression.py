"""Small-cell protection of everything a public edition publishes together, with an audit.

The method of tau-ARGUS (Statistics Netherlands) and sdcTable for linked tables, with the
differences between counting rules built in:

- **Atoms.** The finest counts the published figures are sums of: persons per municipality and
  *class set*, a person's class set holding, for every exit up to the reference date, the line and
  durability that each counting rule gives it. Every published figure (a cell of a rule's table, a
  row or column total, a headline figure, a durability count) is a linear form over the atoms, so
  the difference between two rules' figures is one too.
- **Figures and positions.** One form is one figure, wherever it is printed: a municipality's
  total is the same figure in every rule's table and in the durable share, shown or hidden in all.
- **Primary cells.** A figure, an atom or an atom summed over the municipalities (what the
  difference between two rules counts) with 0 < persons < threshold. Zero cells are not primary (a
  zero discloses nobody): they are shown, and may be hidden as a secondary suppression.
- **Protected** means: by linear programming over *every* shown figure (atoms >= 0), the interval
  in which a primary must lie is at least the protection level wide (default: the threshold).
  `audit` computes that interval for every primary (HiGHS through highspy: one model per figure
  set, warm-started; see `Auditor`).
- **Links.** Where a figure is hidden, figures linked to it are hidden too (Figures.links; none in
  the edition: a link from the durable count to the total, to show the share wherever the total
  is, hides every municipality's total on the demo, since the rules' durable counts differ by 1
  to 4 persons and the total is one figure for all rules; the share is published there as a
  band instead, see Bands).
- **Secondary suppression** hides the figures that cost least (positions hidden) such that every
  primary is protected. Heuristic (always, first): hide primaries, then, while the audit fails,
  hide the cheapest figure of the failing primary's certificate; then show each secondary again,
  dearest first, where the audit allows. Exact (up to EXACT_LIMIT figures): a 0-1 programme over
  the figures (HiGHS) with a cut from each failed audit: the figures whose constraints bound the
  interval (non-zero duals) are a certificate that stays valid while they are all shown, so at
  least one of them must be hidden; every cut holds for every protecting pattern, so the
  master's least value is a proven lower bound. It stops at the proven optimum, or GAP above the
  bound, or after MAX_ROUNDS (the pattern is then "bounded" and the bound is reported).
- **Bands.** A ratio of two figures (Figures.ratios: the durable share, durable count / total)
  whose part is hidden and whose whole is shown is published as a band from a fixed grid (both
  ends multiples of BAND_STEP, 5 percentage points), the narrowest (then the lowest) for which
  the audit still passes. With the whole T shown, a band [lo, hi) tells the
  reader ceil(lo T) <= part <= ceil(hi T) - 1 (whole persons): two inequalities the audit holds
  (Auditor's `bands`). Bands are chosen one ratio after another (in the order of
  Figures.ratios), each with the bands before it known; where only 0-100 % would pass, the
  ratio stays hidden. Bands never change the pattern: they use what the audit leaves spare.
- **Cache.** `protect_cached` keeps a pattern under the fingerprint of exactly its inputs and
  uses it again only after checking the file and auditing the pattern afresh: by the
  certificates kept with it (each interval's end proven by a feasible point and a dual solution
  of the same value, or an unbounded ray; `certify`, no linear programme solved), or, where a
  certificate does not prove its end (stale, forged), by solving. `audit_together` keeps its
  result and certificates the same way. `prune` keeps the files used last.
- **Together.** `protect` solves one set of figures; figure sets published side by side (the
  month ends of a series, and the reference date as the outflow series' final part) are then
  audited together (`audit_together` over `joined`), with what a reader knows between them: a
  cumulative count never falls from one month end to the next (`series_before` maps the
  reference date's figures onto the series' last point), and each part's bands; where that
  audit fails, the heuristic hides more, starting from the parts' patterns.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import highspy

from transforms.files import read_checked, write_checked  # the format the report's gather cache shares

DEFAULT_THRESHOLD = 5
#: figures beyond which the exact programme is not tried (the heuristic protects alone)
EXACT_LIMIT = 1500
#: the exact programme stops when its best pattern is proven least, or at most GAP (relative)
#: above the proven lower bound, or after MAX_ROUNDS master solves; these keep the result the
#: same on every machine. EXACT_SECONDS is a safety net only (the demo needs < 1 s, a national
#: edition a few seconds: benchmarks/protection.py)
GAP = 0.02
MAX_ROUNDS = 40
EXACT_SECONDS = 60.0
_TOLERANCE = 1e-7
#: an audit model of at least this many figures has its first solve (no basis yet) presolved:
#: the occupancy series beside the outflow at x100 (7,888 figures over 7,386 atoms) took 0.64 s
#: without presolve, 0.05 s with it, three times a month (docs/performance.md, eleventh round).
#: A smaller model's first solve takes milliseconds either way, and another starting vertex only
#: moves the exact programme's path (the demo's edition, 477 figures at most: 19 master solves
#: became 23, same pattern): so below it nothing changes
PRESOLVE_FROM = 1000
#: the grid of the bands in which a hidden ratio may be published: both ends are multiples of
#: BAND_STEP percentage points (10-15 %, 15-30 %, ...); a band [lo, hi) holds lo up to below hi
#: per cent, the top band [lo, 100] 100 % too; 0-100 % is never published (it is `x`)
BAND_STEP = 5


# --- atoms ---------------------------------------------------------------------------------------

def atoms(exits: pd.DataFrame, rules: pd.DataFrame, definitions: list[str]) -> pd.DataFrame:
    """municipality, classes, persons: persons per municipality and class set (see module doc).

    exits: municipality, person_id, outcome_code, follow_up_code (one row per exit up to the
    reference date); rules: definition, outcome_code, follow_up_code, line, durability.
    classes: a sorted tuple of (definition, line, durability) triples.
    """
    columns = ["municipality", "classes", "persons"]
    if exits.empty:
        return pd.DataFrame(columns=columns)
    keyed = rules[rules["definition"].isin(definitions)].assign(
        follow_up_code=lambda f: f["follow_up_code"].astype(object).where(f["follow_up_code"].notna(), ""))
    frame = exits.assign(follow_up_code=exits["follow_up_code"].astype(object)
                         .where(exits["follow_up_code"].notna(), ""))
    joined = frame.merge(keyed, on=["outcome_code", "follow_up_code"], how="inner")
    triples = joined.assign(triple=list(zip(joined["definition"], joined["line"], joined["durability"])))
    per_person = (triples.groupby(["municipality", "person_id"], sort=False)["triple"]
                  .agg(lambda t: tuple(sorted(set(t)))))
    counted = per_person.groupby([per_person.index.get_level_values(0), per_person.values]).size()
    return pd.DataFrame({"municipality": [m for m, _ in counted.index],
                         "classes": [c for _, c in counted.index],
                         "persons": counted.to_numpy(dtype="int64")}, columns=columns)


# --- sparse rows ---------------------------------------------------------------------------------

#: a sparse row over the atoms: (columns, coefficients), columns ascending and distinct
Row = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Rows:
    """Sparse rows over `width` atoms in compressed-row form (row i: coefficients
    data[indptr[i]:indptr[i+1]] at columns indices[...], ascending): every figure's form, the
    relations and the primaries, without a dense figures x atoms matrix (a national series joins
    thousands of figures over thousands of atoms, each form a few of them)."""

    indptr: np.ndarray       # int64, rows + 1
    indices: np.ndarray      # int32
    data: np.ndarray         # float64
    width: int

    @staticmethod
    def of(rows: list[Row], width: int) -> "Rows":
        lengths = np.array([len(c) for c, _ in rows], dtype=np.int64)
        return Rows(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                    np.concatenate([c for c, _ in rows] or [np.zeros(0)]).astype(np.int32),
                    np.concatenate([v for _, v in rows] or [np.zeros(0)]).astype("float64"), width)

    @staticmethod
    def entries(rows: np.ndarray, columns: np.ndarray, values: np.ndarray, n: int, width: int) -> "Rows":
        """From (row, column, value) entries: duplicates summed, zeros dropped."""
        key = rows.astype(np.int64) * max(width, 1) + columns.astype(np.int64)
        unique, inverse = np.unique(key, return_inverse=True)
        summed = np.bincount(inverse.ravel(), weights=values, minlength=len(unique))
        keep = summed != 0
        unique, summed = unique[keep], summed[keep]
        counts = np.bincount(unique // max(width, 1), minlength=n).astype(np.int64)
        return Rows(np.concatenate([[0], np.cumsum(counts)]), (unique % max(width, 1)).astype(np.int32),
                    summed.astype("float64"), width)

    @staticmethod
    def stack(blocks: list["Rows"], width: int) -> "Rows":
        ends = np.cumsum([0] + [b.nnz for b in blocks])
        return Rows(np.concatenate([[0], *[b.indptr[1:] + end for b, end in zip(blocks, ends)]]).astype(np.int64),
                    np.concatenate([b.indices for b in blocks] or [np.zeros(0)]).astype(np.int32),
                    np.concatenate([b.data for b in blocks] or [np.zeros(0)]).astype("float64"), width)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, int]:
        return len(self), self.width

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def row_ids(self) -> np.ndarray:
        return np.repeat(np.arange(len(self)), np.diff(self.indptr))

    def row(self, i: int) -> Row:
        return self.indices[self.indptr[i]:self.indptr[i + 1]], self.data[self.indptr[i]:self.indptr[i + 1]]

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        return np.bincount(self.row_ids(), weights=self.data * vector[self.indices], minlength=len(self))

    def take(self, rows: np.ndarray, scale: float = 1.0, offset: int = 0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, value) entries of `rows` (renumbered 0..), times scale, columns moved by offset."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.indptr[rows + 1] - self.indptr[rows]
        at = np.repeat(self.indptr[rows] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) \
            + np.arange(int(lengths.sum()))
        return (np.repeat(np.arange(len(rows)), lengths), self.indices[at].astype(np.int64) + offset,
                scale * self.data[at])

    def moved(self, offset: int, width: int) -> "Rows":
        """The same rows over `width` atoms, their columns moved by offset."""
        return Rows(self.indptr, (self.indices.astype(np.int64) + offset).astype(np.int32), self.data, width)

    def digest(self, digest) -> None:
        digest.update(np.array([len(self), self.width], dtype=np.int64).tobytes())
        for array, dtype in ((self.indptr, np.int64), (self.indices, np.int64), (self.data, "float64")):
            digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())


def _sparse(coefficients: np.ndarray | Row) -> Row:
    if isinstance(coefficients, tuple):
        columns, values = coefficients
        order = np.argsort(columns, kind="stable")
        return np.asarray(columns, dtype=np.int32)[order], np.asarray(values, dtype="float64")[order]
    columns = np.flatnonzero(coefficients).astype(np.int32)
    return columns, np.asarray(coefficients, dtype="float64")[columns]


# --- figures -------------------------------------------------------------------------------------

@dataclass
class Figures:
    """The published figures of an edition as linear forms over the atoms."""

    atoms: pd.DataFrame
    forms: Rows | np.ndarray                # figure x atom coefficients (Rows once closed)
    values: np.ndarray                      # persons per figure (forms @ atom persons)
    positions: dict[tuple, int] = field(default_factory=dict)   # (sheet, ...) -> figure
    #: published sums: (total, parts) by position; a primary part needs another member hidden
    sums: list[tuple[tuple, list[tuple]]] = field(default_factory=list)
    #: (a, b) by position: where a is hidden, b is hidden too (a derived figure computed from
    #: both, such as the durable share, is then shown wherever b is)
    links: list[tuple[tuple, tuple]] = field(default_factory=list)
    #: what a reader knows besides the figures: blocks of rows r over the atoms with
    #: r @ atoms >= 0 (a cumulative count never falls from one month end to the next)
    relations: list[Rows] = field(default_factory=list)
    #: (part, whole) by position: a ratio part / whole printed at the part's position (a position
    #: of the part's figure); where the part is hidden and the whole shown, it may be published
    #: as a band (Pattern.bands)
    ratios: list[tuple[tuple, tuple]] = field(default_factory=list)

    def add(self, position: tuple, coefficients: np.ndarray | Row) -> None:
        """The figure `coefficients @ atoms` (dense, or a sparse Row) at `position`; one figure
        for equal forms."""
        row = _sparse(coefficients)
        key = row[0].tobytes() + row[1].tobytes()  # 4 + 8 bytes an entry: the split is unambiguous
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self._rows)
            self._rows.append(row)
        self.positions[position] = index

    def extend(self, key: object, forms: Rows, positions: dict[tuple, int]) -> None:
        """Another figure set's figures (its closed `forms`, its `positions`) at its positions
        prefixed with `key`: as `add` of each position's row, one key per figure, not per position
        (its rows are sparse and sorted already)."""
        mine: dict[int, int] = {}
        for position, index in positions.items():
            at = mine.get(index)
            if at is None:
                row = forms.row(index)
                at = mine[index] = self._index.setdefault(row[0].tobytes() + row[1].tobytes(), len(self._rows))
                if at == len(self._rows):
                    self._rows.append(row)
            self.positions[(key, *position)] = at

    def __post_init__(self) -> None:
        self._index: dict[bytes, int] = {}
        self._rows: list[Row] = []

    def close(self) -> "Figures":
        self.forms = Rows.of(self._rows, len(self.atoms))
        self.values = self.forms @ self.atoms["persons"].to_numpy(dtype="float64")
        self._index, self._rows = {}, []
        return self

    def known(self) -> Rows:
        """Every relation as one block of rows."""
        return Rows.stack(self.relations, len(self.atoms))

    def cost(self) -> np.ndarray:
        """Positions each figure hides (the loss the optimisation minimises)."""
        return np.bincount(list(self.positions.values()), minlength=len(self.values)).astype("float64")

    def link_pairs(self) -> np.ndarray:
        """The links as (hidden figure, figure to hide with it) pairs of figure indices."""
        pairs = {(self.positions[a], self.positions[b]) for a, b in self.links}
        return np.array(sorted((a, b) for a, b in pairs if a != b), dtype=np.int64).reshape(-1, 2)

    def with_links(self, hidden: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
        """`hidden` with every figure its links require hidden as well (in place)."""
        pairs = self.link_pairs() if pairs is None else pairs
        while len(pairs):
            missing = hidden[pairs[:, 0]] & ~hidden[pairs[:, 1]]
            if not missing.any():
                break
            hidden[pairs[missing, 1]] = True
        return hidden

    def initial_cuts(self, primary: np.ndarray) -> list[list[int]]:
        """In every published sum with a primary member, another member must be hidden too: per
        cut, the figures of which at least one is hidden."""
        cuts = []
        for total, parts in self.sums:
            # total - parts = 0, by figure: one figure at two places of a sum (a total equal to
            # its one non-zero part, a zero form twice) may cancel out of it
            weight: dict[int, int] = {self.positions[total]: 1}
            for part in parts:
                weight[self.positions[part]] = weight.get(self.positions[part], 0) - 1
            members = {f for f, w in weight.items() if w}
            for member in members:
                if primary[member] and len(members) > 1:
                    cuts.append(sorted(members - {member}))
        return cuts


def edition_figures(atom_frame: pd.DataFrame, definitions: list[str], lines: list[str],
                    municipalities: list[str]) -> Figures:
    """Every figure of the public edition at the reference date, at each of its positions.

    ("by_municipality", definition, municipality | "total", line | "total");
    ("headline", line | "total", definition); ("durable_share", definition, municipality,
    durable | semi_durable | non_durable | total | share), the share a position of the durable count.
    """
    figures = Figures(atoms=atom_frame.reset_index(drop=True), forms=np.empty(0), values=np.empty(0))
    where = figures.atoms["municipality"].to_numpy()
    classes = figures.atoms["classes"].tolist()

    def count(test: Callable[[tuple], bool]) -> np.ndarray:
        return _count(classes, test)

    for d in definitions:
        per_line = {line: count(lambda t, d=d, line=line: t[0] == d and t[1] == line) for line in lines}
        per_class = {k: count(lambda t, d=d, k=k: t[0] == d and t[2] == k)
                     for k in ("durable", "semi_durable", "non_durable")}
        every = count(lambda t, d=d: t[0] == d and t[1] in lines)
        for m in [*municipalities, "total"]:
            mask = np.ones(len(where)) if m == "total" else (where == m).astype("float64")
            for line in lines:
                figures.add(("by_municipality", d, m, line), per_line[line] * mask)
            figures.add(("by_municipality", d, m, "total"), every * mask)
            if m != "total":
                for k, coefficients in per_class.items():
                    figures.add(("durable_share", d, m, k), coefficients * mask)
                figures.add(("durable_share", d, m, "total"), every * mask)
                # the share (durable / total) is printed where both are: a position of the durable
                # count, so that hiding the count costs the share too
                figures.add(("durable_share", d, m, "share"), per_class["durable"] * mask)
                figures.ratios.append((("durable_share", d, m, "share"), ("durable_share", d, m, "total")))
            figures.sums.append((("by_municipality", d, m, "total"),
                                 [("by_municipality", d, m, line) for line in lines]))
            if m != "total":
                figures.sums.append((("durable_share", d, m, "total"),
                                     [("durable_share", d, m, k) for k in per_class]))
        for line in [*lines, "total"]:
            figures.sums.append((("by_municipality", d, "total", line),
                                 [("by_municipality", d, m, line) for m in municipalities]))
        for line in lines:
            figures.add(("headline", line, d), per_line[line])
        figures.add(("headline", "total", d), every)
    return figures.close()


def series_figures(atom_frame: pd.DataFrame, definitions: list[str], lines: list[str]) -> Figures:
    """One month of the public series: persons per counting rule and line, summed over the
    municipalities, at ("series", definition, line); the atoms summed over the municipalities."""
    summed = (atom_frame.groupby("classes", sort=False, as_index=False)["persons"].sum()
              .assign(municipality="all")[["municipality", "classes", "persons"]])
    figures = Figures(atoms=summed, forms=np.empty(0), values=np.empty(0))
    # A line's figure is the sum of outflow()'s (municipality, line, durability) cells, each of
    # distinct persons (DESIGN.md; as edition_figures counts the reference date): an atom whose
    # class set has two durabilities in one line (a rule may map two outcomes of one line to two
    # classes) counts once per triple, so twice there, not once per atom.
    # tests/test_series_figures_counting.py
    per_line = _counts(summed["classes"].tolist(), lambda t: (t[0], t[1]))  # one pass, not one per line
    empty = np.zeros(len(summed))
    for d in definitions:
        for line in lines:
            figures.add(("series", d, line), per_line.get((d, line), empty))
    return figures.close()


def occupancy_figures(month: pd.DataFrame) -> Figures:
    """One month end of the public occupancy series: per municipality, the persons in an LVV
    (occupancy) and the persons who entered up to then (inflow, cumulative), at ("occupancy", m)
    and ("inflow", m). Atoms: per municipality, persons in (occupancy) and persons out (inflow -
    occupancy: who left, a count the two published figures give by subtraction)."""
    frame = month.assign(out=month["inflow"] - month["occupancy"])
    if (frame["out"] < 0).any():
        raise RuntimeError("small-cell protection: occupancy above the cumulative inflow at "
                           f"{sorted(frame.loc[frame['out'] < 0, 'municipality'])}")
    n = len(frame)
    persons = np.empty(2 * n, dtype="int64")  # per municipality: in, then out
    persons[0::2], persons[1::2] = frame["occupancy"].to_numpy(dtype="int64"), frame["out"].to_numpy(dtype="int64")
    atom_frame = pd.DataFrame({"municipality": np.repeat(frame["municipality"].to_numpy(), 2),
                               "classes": [("in",), ("out",)] * n, "persons": persons},
                              columns=["municipality", "classes", "persons"])
    figures = Figures(atoms=atom_frame, forms=np.empty(0), values=np.empty(0))
    one, two = np.ones(1), np.ones(2)
    for k, m in enumerate(frame["municipality"]):
        figures.add(("occupancy", m), (np.array([2 * k]), one))
        figures.add(("inflow", m), (np.array([2 * k, 2 * k + 1]), two))
    return figures.close()


def series_figures_by_month(series_atoms: pd.DataFrame, definitions: list[str], lines: list[str]
                            ) -> dict[pd.Timestamp, Figures]:
    """series_figures of every month end's atoms (series_atoms: month_end, classes, persons), by
    month end in order (as groupby("month_end") gives them), built in one pass: one grouping over
    all month ends, each distinct class set's counts per (definition, line) taken once, and each
    month's forms from a row per position (one call per month end was mostly pandas' per-call
    cost: 1.05 s CPU for the 236 month-end figure sets of the series at x100, 0.15 s in one pass).
    The same frames, forms and positions: tests/test_figures_by_month.py holds them to series_figures."""
    summed = (series_atoms.groupby(["month_end", "classes"], sort=False, as_index=False)["persons"].sum()
              .assign(municipality="all"))
    months, order, bounds = _month_groups(summed["month_end"])
    frame = summed.take(order)[["municipality", "classes", "persons"]]
    codes, class_sets = pd.factorize(frame["classes"])
    positions = [("series", d, line) for d in definitions for line in lines]
    column = {(d, line): k for k, (_, d, line) in enumerate(positions)}
    counts = np.zeros((len(class_sets), len(positions)))  # per class set: its triples per position
    for code, triples in enumerate(class_sets):
        for t in triples:
            k = column.get((t[0], t[1]))
            if k is not None:
                counts[code, k] += 1.0
    counts = counts[:, [column[p[1:]] for p in positions]]  # a position asked twice: its column twice
    return {month: _dense_figures(frame.iloc[a:b].reset_index(drop=True), positions, counts[codes[a:b]].T)
            for month, a, b in zip(months, bounds[:-1], bounds[1:])}


def occupancy_figures_by_month(series: pd.DataFrame) -> dict[pd.Timestamp, Figures]:
    """occupancy_figures of every month end of the occupancy series (month_end, municipality,
    occupancy, inflow), by month end in order, built in one pass (as series_figures_by_month);
    the same frames, forms and positions (tests/test_figures_by_month.py)."""
    months, order, bounds = _month_groups(series["month_end"])
    frame = series.take(order)
    out = frame["inflow"] - frame["occupancy"]
    below = (out < 0).to_numpy(dtype=bool)
    for a, b in zip(bounds[:-1], bounds[1:]):
        if below[a:b].any():
            raise RuntimeError("small-cell protection: occupancy above the cumulative inflow at "
                               f"{sorted(frame['municipality'].iloc[a:b][below[a:b]])}")
    n = len(frame)
    persons = np.empty(2 * n, dtype="int64")  # per row: in, then out
    persons[0::2], persons[1::2] = frame["occupancy"].to_numpy(dtype="int64"), out.to_numpy(dtype="int64")
    atom_frame = pd.DataFrame({"municipality": np.repeat(frame["municipality"].to_numpy(), 2),
                               "classes": [("in",), ("out",)] * n, "persons": persons},
                              columns=["municipality", "classes", "persons"])
    names = frame["municipality"].tolist()
    parts = {}
    for month, a, b in zip(months, bounds[:-1], bounds[1:]):
        # row k of the month: occupancy at figure 2k (its atom in), inflow at 2k + 1 (in + out);
        # every form distinct, so one figure each
        k = np.arange(b - a, dtype=np.int64)
        forms = Rows(np.concatenate([[0], np.cumsum(np.tile([1, 2], b - a))]).astype(np.int64),
                     np.column_stack([2 * k, 2 * k, 2 * k + 1]).ravel().astype(np.int32),
                     np.ones(3 * (b - a)), 2 * (b - a))
        positions = [(kind, m) for m in names[a:b] for kind in ("occupancy", "inflow")]
        parts[month] = _figures(atom_frame.iloc[2 * a:2 * b].reset_index(drop=True), forms, positions,
                                range(len(positions)))
    return parts


def _month_groups(month_end: pd.Series) -> tuple[list[pd.Timestamp], np.ndarray, np.ndarray]:
    """The rows of each month end as groupby(month_end, sort=True) gives them: the month ends in
    order (missing ones left out, as groupby does), the row order (by month end, stable) and each
    month's rows order[bounds[i]:bounds[i + 1]]."""
    codes, uniques = pd.factorize(month_end, sort=True)
    order = np.argsort(codes, kind="stable")  # a missing month end (code -1) first, before bounds[0]
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [pd.Timestamp(u) for u in uniques], order, bounds


def _dense_figures(atom_frame: pd.DataFrame, positions: list[tuple], dense: np.ndarray) -> Figures:
    """Figures with the form dense[i] (over the atoms) at positions[i], as Figures.add and close
    make them (one figure for equal forms, in order of first appearance), without a call per form."""
    first: dict[bytes, int] = {}
    index = [first.setdefault(np.ascontiguousarray(row).tobytes(), len(first)) for row in dense]
    chosen = dense[np.unique(index, return_index=True)[1]] if len(index) else dense
    rows, columns = np.nonzero(chosen)
    forms = Rows(np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(chosen)))]).astype(np.int64),
                 columns.astype(np.int32), chosen[rows, columns].astype("float64"), len(atom_frame))
    return _figures(atom_frame, forms, positions, index)


def _figures(atom_frame: pd.DataFrame, forms: Rows, positions: list[tuple], index) -> Figures:
    """Closed figures: figure index[i] at positions[i] (a position given twice: the last, in the
    place of the first, as Figures.add)."""
    return Figures(atoms=atom_frame, forms=forms, values=forms @ atom_frame["persons"].to_numpy(dtype="float64"),
                   positions=dict(zip(positions, index)))


def joined(parts: dict[object, Figures], rising: Callable[[tuple], tuple | None] = lambda position: None
           ) -> Figures:
    """Figure sets published together as one (their atoms side by side, each part's positions
    prefixed with its key, atoms' classes with it too, so no atom is summed across parts; each
    part's sums, links, relations and ratios kept), with the relations a reader knows between
    consecutive parts (in key order): a figure at a position p of a part is at least the figure
    at `rising(p)` in the part before (a cumulative count; None: no such relation)."""
    keys = list(parts)
    frames = [parts[k].atoms.assign(classes=[(k, c) for c in parts[k].atoms["classes"]]) for k in keys]
    atom_frame = (pd.concat(frames, ignore_index=True) if frames
                  else pd.DataFrame(columns=["municipality", "classes", "persons"]))
    figures = Figures(atoms=atom_frame, forms=np.empty(0), values=np.empty(0))
    offsets = np.cumsum([0] + [len(f) for f in frames])
    width = len(atom_frame)
    for k, key in enumerate(keys):
        part = parts[key]
        figures.extend(key, part.forms.moved(int(offsets[k]), width), part.positions)
        figures.sums += [((key, *total), [(key, *p) for p in members]) for total, members in part.sums]
        figures.links += [((key, *a), (key, *b)) for a, b in part.links]
        figures.ratios += [((key, *a), (key, *b)) for a, b in part.ratios]
        figures.relations += [block.moved(int(offsets[k]), width) for block in part.relations]
        if k:
            before = parts[keys[k - 1]]
            pairs = np.array(sorted({(index, before.positions[earlier]) for position, index in part.positions.items()
                                     for earlier in [rising(position)]
                                     if earlier is not None and earlier in before.positions}),
                             dtype=np.int64).reshape(-1, 2)
            if len(pairs):  # now - then >= 0, a row per pair
                now = part.forms.take(pairs[:, 0], 1.0, int(offsets[k]))
                then = before.forms.take(pairs[:, 1], -1.0, int(offsets[k - 1]))
                figures.relations.append(Rows.entries(*(np.concatenate(x) for x in zip(now, then)),
                                                      len(pairs), width))
    return figures.close()


def series_before(position: tuple) -> tuple | None:
    """The position of the outflow series (series_figures) whose figure, at the month end before,
    the figure at `position` (of the series, or of the reference date: edition_figures) is at
    least: persons counted in a rule's line up to a date are counted there at every later date
    (exits only accumulate). None: no figure of the series bounds it."""
    match position:
        case ("series", d, line):
            return position
        case ("headline", line, d) if line != "total":
            return ("series", d, line)
        case ("by_municipality", d, "total", line) if line != "total":
            return ("series", d, line)
    return None


def _counts(classes: list[tuple], key: Callable[[tuple], object]) -> dict[object, np.ndarray]:
    """key -> per atom, how many of its (definition, line, durability) triples have that key:
    _count for every key at once."""
    out: dict[object, np.ndarray] = {}
    for atom, triples in enumerate(classes):
        for t in triples:
            k = key(t)
            counts = out.get(k)
            if counts is None:
                counts = out[k] = np.zeros(len(classes))
            counts[atom] += 1.0
    return out


def _count(classes: list[tuple], test: Callable[[tuple], bool]) -> np.ndarray:
    """Per atom: how many of its (definition, line, durability) triples pass `test`."""
    return np.array([sum(1 for t in c if test(t)) for c in classes], dtype="float64")


# --- bands ---------------------------------------------------------------------------------------

def bands_around(part: float, whole: float) -> list[tuple[int, int]]:
    """The bands of the grid (BAND_STEP) that hold 100 part / whole per cent, narrowest first,
    then lowest first; 0-100 % left out."""
    return [(lo, lo + width) for width in range(BAND_STEP, 100, BAND_STEP)
            for lo in range(0, 101 - width, BAND_STEP) if holds((lo, lo + width), part, whole)]


def holds(band: tuple[int, int], part: float, whole: float) -> bool:
    """Whether 100 part / whole per cent lies in the band ([lo, hi), the top band [lo, 100])."""
    lo, hi = band
    return lo * whole <= 100 * part and (100 * part < hi * whole or (hi == 100 and part == whole))


def band_limits(band: tuple[int, int], whole: float) -> tuple[int, int]:
    """The least and the most whole persons the part can be, given its band and the whole."""
    lo, hi = band
    whole = int(whole)
    return -(-lo * whole // 100), whole if hi >= 100 else (hi * whole - 1) // 100


def band_relations(figures: Figures, bands: dict[int, tuple[int, int]]) -> Rows:
    """What published bands tell a reader, as relations r @ atoms >= 0: for ratio k (index into
    figures.ratios) with band (lo, hi) and its whole T shown, least <= part <= most (band_limits),
    written as T part - least whole >= 0 and most whole - T part >= 0."""
    entries = []
    for n, (k, band) in enumerate(sorted(bands.items())):
        part_position, whole_position = figures.ratios[k]
        part, whole = figures.positions[part_position], figures.positions[whole_position]
        total = figures.values[whole]
        least, most = band_limits(band, total)
        # times T (> 0): whole-number coefficients, so the audit's bounds stay exact
        for row, (figure, scale) in ((2 * n, (part, total)), (2 * n, (whole, -least)),
                                     (2 * n + 1, (whole, most)), (2 * n + 1, (part, -total))):
            _, columns, values = figures.forms.take(np.array([figure]), float(scale))
            entries.append((np.full(len(columns), row), columns, values))
    if not entries:
        return Rows.of([], len(figures.atoms))
    return Rows.entries(*(np.concatenate(x) for x in zip(*entries)), 2 * len(bands), len(figures.atoms))


def bandable(figures: Figures, hidden: np.ndarray) -> list[int]:
    """The ratios (indices into figures.ratios) whose part is hidden and whose whole is shown
    and above zero: those a band may be published for."""
    out = []
    for k, (part_position, whole_position) in enumerate(figures.ratios):
        part, whole = figures.positions[part_position], figures.positions[whole_position]
        if hidden[part] and not hidden[whole] and 0 < figures.values[whole] >= figures.values[part]:
            out.append(k)
    return out


def choose_bands(figures: Figures, hidden: np.ndarray, threshold: int, level: float
                 ) -> dict[int, tuple[int, int]]:
    """Per bandable ratio, in order, the narrowest (then lowest) band of the grid (BAND_STEP)
    with which, and the bands chosen before it, the audit still passes; none where no band does.

    - One model: with its whole T shown, a band is least <= part <= most (band_limits), bounds
      on the hidden part's own row of one linear programme (Auditor), set for a trial and reset
      after it; a chosen band's bounds stay. The model never grows; every solve is warm.
    - Witnesses: every solution found is kept (its value of each primary and of each ratio's
      part). A primary is wide enough under a trial when two kept solutions that satisfy every
      bound in force lie the protection level apart; only the others are solved (primaries
      that failed a trial first), and the trial stops at the first that narrows.
    - Monotone: a band inside a failing band fails (not tried); some band of width w passes,
      then one of width w + BAND_STEP holds it and passes. The widths are searched by galloping
      then bisection, each width's bands lowest first: O(log widths) widths per ratio, not every
      band of the grid.
    The choice is the one of trying every band narrowest then lowest first; `protect` audits the
    bands chosen afresh, as rows (band_relations)."""
    auditor = Auditor(figures, threshold)
    auditor.show(hidden)
    unique = sorted(set(auditor._same))
    ratios = bandable(figures, hidden)
    part_of = [figures.positions[figures.ratios[k][0]] for k in ratios]
    part_forms = Rows.of([figures.forms.row(f) for f in part_of], len(figures.atoms))
    primary_atoms = auditor._primary_forms.row_ids()
    # kept solutions, a column each: the primaries' values, the parts' values, and whether it
    # satisfies the bands chosen so far (every solution satisfied those in force when found)
    pool = {"reach": np.zeros((len(auditor.primaries), 64)), "parts": np.zeros((len(ratios), 64)),
            "alive": np.zeros(64, dtype=bool), "n": 0}

    def keep(x: np.ndarray) -> None:
        n = pool["n"]
        if n == len(pool["alive"]):  # grow by doubling
            for name in ("reach", "parts", "alive"):
                pool[name] = np.concatenate([pool[name], np.zeros_like(pool[name])], axis=-1)
        pool["reach"][:, n] = auditor._primary_forms @ x
        pool["parts"][:, n] = part_forms @ x
        pool["alive"][n] = True
        pool["n"] = n + 1

    def wide(p: int, inside: np.ndarray) -> bool:
        values = pool["reach"][p, :pool["n"]][inside[:pool["n"]]]
        return len(values) > 1 and values.max() - values.min() >= level - _TOLERANCE

    keep(figures.atoms["persons"].to_numpy(dtype="float64"))  # the true counts satisfy every band
    bands: dict[int, tuple[int, int]] = {}
    limits: dict[int, tuple[float, float]] = {}  # figure -> bounds of the bands chosen on it
    suspects: list[int] = []                     # primaries that failed a trial, latest first
    for j, k in enumerate(ratios):
        part, whole = part_of[j], figures.positions[figures.ratios[k][1]]
        total = figures.values[whole]
        on_band = np.zeros(len(figures.atoms), dtype=bool)
        on_band[figures.forms.row(part)[0]] = on_band[figures.forms.row(whole)[0]] = True
        touched = np.bincount(primary_atoms, weights=on_band[auditor._primary_forms.indices],
                              minlength=len(auditor.primaries)) > 0
        order = sorted(unique, key=lambda p: not touched[p])  # primaries on the band's atoms fail first
        accepted = limits.get(part, (-np.inf, np.inf))
        failed: list[tuple[int, int]] = []

        def trial(band: tuple[int, int]) -> bool:
            if any(lo <= band[0] and band[1] <= hi for lo, hi in failed):
                return False  # inside a band that fails
            least, most = band_limits(band, total)
            bounds = (max(accepted[0], least), min(accepted[1], most))
            auditor.bound(part, *bounds)
            try:
                for p in dict.fromkeys([*suspects, *order]):
                    parts = pool["parts"][j, :pool["n"]]
                    inside = pool["alive"][:pool["n"]] & (parts >= bounds[0] - 1e-6) & (parts <= bounds[1] + 1e-6)
                    if wide(p, inside):
                        continue
                    points: dict[float, np.ndarray | None] = {}
                    interval = auditor.interval(*auditor.primaries[p], points=points)
                    for x in points.values():
                        if x is not None:
                            keep(x)
                    if interval.width < level - _TOLERANCE:
                        failed.append(band)
                        suspects[:] = [p, *(q for q in suspects if q != p)]
                        return False
                return True
            finally:
                auditor.bound(part, *accepted)

        candidates = bands_around(figures.values[part], total)
        widths = sorted({hi - lo for lo, hi in candidates})
        passing: dict[int, tuple[int, int] | None] = {}

        def lowest(i: int) -> tuple[int, int] | None:
            """The lowest band of widths[i] that passes."""
            if i not in passing:
                passing[i] = next((band for band in candidates
                                   if band[1] - band[0] == widths[i] and trial(band)), None)
            return passing[i]

        below, above, step = -1, None, 1  # widths[below] fails, widths[above] passes
        while above is None and below < len(widths) - 1:
            i = min(below + step, len(widths) - 1)
            if lowest(i) is None:
                below, step = i, 2 * step
            else:
                above = i
        while above is not None and above - below > 1:
            middle = (below + above) // 2
            if lowest(middle) is None:
                below = middle
            else:
                above = middle
        if above is not None:
            bands[k] = band = lowest(above)
            least, most = band_limits(band, total)
            limits[part] = accepted = (max(accepted[0], least), min(accepted[1], most))
            auditor.bound(part, *accepted)
            parts = pool["parts"][j, :pool["n"]]
            pool["alive"][:pool["n"]] &= (parts >= accepted[0] - 1e-6) & (parts <= accepted[1] + 1e-6)
    return bands


# --- audit ---------------------------------------------------------------------------------------

@dataclass
class Interval:
    figure: str           # what the primary is
    persons: int
    lower: float
    upper: float
    certificate: list[int]  # figures whose constraints bound the interval (non-zero duals)

    @property
    def width(self) -> float:
        return self.upper - self.lower


def sensitive(figures: Figures, threshold: int) -> list[tuple[str, Row, int]]:
    """(name, form, persons) of every primary: small figures, small atoms, small atoms summed
    (forms sparse: Row). Kept on the figures for the threshold: each protection builds several
    auditors over the same figures (the search, the bands, the published audit)."""
    key = (threshold, id(figures.forms), id(figures.values), id(figures.atoms))
    kept = figures.__dict__.get("_sensitive")
    if kept is not None and kept[0] == key:
        return kept[1]
    out = _sensitive(figures, threshold)
    figures.__dict__["_sensitive"] = (key, out)
    return out


def _sensitive(figures: Figures, threshold: int) -> list[tuple[str, Row, int]]:
    out = []
    for index in np.flatnonzero((figures.values > 0) & (figures.values < threshold)).tolist():
        out.append((f"figure {index}", figures.forms.row(index), int(figures.values[index])))
    persons = figures.atoms["persons"].to_numpy()
    for i in np.flatnonzero((persons > 0) & (persons < threshold)):
        out.append((f"atom {figures.atoms['municipality'][i]} {figures.atoms['classes'][i]}",
                    (np.array([i], dtype=np.int32), np.ones(1)), int(persons[i])))
    # the atoms of each class set, in order of first appearance (a dict: pandas' groupby over the
    # tuples was most of the time of a kept pattern's certificate check)
    groups: dict[object, list[int]] = {}
    for index, classes in enumerate(figures.atoms["classes"].tolist()):
        groups.setdefault(classes, []).append(index)
    for classes, rows in groups.items():
        if len(rows) < 2:
            continue
        total = int(persons[rows].sum())
        if 0 < total < threshold:
            out.append((f"atoms summed {classes}", (np.asarray(rows, dtype=np.int32), np.ones(len(rows))), total))
    return out


class Auditor:
    """One linear programme over the atoms (>= 0) with a row per figure, kept across audits.

    A shown figure's row is an equation (form = value); a hidden one's is free. What a reader
    knows besides (Figures.relations, and the published `bands`: band_relations) are fixed rows.
    Between audits only the rows that change are touched, and between primaries only the
    objective, so HiGHS
    starts every solve from the last basis (a few simplex iterations, no model set-up).

    With `reuse`, most verdicts during the search need no linear programme at all:
    - wide: every solution and unbounded ray the programmes returned is kept; those that still
      satisfy every shown figure (a product with the forms) are feasible now, and two of them
      whose values of the primary lie the protection level apart (or a ray that raises it)
      prove the primary wide enough;
    - too narrow: every certificate found is kept; while all its figures are shown, its dual
      solution still bounds the primary as tightly as when it was found.
    Undecided primaries get their linear programmes. The published pattern is audited afresh.
    """

    def __init__(self, figures: Figures, threshold: int,
                 bands: dict[int, tuple[int, int]] | None = None, keep_solutions: bool = False) -> None:
        self.figures = figures
        self.primaries = sensitive(figures, threshold)
        self.calls = 0
        self.bands = dict(bands or {})
        n_figures, n_atoms = figures.forms.shape
        self._highs = _highs()
        # presolve (large models only, PRESOLVE_FROM): HiGHS presolves only a solve without a basis,
        # the first; every later one starts from the last basis and skips it
        self._highs.setOptionValue("presolve", "on" if n_figures >= PRESOLVE_FROM else "off")
        self._highs.addCols(n_atoms, np.zeros(n_atoms), np.zeros(n_atoms), np.full(n_atoms, np.inf),
                            0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        self._add_rows(figures.forms, figures.values, figures.values)  # sparse rows: no dense matrix
        # what a reader knows besides: always there, never a figure (no certificate holds them)
        self.know(Rows.stack([*figures.relations, band_relations(figures, bands or {})], n_atoms))
        self._shown = np.ones(n_figures, dtype=bool)
        self._objective = np.zeros(0, dtype=np.int32)  # the columns with a cost now
        self._primary_forms = Rows.of([form for _, form, _ in self.primaries], n_atoms)
        # kept solutions and rays (columns; the first `_count` of each buffer are in use): per
        # figure, whether each satisfies it; per primary, its value (or, for a ray, whether it rises)
        self._fits = np.zeros((n_figures, 64), dtype=bool)
        self._reach = np.zeros((len(self.primaries), 64))
        self._count = {False: 0, True: 0}
        self._ray_fits = np.zeros((n_figures, 64), dtype=bool)
        self._ray_rises = np.zeros((len(self.primaries), 64), dtype=bool)
        self._kept: set[bytes] = set()
        # keep_solutions: the last SEEDS_KEPT solutions found, as vectors (seeds of a two-point audit)
        self.solutions: list[np.ndarray] | None = [] if keep_solutions else None
        self._keep(figures.atoms["persons"].to_numpy(dtype="float64"))  # satisfies every figure
        self._narrow: dict[int, list[Interval]] = {}
        # primaries with the same form (a small cell that is one small atom) share their programmes
        first: dict[bytes, int] = {}
        self._same = [first.setdefault(form[0].tobytes() + form[1].tobytes(), k)
                      for k, (_, form, _) in enumerate(self.primaries)]

    def _add_rows(self, rows: Rows, lower: np.ndarray, upper: np.ndarray) -> None:
        if len(rows):
            self._highs.addRows(len(rows), lower, upper, rows.nnz, rows.indptr[:-1].astype(np.int32),
                                rows.indices.astype(np.int32), rows.data)

    def _keep(self, vector: np.ndarray, ray: bool = False) -> None:
        """Keep a solution (or an unbounded ray: forms @ ray = 0 where it fits) for `_witnessed`."""
        key = np.round(vector, 9).tobytes() + bytes([ray])
        if key in self._kept or (vector < -1e-9).any():
            return
        self._kept.add(key)
        if not ray and self.solutions is not None:
            self.solutions.append(vector)
            del self.solutions[:-SEEDS_KEPT]
        product = self.figures.forms @ vector
        if ray:
            fits = np.abs(product) <= 1e-6 * (1.0 + np.abs(vector).sum())
            value = self._primary_forms @ vector > 1e-6
        else:
            fits = np.abs(product - self.figures.values) <= 1e-6 * (1.0 + np.abs(self.figures.values))
            value = self._primary_forms @ vector
        fit_buffer, value_buffer = ((self._ray_fits, self._ray_rises) if ray else (self._fits, self._reach))
        k = self._count[ray]
        if k == fit_buffer.shape[1]:  # grow by doubling: amortised constant per kept column
            fit_buffer = np.concatenate([fit_buffer, np.zeros_like(fit_buffer)], axis=1)
            value_buffer = np.concatenate([value_buffer, np.zeros_like(value_buffer)], axis=1)
            if ray:
                self._ray_fits, self._ray_rises = fit_buffer, value_buffer
            else:
                self._fits, self._reach = fit_buffer, value_buffer
        fit_buffer[:, k], value_buffer[:, k] = fits, value
        self._count[ray] = k + 1

    def show(self, hidden: np.ndarray) -> None:
        changed = np.flatnonzero(self._shown == hidden).astype(np.int32)
        if len(changed):
            values = self.figures.values[changed]
            free = hidden[changed]
            self._highs.changeRowsBounds(len(changed), changed, np.where(free, -np.inf, values),
                                         np.where(free, np.inf, values))
            self._shown = ~hidden

    def bound(self, figure: int, lower: float, upper: float) -> None:
        """What a reader knows of a hidden figure: lower <= figure <= upper (a band, its whole shown)."""
        self._highs.changeRowsBounds(1, np.array([figure], dtype=np.int32), np.array([lower], dtype="float64"),
                                     np.array([upper], dtype="float64"))

    def know(self, relations: Rows) -> None:
        """Add relations r @ atoms >= 0 (rows) a reader knows, after the figures' rows."""
        self._add_rows(relations, np.zeros(len(relations)), np.full(len(relations), np.inf))

    def interval(self, name: str, form: Row, persons: int, least_known: float | None = None,
                 level: float = np.inf, points: dict | None = None, proof: dict | None = None) -> Interval:
        """The least and the most `form` can be given the shown figures, and what bounds it.

        least_known: a value `form` takes at a feasible point. The most is solved first, and
        when it lies `level` above that value the least is not solved (a verdict: wide enough;
        the interval's lower end is then that value, not the least). points: filled with the
        solution at each end (None where unbounded). proof: filled with what proves each end
        without solving (`certify`): the solution and its dual solution, or the unbounded ray.
        """
        bounds, certificate = {}, set()
        for sign in (-1.0, 1.0):  # the most, then the least it can be
            if sign == 1.0 and least_known is not None and bounds[-1.0] - least_known >= level - _TOLERANCE:
                bounds[1.0] = least_known
                break
            self._objective_of(form, sign)
            self._highs.run()
            self.calls += 1
            status = self._highs.getModelStatus()
            if status in (highspy.HighsModelStatus.kUnbounded,
                          highspy.HighsModelStatus.kUnboundedOrInfeasible):
                bounds[sign] = np.inf  # no shown figure limits it from above
                if points is not None:
                    points[sign] = None
                _, has_ray, ray = self._highs.getPrimalRay()
                if has_ray:
                    self._keep(np.asarray(ray, dtype="float64"), ray=True)
                if proof is not None:
                    proof[sign] = ("ray", np.asarray(ray, dtype="float64")) if has_ray else None
                continue
            if status != highspy.HighsModelStatus.kOptimal:
                raise RuntimeError("small-cell audit: the linear programme failed "
                                   f"({self._highs.modelStatusToString(status)})")
            bounds[sign] = sign * self._highs.getInfo().objective_function_value
            solution = self._highs.getSolution()
            self._keep(np.asarray(solution.col_value, dtype="float64"))
            if points is not None:
                points[sign] = np.asarray(solution.col_value, dtype="float64")
            if proof is not None:
                proof[sign] = ("point", np.asarray(solution.col_value, dtype="float64"),
                               np.asarray(solution.row_dual, dtype="float64"))
            duals = np.asarray(solution.row_dual)[:len(self._shown)]
            certificate |= set(np.flatnonzero((np.abs(duals) > _TOLERANCE) & self._shown).tolist())
        bounds = [bounds[1.0], bounds[-1.0]]
        return Interval(name, persons, bounds[0], bounds[1], sorted(certificate))

    def _objective_of(self, form: Row, sign: float) -> None:
        """Cost sign * form on the atoms: only the columns of the last objective and this one change."""
        columns = np.union1d(self._objective, form[0]).astype(np.int32)
        costs = np.zeros(len(columns))
        costs[np.searchsorted(columns, form[0])] = sign * form[1]
        self._highs.changeColsCost(len(columns), columns, costs)
        self._objective = np.asarray(form[0], dtype=np.int32)

    def _witnessed(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Per primary: proven wide enough by kept solutions and rays that fit every shown figure,
        and the least value it takes at those solutions."""
        points, rays = self._count[False], self._count[True]
        reach = self._reach[:, :points][:, self._fits[self._shown, :points].all(axis=0)]
        least = reach.min(axis=1)
        wide = reach.max(axis=1) - least >= level - _TOLERANCE
        fitting = self._ray_fits[self._shown, :rays].all(axis=0)
        return wide | self._ray_rises[:, :rays][:, fitting].any(axis=1), least

    def audit(self, hidden: np.ndarray, level: float, first_failure: bool = False,
              reuse: bool = False, prove: bool = False, two_point: bool = False,
              seeds: list[np.ndarray] = ()) -> list[Interval]:
        """The interval of every primary over everything shown (see the class doc for `reuse`;
        a primary proven wide by kept solutions gets an unbounded interval: a verdict, no bounds).
        prove: keep what proves each interval in `self.proofs` (`proofs`, `certify`).
        two_point (with prove): a primary is proven wide enough by two points of this audit where
        they can (`_two_point_audit`), its interval then the part of the solved one they prove."""
        self.show(hidden)
        self.proofs: dict[int, tuple[Interval, dict]] = {}
        if prove and two_point and not reuse:
            return self._two_point_audit(hidden, level, first_failure, seeds)
        wide, least = self._witnessed(level) if reuse and len(self.primaries) else (None, None)
        out, done = [], {}
        for k, (name, form, persons) in enumerate(self.primaries):
            if wide is not None and wide[k]:
                out.append(Interval(name, persons, -np.inf, np.inf, []))  # verdict only
                continue
            k = self._same[k]
            interval = done.get(k)
            if interval is None and reuse:
                interval = next((i for i in self._narrow.get(k, ()) if not hidden[i.certificate].any()),
                                None)
            if interval is None:
                proof = {} if prove and not reuse else None
                interval = (self.interval(name, form, persons, least[k], level) if reuse
                            else self.interval(name, form, persons, proof=proof))
                if proof is not None:
                    self.proofs[k] = (interval, proof)
                if reuse and interval.width < level - _TOLERANCE:
                    self._narrow.setdefault(k, []).append(interval)
            done[k] = interval
            out.append(replace(interval, figure=name, persons=persons))
            if first_failure and interval.width < level - _TOLERANCE:
                break
        return out

    def _two_point_audit(self, hidden: np.ndarray, level: float, first_failure: bool,
                         seeds: list[np.ndarray] = ()) -> list[Interval]:
        """audit(prove=True), where each primary whose interval two points found in this audit
        (the atoms' own persons and the solutions of the primaries solved before it; or one point
        and an unbounded ray) prove at least `level` wide is not solved: its interval is the part
        of the solved one those points reach (`_reached`: never wider), its proof the two points.

        The narrowest interval (the About sheet states it) stays the solved one's: at the end,
        while a primary proven by points reaches less than the narrowest solved interval, it is
        solved too; so every interval not solved is at least as wide as the narrowest solved one.
        Every point and ray is checked as `certify` checks it (`_Model`), so a run that proves
        a primary by points and the run after that certifies it agree."""
        model = _Model(self.figures, hidden, self.bands)
        forms = self._primary_forms
        points, rays = [], []  # (vector, its primaries' values), directions

        def add(vector: np.ndarray, ray: bool = False) -> None:
            if ray:
                vector = _direction(vector)
                if model.ray_fits(vector):
                    rays.append(vector)
            else:
                vector = model.truth + (vector - model.truth)  # as `proofs` keeps it and `certify` reads it
                if model.point_fits(vector):
                    points.append((vector, forms @ vector))

        add(model.truth)
        for vector in seeds:
            add(vector)
        exact: dict[int, Interval] = {}
        reached: dict[int, tuple[Interval, dict]] = {}
        for k in dict.fromkeys(self._same):  # each distinct form once, in order
            name, form, persons = self.primaries[k]
            proven = _reached(form, [p for p, _ in points], rays, np.array([v[k] for _, v in points]))
            if proven is not None and proven[0].width >= level:
                reached[k] = proven
                continue
            proof: dict = {}
            exact[k] = self.interval(name, form, persons, proof=proof)
            self.proofs[k] = (exact[k], proof)
            for end in proof.values():
                if end is not None:
                    add(end[1], ray=end[0] == "ray")
            if first_failure and exact[k].width < level - _TOLERANCE:
                break
        else:
            while reached:  # the narrowest interval: a solved one
                narrowest = min((i.width for i in exact.values()), default=np.inf)
                k, (interval, _) = min(reached.items(), key=lambda item: item[1][0].width)
                if interval.width >= narrowest:
                    break
                del reached[k]
                name, form, persons = self.primaries[k]
                proof = {}
                exact[k] = self.interval(name, form, persons, proof=proof)
                self.proofs[k] = (exact[k], proof)
                for end in proof.values():
                    if end is not None:
                        add(end[1], ray=end[0] == "ray")
                for j in reached:  # more points: each reaches as far as before at least
                    reached[j] = _reached(self.primaries[j][1], [p for p, _ in points], rays,
                                          np.array([v[j] for _, v in points]))
        self.proofs.update(reached)
        found = {**exact, **{k: interval for k, (interval, _) in reached.items()}}
        return [replace(found[self._same[k]], figure=name, persons=persons)
                for k, (name, _, persons) in enumerate(self.primaries) if self._same[k] in found]


def audit(figures: Figures, hidden: np.ndarray, threshold: int, protection: float | None = None,
          first_failure: bool = False, bands: dict[int, tuple[int, int]] | None = None
          ) -> list[Interval]:
    """The interval of every primary over everything shown (atoms >= 0) and the published bands
    (Pattern.bands), each by its two linear programmes; see `unprotected`. first_failure: stop at
    the first primary narrower than the protection level."""
    level = threshold if protection is None else protection
    return Auditor(figures, threshold, bands).audit(hidden, level, first_failure)


def unprotected(intervals: list[Interval], level: float) -> list[Interval]:
    return [i for i in intervals if i.width < level - _TOLERANCE]


# --- certificates --------------------------------------------------------------------------------
#
# What the audit's linear programmes found, kept so that a later run checks the intervals instead of
# solving again (`proofs`, `certify`). Each end of an interval is minimised (c = +form for the least,
# -form for the most) over atoms x >= 0 with a row per figure (shown: form @ x = value; hidden: free)
# and per relation (r @ x >= 0). An end is proven by
# - a point x and a dual solution y: x satisfies every row (so c @ x is reached), y is zero on the
#   free rows and >= 0 on the relations, and c - rows^T y >= 0 (so, for every feasible x',
#   c @ x' >= y @ rows @ x' >= sum of y times the shown values: weak duality); the two values agree,
#   so c @ x is the optimum;
# - or a ray r >= 0 that keeps every shown figure (rows @ r = 0 there), every relation (>= 0) and
#   improves c (c @ r < 0), from the atoms' own persons (feasible): the end is unbounded.
# - or, for a whole interval (a joint audit's primary proven without solving: Auditor._two_point_audit),
#   two points x, x' (or a point and a ray that lowers or raises the form): each satisfies every row
#   within a tolerance relative to the row at the data (`_Model.point_fits`: a point's own size is the
#   forger's to choose), so the form takes both values and the interval is at least their distance
#   wide: the interval proven is [form @ x, form @ x'], each end moved inwards by its tolerance,
#   within the solved one. The About sheet states the narrowest interval: certify refuses a file
#   where an interval proven by points is narrower than the narrowest one proven by its ends.
# The checks are products with the rows, within the solver's own tolerances; nothing in the file is
# trusted but the numbers it proves, so a stale or forged certificate fails and the audit is solved.

#: relative tolerance of a certificate's checks (HiGHS's feasibility and optimality tolerances are 1e-7)
_PROOF_TOLERANCE = 1e-6
#: solutions an auditor keeps as vectors when asked, the last found (a joint audit's seeds for its
#: final audit: _audited_together; 64 vectors of the atoms: 25 MB at x100's 50,000)
SEEDS_KEPT = 64


def _sparse_list(vector: np.ndarray) -> list[str]:
    """A vector's non-zero entries as [positions, values], each the base64 of its bytes (int32,
    float64 little-endian): exact, and read back without parsing a number at a time."""
    where = np.flatnonzero(vector)
    return [base64.b64encode(where.astype("<i4").tobytes()).decode(),
            base64.b64encode(vector[where].astype("<f8").tobytes()).decode()]


def _from_sparse_list(stored: list[str]) -> tuple[np.ndarray, np.ndarray]:
    at = np.frombuffer(base64.b64decode(stored[0], validate=True), dtype="<i4").astype(np.int64)
    values = np.frombuffer(base64.b64decode(stored[1], validate=True), dtype="<f8").astype("float64")
    if len(at) != len(values):
        raise ValueError("a certificate's vector has as many positions as values")
    return at, values


def proofs(auditor: Auditor) -> dict:
    """The certificates of the auditor's last audit (run with prove=True), as JSON: each distinct
    point (as its difference from the atoms' persons, a point itself: few entries) and ray once,
    and per primary (by its first equal form) its two ends."""
    truth = auditor.figures.atoms["persons"].to_numpy(dtype="float64")
    pool: dict[str, dict[bytes, int]] = {"points": {}, "rays": {}}
    vectors: dict[str, list] = {"points": [], "rays": []}

    def ref(kind: str, vector: np.ndarray) -> int:
        key = vector.tobytes()
        if key not in pool[kind]:
            pool[kind][key] = len(vectors[kind])
            vectors[kind].append(_sparse_list(vector))
        return pool[kind][key]

    ends = {}
    for k, (interval, proof) in auditor.proofs.items():
        entry = {"lower": _number(interval.lower), "upper": _number(interval.upper)}
        if "low" in proof:  # proven by two points (or a point and a ray): Auditor._two_point_audit
            for name in ("low", "high"):
                kind, vector = proof[name]
                entry[name] = ({"ray": ref("rays", vector)} if kind == "ray"
                               else {"point": ref("points", vector - truth)})
            ends[str(k)] = entry
            continue
        for sign, name in ((1.0, "min"), (-1.0, "max")):
            end = proof.get(sign)
            if end is None:
                entry[name] = None
            elif end[0] == "ray":
                entry[name] = {"ray": ref("rays", end[1])}
            else:
                entry[name] = {"point": ref("points", end[1] - truth), "dual": _sparse_list(end[2])}
        ends[str(k)] = entry
    return {**vectors, "ends": ends}


def _number(value: float) -> float | str:
    return value if np.isfinite(value) else ("inf" if value > 0 else "-inf")


def certify(figures: Figures, threshold: int, hidden: np.ndarray, bands: dict[int, tuple[int, int]],
            body: dict) -> list[Interval] | None:
    """The intervals an audit of `hidden` (with the published bands) gives, proven by the
    certificates `body` (`proofs`) without solving; None when any certificate does not prove its
    end for these figures (then the audit is solved). The same intervals as `Auditor.audit`:
    the bounds are the solver's numbers the certificates prove, the interval's certificate the
    shown figures with a non-zero dual."""
    try:
        return _certify(figures, threshold, hidden, bands, body)
    except (KeyError, TypeError, ValueError, IndexError, binascii.Error):
        return None


def _certify(figures: Figures, threshold: int, hidden: np.ndarray, bands: dict[int, tuple[int, int]],
             body: dict) -> list[Interval] | None:
    n_figures, width = figures.forms.shape
    model = _Model(figures, hidden, bands)
    rows, kind, value = model.rows, model.kind, model.value
    primaries = sensitive(figures, threshold)
    first: dict[bytes, int] = {}
    same = [first.setdefault(form[0].tobytes() + form[1].tobytes(), k) for k, (_, form, _) in enumerate(primaries)]
    if set(body["ends"]) != {str(k) for k in set(same)}:
        return None
    truth = figures.atoms["persons"].to_numpy(dtype="float64")
    points = [truth + change for change in _vectors(body["points"], width, signed=True)]
    rays = [_direction(r) for r in _vectors(body["rays"], width)]
    # every point within the tolerance of the rows' size at the data, not at the point: a dual
    # end's point of huge entries hid a broken figure in its own size, and primal = dual did not
    # stop it (the dual proves a bound the point need not reach: tests/test_certify_review.py)
    if not (all(model.point_fits(x) for x in [*points, truth]) and all(model.ray_fits(r) for r in rays)):
        return None
    out, done, reached = [], {}, set()
    for k, (name, form, persons) in enumerate(primaries):
        j = same[k]
        if j not in done:
            entry = body["ends"][str(j)]
            if "low" in entry:  # two points (or a point and a ray), each checked as a point or ray
                ends = []
                for end in (entry["low"], entry["high"]):
                    ends.append(("ray", rays[int(end["ray"])]) if "ray" in end
                                else ("point", points[int(end["point"])]))
                done[j] = _two_point_interval(primaries[j][1], *ends)
                reached.add(j)
            else:
                done[j] = _end_interval(rows, kind, value, n_figures, primaries[j][1], entry, points, rays)
            if done[j] is None:
                return None
        out.append(replace(done[j], figure=name, persons=persons))
    if reached:  # the narrowest interval is a solved one (as Auditor._two_point_audit leaves it)
        solved = [i.width for j, i in done.items() if j not in reached]
        if min((done[j].width for j in reached)) < min(solved, default=np.inf):
            return None
    return out


def _vectors(stored: list, width: int, signed: bool = False) -> list[np.ndarray]:
    out = []
    for entry in stored:
        columns, values = _from_sparse_list(entry)
        if ((columns < 0) | (columns >= width)).any() or (not signed and (values < -1e-9).any()):
            raise ValueError("a certificate's vector is not a point of the atoms")
        vector = np.zeros(width)
        vector[columns] = values
        out.append(vector)
    return out


def _direction(ray: np.ndarray) -> np.ndarray:
    """A ray as a direction: scaled to a largest entry of 1, entries below the tolerance (the
    solver's noise) dropped, so that its checks, relative to its own entries (`_ray_keeps`), do not
    depend on a scale a forger chooses (scaled down, a ray passed every tolerance)."""
    top = ray.max(initial=0.0)
    return np.where(ray / top < _PROOF_TOLERANCE, 0.0, ray / top) if top > 0 else ray


def _ray_keeps(rows: Rows, kind: np.ndarray, ray: np.ndarray) -> bool:
    """The ray (a direction: `_direction`) keeps every shown figure (= 0) and relation (>= 0),
    within the tolerance relative to the row's magnitude along the ray: a direction has no size of
    its own a forger chooses. (Points are checked against the data: `_Model.point_fits`.)"""
    if not np.isfinite(ray).all() or (ray < -_TOLERANCE).any():  # atoms are finite, never negative
        return False  # (a NaN would make every comparison below false, so pass)
    ids, n = rows.row_ids(), len(rows)
    products = rows.data * ray[rows.indices]
    activity = np.bincount(ids, weights=products, minlength=n)
    slack = _PROOF_TOLERANCE * np.bincount(ids, weights=np.abs(products), minlength=n)
    return not ((kind == 0) & (np.abs(activity) > slack)).any() and not ((kind == 2) & (activity < -slack)).any()


class _Model:
    """The rows an audit of `hidden` (with the published `bands`) is solved over, as `certify`
    checks them: every figure (shown: = value; hidden: free), relation and band (>= 0)."""

    def __init__(self, figures: Figures, hidden: np.ndarray, bands: dict[int, tuple[int, int]]) -> None:
        self.n_figures, width = figures.forms.shape
        self.rows = Rows.stack([figures.forms, *figures.relations, band_relations(figures, bands)], width)
        n = len(self.rows)
        self.kind = np.full(n, 2, dtype=np.int8)  # 0: shown (= value), 1: hidden (free), 2: relation (>= 0)
        self.kind[:self.n_figures] = np.where(hidden, 1, 0)
        self.value = np.zeros(n)
        self.value[:self.n_figures] = np.where(hidden, 0.0, figures.values)
        self.truth = figures.atoms["persons"].to_numpy(dtype="float64")
        self._ids = self.rows.row_ids()
        # each row's size at the atoms' own persons: a point's tolerance (`point_fits`) depends on
        # the data, never on the point (a point of huge entries passed tolerances relative to itself)
        self._size = np.bincount(self._ids, weights=np.abs(self.rows.data * self.truth[self.rows.indices]),
                                 minlength=n)

    def point_fits(self, x: np.ndarray) -> bool:
        """x is a point of the atoms (finite, not negative) that satisfies every row, within the
        solver's tolerance of the row's size at the data (not at x)."""
        if len(x) != len(self.truth) or not np.isfinite(x).all() or (x < -_TOLERANCE).any():
            return False
        activity = np.bincount(self._ids, weights=self.rows.data * x[self.rows.indices], minlength=len(self.rows))
        slack = _PROOF_TOLERANCE + _TOLERANCE * (self._size + np.abs(self.value))
        shown, relation = self.kind == 0, self.kind == 2
        return bool(np.isfinite(activity).all() and not (shown & (np.abs(activity - self.value) > slack)).any()
                    and not (relation & (activity < -slack)).any())

    def ray_fits(self, ray: np.ndarray) -> bool:
        """A ray (`_direction`) keeps every shown figure and relation, as a certificate's ray must."""
        return len(ray) == len(self.truth) and _ray_keeps(self.rows, self.kind, ray)


def _moves(form: Row, ray: np.ndarray) -> float:
    """+1 where the ray raises the form beyond the tolerance, -1 where it lowers it, else 0 (as a
    certificate's ray end is checked: `_end_interval`)."""
    change = float(form[1] @ ray[form[0]])
    least = _PROOF_TOLERANCE * (1.0 + np.abs(ray).sum())
    return 1.0 if change > least else -1.0 if change < -least else 0.0


def _two_point_interval(form: Row, low: tuple[str, np.ndarray], high: tuple[str, np.ndarray]) -> Interval | None:
    """The interval two ends prove for `form`: a point x is reached (form @ x), a ray that lowers
    (low) or raises (high) it from a point makes that end unbounded. Each finite end is moved
    inwards by the tolerance of its value: the interval lies within the solved one. None when an
    end proves nothing (a ray that does not move the form its way, a value that is not finite)."""
    ends = []
    for sign, (kind, vector) in ((-1.0, low), (1.0, high)):
        if kind == "ray":
            if _moves(form, vector) != sign:
                return None
            ends.append(sign * np.inf)
            continue
        reached = float(form[1] @ vector[form[0]])
        if not np.isfinite(reached):
            return None
        ends.append(reached - sign * _PROOF_TOLERANCE * (1.0 + abs(reached)))
    if not ends[1] - ends[0] >= 0:  # (written so that a NaN fails too)
        return None
    return Interval("", 0, ends[0], ends[1], [])


def _reached(form: Row, points: list[np.ndarray], rays: list[np.ndarray], values: np.ndarray
             ) -> tuple[Interval, dict] | None:
    """The widest interval of `form` the points (values: form at each) and rays prove
    (`_two_point_interval`), and its proof; None without a point."""
    if not len(points):
        return None
    low = ("point", points[int(np.argmin(values))])
    high = ("point", points[int(np.argmax(values))])
    for ray in rays:  # the first ray that lowers it, the first that raises it
        move = _moves(form, ray)
        if move < 0 and low[0] == "point":
            low = ("ray", ray)
        elif move > 0 and high[0] == "point":
            high = ("ray", ray)
    interval = _two_point_interval(form, low, high)
    return None if interval is None else (interval, {"low": low, "high": high})


def _end_interval(rows: Rows, kind: np.ndarray, value: np.ndarray, n_figures: int, form: Row, entry: dict,
                  points: list[np.ndarray], rays: list[np.ndarray]) -> Interval | None:
    """The interval of one primary from its two ends' certificates (None: one does not prove)."""
    bounds, certificate = {}, set()
    for sign, name, stored in ((1.0, "min", entry["lower"]), (-1.0, "max", entry["upper"])):
        end, stored = entry[name], float(stored)
        if end is None:
            return None
        if "ray" in end:
            r = rays[int(end["ray"])]
            if not sign * form[1] @ r[form[0]] < -_PROOF_TOLERANCE * (1.0 + np.abs(r).sum()) \
                    or stored != -sign * np.inf:
                return None
            bounds[sign] = stored
            continue
        x = points[int(end["point"])]
        at, y = _from_sparse_list(end["dual"])
        if ((at < 0) | (at >= len(rows))).any():
            return None
        free, relation = kind[at] == 1, kind[at] == 2
        if (free & (np.abs(y) > _TOLERANCE)).any() or (relation & (y < -_TOLERANCE)).any():
            return None  # a free row's dual is zero, a relation's (>= 0) not negative
        y = np.where(free, 0.0, np.where(relation, np.maximum(y, 0.0), y))  # rounding's traces off
        entries_row, columns, products = rows.take(at)
        # c - rows^T y on the atoms the form or a row with a dual touches (elsewhere it is 0)
        touched = np.union1d(form[0], columns)
        cost = np.zeros(len(touched))
        cost[np.searchsorted(touched, form[0])] = sign * form[1]
        local = np.searchsorted(touched, columns)
        reduced = cost.copy()
        np.subtract.at(reduced, local, y[entries_row] * products)
        magnitude = np.abs(cost)
        np.add.at(magnitude, local, np.abs(y[entries_row] * products))
        if (reduced < -_PROOF_TOLERANCE * (1.0 + magnitude)).any():
            return None  # not dual feasible: proves no bound
        primal, dual = float(cost @ x[touched]), float(y @ value[at])
        scale = _PROOF_TOLERANCE * (1.0 + abs(primal))
        if not (abs(primal - dual) <= scale and abs(sign * primal - stored) <= scale):
            return None  # (written so that a NaN fails too)
        bounds[sign] = stored
        certificate |= set(at[(at < n_figures) & (kind[at] == 0) & (np.abs(y) > _TOLERANCE)].tolist())
    return Interval("", 0, bounds[1.0], bounds[-1.0], sorted(certificate))


# --- secondary suppression -----------------------------------------------------------------------

@dataclass
class Pattern:
    """The chosen suppression and how it was found.

    Costs count positions (a figure printed in two places costs 2) over the figures given to
    `protect`: one problem. `optimum` is proven least when it equals `lower_bound`.
    """

    hidden: np.ndarray                  # per figure
    #: "exact": proven least (MILP); "bounded": MILP stopped within GAP (or MAX_ROUNDS) above
    #: its proven lower bound; "heuristic": beyond EXACT_LIMIT, the heuristic alone
    method: str
    optimum: float | None               # the least cost, where proven (method "exact")
    heuristic: float                    # cost of the heuristic's pattern
    lower_bound: float | None           # no protecting pattern costs less (None: MILP not run)
    intervals: list[Interval]
    seconds: float
    lp_solves: int = 0                  # linear programmes the audits solved
    master_solves: int = 0              # master programmes solved
    cached: bool = False                # taken from the cache (and audited afresh)
    #: ratio (index into Figures.ratios) -> band (lo, hi) in per cent, published instead of the
    #: hidden ratio; the intervals are audited with them
    bands: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: the certificates of the intervals (`proofs`): kept with the pattern, they spare a later
    #: run the audit's linear programmes (`certify`)
    proofs: dict | None = None


def protect(figures: Figures, threshold: int = DEFAULT_THRESHOLD, protection: float | None = None
            ) -> Pattern:
    """Primary and least-cost secondary suppression of all figures, audited (see module doc).

    The heuristic runs first (its cost is reported beside the exact programme's, and it is the
    exact programme's first upper bound); the exact programme then runs where the figures are
    at most EXACT_LIMIT, until its pattern is proven least or within GAP of its proven lower
    bound, for at most MAX_ROUNDS rounds (EXACT_SECONDS as a safety net). The cheapest
    protecting pattern found is published, after an audit of its own.
    """
    start = time.perf_counter()
    level = threshold if protection is None else protection
    primary = (figures.values > 0) & (figures.values < threshold)
    cost = figures.cost()
    auditor = Auditor(figures, threshold)
    greedy = _heuristic(auditor, primary, cost, level)
    chosen, bound, masters, method = greedy, None, 0, "heuristic"
    if len(figures.values) <= EXACT_LIMIT:
        chosen, bound, masters = _exact(auditor, primary, cost, level, start=greedy)
        method = "exact" if cost[chosen].sum() <= bound + _TOLERANCE else "bounded"
    bands = choose_bands(figures, chosen, threshold, level)
    final = Auditor(figures, threshold, bands)
    intervals = final.audit(chosen, level, prove=True)  # what is published, afresh
    if unprotected(intervals, level):
        raise RuntimeError("small-cell audit failed: a suppressed cell can be narrowed below "
                           f"the protection level {level}")
    return Pattern(chosen, method, float(cost[chosen].sum()) if method == "exact" else None,
                   float(cost[greedy].sum()), bound, intervals, time.perf_counter() - start,
                   auditor.calls + final.calls, masters, bands=bands, proofs=proofs(final))


def _exact(auditor: Auditor, primary: np.ndarray, cost: np.ndarray, level: float,
           start: np.ndarray) -> tuple[np.ndarray, float, int]:
    """(cheapest protecting pattern found, proven lower bound, master solves) by cut generation.

    The master is one HiGHS model over the figures (hide or show) that keeps its cuts; each cut
    holds for every protecting pattern, so the master's least value is a lower bound. First the
    master is solved as a linear programme while its solution can be separated (cuts from the
    primaries its support leaves narrow), then as a 0-1 programme. Each round also repairs the
    master's pattern greedily into a protecting one (an upper bound; cuts on the way). It stops
    when the best pattern costs at most the bound (the optimum) or GAP above it, after
    MAX_ROUNDS rounds, or after EXACT_SECONDS. `start`: a protecting pattern (the first upper
    bound).
    """
    figures, pairs = auditor.figures, auditor.figures.link_pairs()
    n = len(cost)
    master = _highs()
    master.setOptionValue("mip_rel_gap", 0.0)
    forced = figures.with_links(primary.copy(), pairs)
    master.addCols(n, cost, forced.astype(float), np.ones(n), 0, np.zeros(0, np.int32),
                   np.zeros(0, np.int32), np.zeros(0))
    for a, b in pairs:  # hidden a => hidden b
        master.addRow(-np.inf, 0.0, 2, np.array([a, b], dtype=np.int32), np.array([1.0, -1.0]))
    seen: set[bytes] = set()

    def add_cut(members) -> None:
        members = np.array(sorted(members), dtype=np.int32)
        key = members.tobytes()
        if key not in seen:
            seen.add(key)
            master.addRow(1.0, np.inf, len(members), members, np.ones(len(members)))

    def done() -> bool:
        return cost[best].sum() <= bound + max(GAP * cost[best].sum(), _TOLERANCE)

    for cut in figures.initial_cuts(primary):
        add_cut(cut)
    best, bound, solves, integer = start.copy(), float(cost[forced].sum()), 0, False
    deadline = time.monotonic() + EXACT_SECONDS
    while solves < MAX_ROUNDS and not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        master.setOptionValue("time_limit", remaining)
        master.run()
        solves += 1
        status, info = master.getModelStatus(), master.getInfo()
        if status != highspy.HighsModelStatus.kOptimal:
            if integer and status == highspy.HighsModelStatus.kTimeLimit:
                bound = max(bound, float(np.ceil(info.mip_dual_bound - 1e-6)))
            break
        bound = max(bound, float(np.ceil(info.objective_function_value - 1e-6)))  # costs are whole
        if done():
            break
        x = np.asarray(master.getSolution().col_value)
        cuts = len(seen)
        if not integer:  # separate the relaxation's solution: cuts from what its support shows
            failures = unprotected(auditor.audit(figures.with_links(x > 1e-6, pairs), level, reuse=True),
                                   level)
            for failure in failures:
                add_cut(failure.certificate)
            if len(seen) > cuts:
                continue
        hidden = figures.with_links(x > 0.5, pairs)
        while True:  # repair the master's pattern greedily: an upper bound, and cuts on the way
            failures = unprotected(auditor.audit(hidden, level, reuse=True), level)
            if not failures:
                break
            for failure in failures:
                add_cut(failure.certificate)
            candidates = [f for f in failures[0].certificate if not hidden[f]]
            hidden[min(candidates, key=lambda f: (cost[f], figures.values[f]))] = True
            figures.with_links(hidden, pairs)
        if cost[hidden].sum() < cost[best].sum():
            best = hidden
        if not integer and len(seen) == cuts:  # the relaxation yields nothing new: branch
            integer = True
            master.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                         np.full(n, highspy.HighsVarType.kInteger))
    return best, bound, solves


# --- cache ---------------------------------------------------------------------------------------

#: change whenever `protect` may choose another pattern for the same figures (its rules, limits)
METHOD_VERSION = "issue14.4"


def fingerprint(figures: Figures, threshold: int, level: float) -> str:
    """sha256 of exactly what the pattern and its bands depend on: the figures (forms, values,
    positions, sums, links, relations, ratios), the threshold, the protection level and the
    method (version, limits and the bands' grid)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([METHOD_VERSION, threshold, float(level), GAP, MAX_ROUNDS, EXACT_LIMIT,
                              BAND_STEP]).encode())
    figures.forms.digest(digest)
    digest.update(np.ascontiguousarray(figures.values, dtype="float64").tobytes())
    # the repr of (positions sorted by their repr, sums, links, ratios), each position's repr made
    # once: sorting by key=repr and then printing the sorted list made every one twice
    positions = "[" + ", ".join(sorted(map(repr, figures.positions.items()))) + "]"
    digest.update(f"({positions}, {figures.sums!r}, {figures.links!r}, {figures.ratios!r})".encode())
    figures.known().digest(digest)
    return digest.hexdigest()


def protect_cached(figures: Figures, threshold: int = DEFAULT_THRESHOLD,
                   protection: float | None = None, cache_dir: Path | None = None) -> Pattern:
    """`protect`, with the pattern kept in cache_dir under the fingerprint of its inputs.

    A kept pattern is used only when its file is intact (checksum), names the same fingerprint,
    hides every primary, keeps the links, and passes the audit on the current figures: proven by
    the certificates kept with it (`certify`: no linear programme solved), or, where they do not
    prove it (stale, forged, or a file from before them), solved afresh and kept again with new
    ones; anything else (a changed figure, a corrupt or tampered file) is recomputed and rewritten.
    """
    level = threshold if protection is None else protection
    if cache_dir is None:
        return protect(figures, threshold, protection)
    key = fingerprint(figures, threshold, level)
    path = Path(cache_dir) / f"{key}.json"
    pattern = _cached(path, key, figures, threshold, level)
    if pattern is None:
        pattern = protect(figures, threshold, protection)
        _store(path, key, pattern)
    elif pattern.lp_solves:  # audited by solving (its certificates failed): kept with new ones
        _store(path, key, pattern)
    return pattern


def _store(path: Path, key: str, pattern: Pattern) -> None:
    write_checked(path, {"fingerprint": key, "method_version": METHOD_VERSION,
                          "hidden": np.flatnonzero(pattern.hidden).tolist(), "figures": len(pattern.hidden),
                          "method": pattern.method, "optimum": pattern.optimum, "heuristic": pattern.heuristic,
                          "lower_bound": pattern.lower_bound, "master_solves": pattern.master_solves,
                          "bands": [[k, lo, hi] for k, (lo, hi) in sorted(pattern.bands.items())],
                          "proofs": pattern.proofs})


def _read_checked(path: Path, key: str) -> dict | None:
    """The body write_checked wrote, when the file is intact and names `key`; marked as used
    (its time: `prune` keeps the files used last)."""
    try:
        body = read_checked(path)
    except ValueError:
        return None
    if body["fingerprint"] != key:
        return None
    os.utime(path)
    return body


#: protection files kept (patterns and joint audits, by last use); older ones are removed. A run
#: uses one per month end of each series and a few more (about 250 at x100)
PROTECTION_KEPT = 1000


def prune(cache_dir: Path, keep: int = PROTECTION_KEPT) -> int:
    """Remove all but the `keep` protection files used last (a run marks each file it uses);
    returns how many were removed."""
    try:
        found = [(entry.stat().st_mtime, entry) for entry in Path(cache_dir).iterdir()
                 if entry.suffix == ".json" and entry.is_file()]
    except OSError:
        return 0
    older = [entry for _, entry in sorted(found, key=lambda item: item[0], reverse=True)[keep:]]
    for entry in older:
        entry.unlink(missing_ok=True)
    return len(older)


def _cached(path: Path, key: str, figures: Figures, threshold: int, level: float) -> Pattern | None:
    start = time.perf_counter()
    try:
        body = _read_checked(path, key)
        if body is None or body["figures"] != len(figures.values):
            return None
        hidden = _kept_hidden(body, figures, threshold)
        if hidden is None:
            return None
        bands = {int(k): (int(lo), int(hi)) for k, lo, hi in body["bands"]}
        allowed = set(bandable(figures, hidden))
        for k, (lo, hi) in bands.items():  # each a band of the grid that holds its ratio
            if k not in allowed or (lo, hi) not in bands_around(
                    *(figures.values[figures.positions[p]] for p in figures.ratios[k])):
                return None
        kept = body.get("proofs")
        intervals, calls = certify(figures, threshold, hidden, bands, kept or {}), 0
        if intervals is None:  # no certificate proves the intervals now: solved
            auditor = Auditor(figures, threshold, bands)
            intervals, calls = auditor.audit(hidden, level, prove=True), auditor.calls
            kept = proofs(auditor)
        if unprotected(intervals, level):
            return None
        return Pattern(hidden, str(body["method"]), body["optimum"], float(body["heuristic"]),
                       body["lower_bound"], intervals, time.perf_counter() - start, calls,
                       int(body["master_solves"]), cached=True, bands=bands, proofs=kept)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _kept_hidden(body: dict, figures: Figures, threshold: int, start: np.ndarray | None = None
                 ) -> np.ndarray | None:
    """The hidden flags a kept file names, when they hide every primary (and `start`) and keep
    the links; else None."""
    indices = np.asarray(body["hidden"], dtype=np.int64)
    if ((indices < 0) | (indices >= len(figures.values))).any():
        return None
    hidden = np.zeros(len(figures.values), dtype=bool)
    hidden[indices] = True
    must = (figures.values > 0) & (figures.values < threshold)
    if start is not None:
        must |= start
    if (must & ~hidden).any() or not np.array_equal(figures.with_links(hidden.copy()), hidden):
        return None
    return hidden


def _highs() -> "highspy.Highs":
    """A silent HiGHS instance (the first one of a process prints a banner to file descriptor 1)."""
    with _quiet_stdout():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    return highs


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """HiGHS's MIP solver prints debugging lines straight to file descriptor 1; keep them off it."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _heuristic(auditor: Auditor, primary: np.ndarray, cost: np.ndarray, level: float,
               start: np.ndarray | None = None) -> np.ndarray:
    """Hide the primaries (or `start`), then, while the audit fails, the cheapest figure of the
    failing primary's certificate; then show each secondary again (not those of `start`),
    dearest first, where the audit allows. Every step keeps the figures' links (Figures.links)."""
    figures, pairs = auditor.figures, auditor.figures.link_pairs()
    hidden = figures.with_links((primary if start is None else start | primary).copy(), pairs)
    keep = hidden.copy()
    while True:
        failures = unprotected(auditor.audit(hidden, level, first_failure=True, reuse=True), level)
        if not failures:
            break
        candidates = [f for f in failures[0].certificate if not hidden[f]]
        if not candidates:  # cannot happen: a certificate holds shown figures only
            hidden[:] = True
            break
        hidden[min(candidates, key=lambda f: (cost[f], figures.values[f]))] = True
        figures.with_links(hidden, pairs)
    again = hidden & ~primary if start is None else hidden & ~keep
    for f in sorted(np.flatnonzero(again), key=lambda f: (-cost[f], -figures.values[f])):
        hidden[f] = False
        if figures.with_links(hidden.copy(), pairs)[f] or unprotected(
                auditor.audit(hidden, level, first_failure=True, reuse=True), level):
            hidden[f] = True
    return hidden


@dataclass
class Joint:
    """Figure sets audited together (audit_together): the joined figures, what is hidden in them,
    the bands still published (index into figures.ratios -> band), the intervals of the final
    audit, and how many figures the joint audit hid beyond the parts' own patterns."""

    figures: Figures
    hidden: np.ndarray
    bands: dict[int, tuple[int, int]]
    intervals: list[Interval]
    added: int
    proofs: dict | None = None        # the intervals' certificates (`proofs`)
    cached: bool = False              # kept from a run before, its audit proven by certificates

    def part(self, key: object, part: Figures) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
        """The hidden flags (per figure of `part`) and bands (index into part.ratios) of one part."""
        hidden = np.zeros(len(part.values), dtype=bool)
        for position, index in part.positions.items():
            hidden[index] |= bool(self.hidden[self.figures.positions[(key, *position)]])
        ratios = {ratio: k for k, ratio in enumerate(self.figures.ratios)}
        bands = {k: self.bands[ratios[((key, *a), (key, *b))]] for k, (a, b) in enumerate(part.ratios)
                 if ratios[((key, *a), (key, *b))] in self.bands}
        return hidden, bands


def audit_together(parts: dict[object, Figures], patterns: dict[object, Pattern], threshold: int,
                   protection: float | None = None,
                   rising: Callable[[tuple], tuple | None] = lambda position: None,
                   cache_dir: Path | None = None) -> Joint:
    """The parts' patterns (with their bands) audited together (`joined`: with what a reader
    knows between parts); where that audit fails, the heuristic hides more, starting from the
    parts' patterns (the cheapest figures of each failing certificate, then each shown again
    where the audit allows). A band whose whole the joint audit hides is no longer published
    (a relation less only widens the intervals); the result is audited afresh.

    cache_dir: the result is kept there under the fingerprint of exactly its inputs (the joined
    figures, the parts' hidden figures and bands, threshold and level), with its certificates;
    a kept result is used when it hides at least the parts' figures and every primary, keeps the
    links, and its certificates prove every interval wide enough (`certify`), else it is solved."""
    level = threshold if protection is None else protection
    figures = joined(parts, rising)
    hidden = np.zeros(len(figures.values), dtype=bool)
    for (key, *position), index in figures.positions.items():
        hidden[index] |= bool(patterns[key].hidden[parts[key].positions[tuple(position)]])
    ratios = {ratio: k for k, ratio in enumerate(figures.ratios)}
    bands = {ratios[((key, *a), (key, *b))]: band for key in parts
             for k, band in patterns[key].bands.items() for a, b in [parts[key].ratios[k]]}
    return audit_cached(figures, hidden, bands, threshold, level, cache_dir)


def audit_cached(figures: Figures, hidden: np.ndarray, bands: dict[int, tuple[int, int]], threshold: int,
                 level: float, cache_dir: Path | None = None, fixed: np.ndarray | None = None) -> Joint:
    """Figures published with `hidden` (and `bands`) audited; where the audit fails, more hidden
    by the heuristic, starting from `hidden` (a band whose whole it hides is dropped), and the
    result audited afresh. `fixed`: figures published elsewhere already, which the heuristic takes
    only where nothing else would do, and which it must not hide (RuntimeError if it has to).

    cache_dir: the result is kept there under the fingerprint of exactly its inputs (the figures,
    `hidden`, the bands, `fixed`, threshold and level), with its certificates; a kept result is
    used when it hides at least `hidden` and every primary, no more of `fixed`, keeps the links,
    and its certificates prove every interval wide enough (`certify`), else it is solved."""
    if cache_dir is None:
        return _audited_together(figures, hidden, bands, threshold, level, fixed)
    digest = hashlib.sha256(fingerprint(figures, threshold, level).encode())
    digest.update(np.packbits(hidden).tobytes() + repr(sorted(bands.items())).encode())
    if fixed is not None:
        digest.update(b"fixed" + np.packbits(fixed).tobytes())
    key = digest.hexdigest()
    path = Path(cache_dir) / f"joint-{key}.json"
    joint = _kept_joint(path, key, figures, hidden, bands, threshold, level, fixed)
    if joint is None:
        joint = _audited_together(figures, hidden, bands, threshold, level, fixed)
        write_checked(path, {"fingerprint": key, "hidden": np.flatnonzero(joint.hidden).tolist(),
                              "proofs": joint.proofs})
    return joint


def _audited_together(figures: Figures, hidden: np.ndarray, bands: dict[int, tuple[int, int]],
                      threshold: int, level: float, fixed: np.ndarray | None = None) -> Joint:
    first = Auditor(figures, threshold, bands, keep_solutions=True)
    # proven by two points where they can (a new month's joint audits were all solved, two linear
    # programmes per primary); a failing audit stops at its first narrow primary: the heuristic
    # starts from `hidden` whatever the others give
    intervals = first.audit(hidden, level, first_failure=True, prove=True, two_point=True)
    if not unprotected(intervals, level):
        return Joint(figures, hidden, bands, intervals, 0, proofs(first))
    primary = (figures.values > 0) & (figures.values < threshold)
    cost = figures.cost()
    if fixed is not None:
        cost[fixed] = cost.sum() + 1.0  # a published figure only where nothing else would do
    searched = Auditor(figures, threshold, bands, keep_solutions=True)  # its solutions: the final audit's seeds
    more = _heuristic(searched, primary, cost, level, start=hidden)
    if fixed is not None and (more & fixed & ~hidden).any():
        raise RuntimeError("small-cell audit failed: protecting these figures would hide a figure "
                           "published already")
    kept = set(bandable(figures, more))
    bands = {k: band for k, band in bands.items() if k in kept}
    auditor = Auditor(figures, threshold, bands)
    intervals = auditor.audit(more, level, prove=True, two_point=True,
                              seeds=[*searched.solutions, *first.solutions])
    if unprotected(intervals, level):
        raise RuntimeError("small-cell audit failed: a suppressed cell can be narrowed below "
                           f"the protection level {level}")
    return Joint(figures, more, bands, intervals, int((more & ~hidden).sum()), proofs(auditor))


def _kept_joint(path: Path, key: str, figures: Figures, start: np.ndarray, bands: dict[int, tuple[int, int]],
                threshold: int, level: float, fixed: np.ndarray | None = None) -> Joint | None:
    """The joint audit kept at path, checked (see audit_cached); None: solve it."""
    try:
        body = _read_checked(path, key)
        hidden = None if body is None else _kept_hidden(body, figures, threshold, start)
        if hidden is None or (fixed is not None and (hidden & fixed & ~start).any()):
            return None
        if not np.array_equal(hidden, start):  # more hidden: the bands whose whole is still shown
            kept = set(bandable(figures, hidden))
            bands = {k: band for k, band in bands.items() if k in kept}
        intervals = certify(figures, threshold, hidden, bands, body["proofs"] or {})
        if intervals is None or unprotected(intervals, level):
            return None
        return Joint(figures, hidden, bands, intervals, int((hidden & ~start).sum()), body["proofs"], cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None
