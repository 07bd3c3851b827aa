"""Small-cell protection's cost: the demo's public edition and synthetic national figure sets.

    python -m benchmarks.protection [--database data/curated/lvv.duckdb] [--months 48 120]
        [--municipalities 25] [--repeat 3] [--json PATH]

- demo: `public_edition` of the report gathered from DATABASE at 2020-11-01 (run `make demo`
  first), timed whole, with the reference date's problem (protect and its audit) apart;
- national: a synthetic figure set of MUNICIPALITIES municipalities x 8 lines x 3 counting rules
  (sizes from 1 to ~60 persons a cell, two class sets per municipality where the rules differ),
  protected whole, and its public series over each of MONTHS months (one problem a month end,
  then all month ends and the edition, the series' final part, audited together with the
  cumulative relation, as public_edition does; hidden_cost there: the cells the joint audit added).

Prints, per problem: seconds (median of REPEAT, CPU seconds of this process beside them),
figures, primaries, master solves, linear programmes, the chosen method, the exact optimum (or
the proven lower bound) and the heuristic's cost. No figure here is asserted: see
tests/test_suppression.py for the bounds the issue asks for.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from transforms import suppression

RULES = ["programme", "evaluation-2021", "evaluation-2022"]
LINES = ["legalised", "returned", "onward_migration", "repeat_application", "postponed_departure",
         "departed_unknown", "stay_terminated", "other_non_durable"]
DURABILITY = {"legalised": "durable", "returned": "durable", "onward_migration": "durable",
              "repeat_application": "semi_durable", "postponed_departure": "semi_durable",
              "departed_unknown": "non_durable", "stay_terminated": "non_durable",
              "other_non_durable": "non_durable"}


def _agree(line: str) -> tuple:
    return tuple(sorted((rule, line, DURABILITY[line]) for rule in RULES))


#: forced departure after detention: returned under the programme, not under the evaluations
DIFFER = [tuple(sorted([("programme", "returned", "durable"),
                        ("evaluation-2021", "other_non_durable", "non_durable"),
                        ("evaluation-2022", "other_non_durable", "non_durable")])),
          tuple(sorted([("programme", "returned", "durable"), ("evaluation-2021", "returned", "durable"),
                        ("evaluation-2022", "other_non_durable", "non_durable")]))]


def synthetic_atoms(municipalities: int, seed: int = 14, scale: float = 1.0) -> pd.DataFrame:
    """Atoms of a national edition: big and small municipalities, small cells in each."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(municipalities):
        size = 60.0 * scale * (0.85 ** m)  # from the largest city down to small municipalities
        for classes in [_agree(line) for line in LINES] + DIFFER:
            persons = int(rng.poisson(size * rng.uniform(0.05, 1.0)))
            if persons:
                rows.append({"municipality": f"m{m:02d}", "classes": classes, "persons": persons})
    return pd.DataFrame(rows, columns=["municipality", "classes", "persons"])


def synthetic_series(municipalities: int, months: int, seed: int = 14) -> list[pd.DataFrame]:
    """The atoms at each month end: cumulative, growing to the national edition's."""
    final = synthetic_atoms(municipalities, seed)
    return [final.assign(persons=lambda f, k=k: np.floor(f["persons"] * (k + 1) / months).astype("int64"))
            .query("persons > 0") for k in range(months)]


def _time(function, repeat: int) -> tuple[float, float, object]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def _row(name: str, figures: suppression.Figures, pattern: suppression.Pattern, wall: float,
         cpu: float, threshold: int) -> dict:
    return {"problem": name, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
            "figures": len(figures.values), "atoms": len(figures.atoms),
            "primaries": len(suppression.sensitive(figures, threshold)),
            "master_solves": pattern.master_solves, "lp_solves": pattern.lp_solves,
            "method": pattern.method, "optimum": pattern.optimum, "lower_bound": pattern.lower_bound,
            "heuristic": pattern.heuristic, "hidden_cost": float(figures.cost()[pattern.hidden].sum())}


def demo(database: Path, repeat: int, threshold: int) -> list[dict]:
    from transforms import monthly_report, public_edition

    data = monthly_report.gather(database, date(2020, 11, 1), RULES)
    municipalities = sorted(set(data.atoms["municipality"]) | set(data.by_municipality["municipality"]))
    figures = suppression.edition_figures(data.atoms, data.definitions, LINES, municipalities)
    wall, cpu, pattern = _time(lambda: suppression.protect(figures, threshold), repeat)
    rows = [_row("demo edition 2020-11-01", figures, pattern, wall, cpu, threshold)]
    wall, cpu, _ = _time(lambda: public_edition.public_edition(data, threshold), repeat)
    rows.append({"problem": "demo public_edition (all problems)", "seconds": round(wall, 3),
                 "cpu_seconds": round(cpu, 3)})
    return rows


def national(municipalities: int, months: list[int], repeat: int, threshold: int) -> list[dict]:
    figures = suppression.edition_figures(synthetic_atoms(municipalities), RULES, LINES,
                                          [f"m{m:02d}" for m in range(municipalities)])
    wall, cpu, pattern = _time(lambda: suppression.protect(figures, threshold), repeat)
    rows = [_row(f"national edition ({municipalities} municipalities)", figures, pattern, wall, cpu,
                 threshold)]
    for n in months:
        parts = {k: suppression.series_figures(a, RULES, LINES)
                 for k, a in enumerate(synthetic_series(municipalities, n))}
        wall, cpu, patterns = _time(lambda: {k: suppression.protect(f, threshold) for k, f in parts.items()}, 1)
        rows.append({"problem": f"national series, {n} months, each", "seconds": round(wall, 3),
                     "cpu_seconds": round(cpu, 3), "figures": sum(len(f.values) for f in parts.values()),
                     "master_solves": sum(p.master_solves for p in patterns.values()),
                     "lp_solves": sum(p.lp_solves for p in patterns.values()),
                     "method": ",".join(sorted({p.method for p in patterns.values()})),
                     "hidden_cost": sum(float(parts[k].cost()[p.hidden].sum()) for k, p in patterns.items())})
        # as public_edition does: the reference date's edition is the series' final part
        together, chosen = {**parts, "reference date": figures}, {**patterns, "reference date": pattern}
        wall, cpu, joint = _time(lambda: suppression.audit_together(together, chosen, threshold,
                                                                    rising=suppression.series_before), 1)
        rows.append({"problem": f"national series, {n} months, and the edition, audited together",
                     "seconds": round(wall, 3),
                     "cpu_seconds": round(cpu, 3), "figures": len(joint.figures.values),
                     "primaries": len(joint.intervals), "hidden_cost": joint.added})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", type=Path, default=Path("data/curated/lvv.duckdb"))
    parser.add_argument("--municipalities", type=int, default=25)
    parser.add_argument("--months", type=int, nargs="*", default=[48, 120])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=suppression.DEFAULT_THRESHOLD)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = demo(args.database, args.repeat, args.threshold) if args.database.exists() else []
    rows += national(args.municipalities, args.months, args.repeat, args.threshold)
    keys = ["problem", "seconds", "cpu_seconds", "figures", "primaries", "master_solves", "lp_solves",
            "method", "optimum", "lower_bound", "heuristic", "hidden_cost"]
    print(pd.DataFrame(rows).reindex(columns=keys).to_string(index=False))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
