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
  `audit` computes that interval for every primary (scipy.optimize.linprog, HiGHS).
- **Secondary suppression** hides the figures that cost least (positions hidden; persons break
  ties) such that every primary is protected. Exact: a 0-1 programme (scipy.optimize.milp, HiGHS)
  over the figures, with a cut from each failed audit: the figures whose constraints bound the
  interval (non-zero duals of the audit's linear programmes) are a certificate that stays valid
  while they are all shown, so at least one of them must be hidden. When the audit passes, the
  master's optimum is a protecting pattern of least cost: the optimum. Heuristic (beyond
  EXACT_LIMIT figures, and always, to report beside the optimum): hide primaries, then, while the
  audit fails, hide the cheapest figure of the failing primary's certificate; then try to show
  each secondary again, dearest first.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

DEFAULT_THRESHOLD = 5
#: figures beyond which the exact programme is not tried (the heuristic protects alone)
EXACT_LIMIT = 3000
#: rounds of cuts, and seconds, the exact programme may take before the heuristic's pattern is used
MAX_ROUNDS = 200
EXACT_SECONDS = 180.0
_TOLERANCE = 1e-7


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


# --- figures -------------------------------------------------------------------------------------

@dataclass
class Figures:
    """The published figures of an edition as linear forms over the atoms."""

    atoms: pd.DataFrame
    forms: np.ndarray                       # figure x atom coefficients
    values: np.ndarray                      # persons per figure (forms @ atom persons)
    positions: dict[tuple, int] = field(default_factory=dict)   # (sheet, ...) -> figure
    #: published sums: (total, parts) by position; a primary part needs another member hidden
    sums: list[tuple[tuple, list[tuple]]] = field(default_factory=list)

    def add(self, position: tuple, coefficients: np.ndarray) -> None:
        key = coefficients.tobytes()
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self._rows)
            self._rows.append(coefficients)
        self.positions[position] = index

    def __post_init__(self) -> None:
        self._index: dict[bytes, int] = {}
        self._rows: list[np.ndarray] = []

    def close(self) -> "Figures":
        n_atoms = len(self.atoms)
        self.forms = np.array(self._rows, dtype="float64").reshape(len(self._rows), n_atoms)
        self.values = self.forms @ self.atoms["persons"].to_numpy(dtype="float64")
        return self

    def cost(self) -> np.ndarray:
        """Positions each figure hides (the loss the optimisation minimises)."""
        return np.bincount(list(self.positions.values()), minlength=len(self.values)).astype("float64")

    def initial_cuts(self, primary: np.ndarray) -> list[np.ndarray]:
        """In every published sum with a primary member, another member must be hidden too."""
        cuts = []
        for total, parts in self.sums:
            members = {self.positions[total], *(self.positions[p] for p in parts)}
            for member in members:
                if primary[member]:
                    cut = np.zeros(len(self.values))
                    cut[sorted(members - {member})] = 1
                    cuts.append(cut)
        return cuts


def edition_figures(atom_frame: pd.DataFrame, definitions: list[str], lines: list[str],
                    municipalities: list[str]) -> Figures:
    """Every figure of the public edition at the reference date, at each of its positions.

    ("by_municipality", definition, municipality | "total", line | "total");
    ("headline", line | "total", definition); ("durable_share", definition, municipality,
    durable | semi_durable | non_durable | total).
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
    classes = summed["classes"].tolist()
    for d in definitions:
        for line in lines:
            figures.add(("series", d, line), _count(classes, lambda t, d=d, line=line: t[0] == d and t[1] == line))
    return figures.close()


def _count(classes: list[tuple], test: Callable[[tuple], bool]) -> np.ndarray:
    """Per atom: how many of its (definition, line, durability) triples pass `test`."""
    return np.array([sum(1 for t in c if test(t)) for c in classes], dtype="float64")


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


def sensitive(figures: Figures, threshold: int) -> list[tuple[str, np.ndarray, int]]:
    """(name, form, persons) of every primary: small figures, small atoms, small atoms summed."""
    out = []
    for index, value in enumerate(figures.values):
        if 0 < value < threshold:
            out.append((f"figure {index}", figures.forms[index], int(value)))
    persons = figures.atoms["persons"].to_numpy()
    for i, value in enumerate(persons):
        if 0 < value < threshold:
            unit = np.zeros(len(persons))
            unit[i] = 1
            out.append((f"atom {figures.atoms['municipality'][i]} {figures.atoms['classes'][i]}", unit,
                        int(value)))
    for classes, rows in figures.atoms.groupby("classes", sort=False).indices.items():
        total = int(persons[rows].sum())
        if len(rows) > 1 and 0 < total < threshold:
            form = np.zeros(len(persons))
            form[rows] = 1
            out.append((f"atoms summed {classes}", form, total))
    return out


def audit(figures: Figures, hidden: np.ndarray, threshold: int, protection: float | None = None,
          first_failure: bool = False, memo: dict | None = None) -> list[Interval]:
    """The interval of every primary over everything shown (atoms >= 0); see `unprotected`.

    first_failure: stop at the first primary narrower than the protection level.
    memo: {primary: (hidden, interval)} from earlier audits of the same figures, reused where it
    decides the verdict without a linear programme: a primary wide enough stays so while no
    hidden figure is shown again (hiding only widens intervals); one too narrow stays so while
    every figure of its certificate is shown (the dual solutions remain valid bounds).
    """
    level = threshold if protection is None else protection
    shown = np.flatnonzero(~hidden)
    a_eq, b_eq = figures.forms[shown], figures.values[shown]
    out = []
    for name, form, persons in sensitive(figures, threshold):
        earlier = memo.get(name) if memo is not None else None
        if earlier is not None:
            before, interval = earlier
            wide = interval.width >= level - _TOLERANCE
            if (wide and not (before & ~hidden).any()) or (
                    not wide and not hidden[interval.certificate].any()):
                out.append(interval)
                if first_failure and not wide:
                    break
                continue
        interval = _interval(name, form, persons, shown, a_eq, b_eq)
        if memo is not None:
            memo[name] = (hidden.copy(), interval)
        out.append(interval)
        if first_failure and interval.width < level - _TOLERANCE:
            break
    return out


def _interval(name: str, form: np.ndarray, persons: int, shown: np.ndarray, a_eq: np.ndarray,
              b_eq: np.ndarray) -> Interval:
    """The least and the most `form` can be given the shown figures, and what bounds it."""
    bounds, certificate = [], set()
    for sign in (1.0, -1.0):  # the least, then the most it can be
        res = linprog(sign * form, A_eq=a_eq if len(shown) else None,
                      b_eq=b_eq if len(shown) else None, bounds=(0, None), method="highs")
        if res.status == 3:  # unbounded above: no shown figure limits it
            bounds.append(np.inf)
            continue
        if res.status != 0:
            raise RuntimeError(f"small-cell audit: the linear programme failed ({res.message})")
        bounds.append(sign * res.fun)
        if len(shown):
            binding = np.flatnonzero(np.abs(res.eqlin.marginals) > _TOLERANCE)
            certificate |= {int(shown[i]) for i in binding}
    return Interval(name, persons, bounds[0], bounds[1], sorted(certificate))


def unprotected(intervals: list[Interval], level: float) -> list[Interval]:
    return [i for i in intervals if i.width < level - _TOLERANCE]


# --- secondary suppression -----------------------------------------------------------------------

@dataclass
class Pattern:
    """The chosen suppression and how it was found."""

    hidden: np.ndarray                  # per figure
    method: str                         # "exact" (MILP) or "heuristic"
    optimum: float | None               # least cost found by the exact programme (None: not run)
    heuristic: float | None             # cost of the heuristic's pattern (None: not run)
    lower_bound: float                  # the master's value at its last round
    intervals: list[Interval]
    seconds: float


def protect(figures: Figures, threshold: int = DEFAULT_THRESHOLD, protection: float | None = None,
            compare: bool = True) -> Pattern:
    """Primary and least-cost secondary suppression of all figures, audited (see module doc).

    compare: also run the heuristic when the exact programme succeeds, to report its cost beside
    the optimum (without it, the heuristic runs only where the exact programme cannot).
    """
    start = time.perf_counter()
    level = threshold if protection is None else protection
    primary = (figures.values > 0) & (figures.values < threshold)
    cost = figures.cost()
    exact, optimum, bound = None, None, 0.0
    if len(figures.values) <= EXACT_LIMIT:
        exact, bound = _exact(figures, primary, cost, threshold, level)
        optimum = float(cost[exact].sum()) if exact is not None else None
    greedy = _heuristic(figures, primary, cost, threshold, level) if compare or exact is None else None
    chosen, method = (exact, "exact") if exact is not None else (greedy, "heuristic")
    intervals = audit(figures, chosen, threshold, level)
    if unprotected(intervals, level):
        raise RuntimeError("small-cell audit failed: a suppressed cell can be narrowed below "
                           f"the protection level {level}")
    return Pattern(chosen, method, optimum, float(cost[greedy].sum()) if greedy is not None else None,
                   bound, intervals, time.perf_counter() - start)


def _exact(figures: Figures, primary: np.ndarray, cost: np.ndarray, threshold: int, level: float
           ) -> tuple[np.ndarray | None, float]:
    """The least-cost protecting pattern by cut generation, or None after MAX_ROUNDS rounds or
    EXACT_SECONDS (with the master's last value: a lower bound of the optimum).

    Each round solves the master, then repairs its pattern greedily into a protecting one; every
    failed audit on the way adds a cut (each cut holds for every pattern). The best repaired
    pattern is the optimum as soon as it costs no more than the master's value (a lower bound).
    """
    cuts: dict[bytes, np.ndarray] = {}
    memo: dict = {}
    for cut in figures.initial_cuts(primary):
        cuts[cut.tobytes()] = cut
    best, bound, deadline = None, 0.0, time.monotonic() + EXACT_SECONDS
    for _ in range(MAX_ROUNDS):
        if time.monotonic() > deadline:
            break
        matrix = np.array(list(cuts.values()))
        constraints = [LinearConstraint(matrix, lb=1, ub=np.inf)] if len(matrix) else []
        with _quiet_stdout():
            res = milp(cost, integrality=np.ones(len(cost)), bounds=Bounds(primary.astype(float), 1),
                       constraints=constraints)
        if res.status != 0:
            return None, bound
        bound = float(res.fun)
        if best is not None and cost[best].sum() <= bound + _TOLERANCE:
            return best, bound
        hidden = res.x > 0.5
        while True:
            failures = unprotected(audit(figures, hidden, threshold, level, memo=memo), level)
            if not failures:
                break
            for failure in failures:
                cut = np.zeros(len(cost))
                cut[failure.certificate] = 1
                cuts[cut.tobytes()] = cut
            candidates = [f for f in failures[0].certificate if not hidden[f]]
            hidden[min(candidates, key=lambda f: (cost[f], figures.values[f]))] = True
        if best is None or cost[hidden].sum() < cost[best].sum():
            best = hidden
        if cost[best].sum() <= bound + _TOLERANCE:
            return best, bound
    return None, bound


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


def _heuristic(figures: Figures, primary: np.ndarray, cost: np.ndarray, threshold: int, level: float
               ) -> np.ndarray:
    hidden, memo = primary.copy(), {}
    while True:
        failures = unprotected(audit(figures, hidden, threshold, level, first_failure=True, memo=memo),
                               level)
        if not failures:
            break
        candidates = [f for f in failures[0].certificate if not hidden[f]]
        if not candidates:  # cannot happen: a certificate holds shown figures only
            hidden[:] = True
            break
        hidden[min(candidates, key=lambda f: (cost[f], figures.values[f]))] = True
    for f in sorted(np.flatnonzero(hidden & ~primary), key=lambda f: (-cost[f], -figures.values[f])):
        hidden[f] = False
        if unprotected(audit(figures, hidden, threshold, level, first_failure=True, memo=memo), level):
            hidden[f] = True
    return hidden
