"""Peak memory of the monthly report's two halves on a published database: gather, then protection.

    python -m benchmarks.report_memory DATABASE REFERENCE_DATE [--definitions programme ...]
    python -m benchmarks.report_memory --synthetic MUNICIPALITIES MONTHS

Prints the process's peak resident memory after importing, after `gather` (the figures read from
DuckDB) and after `public_edition` (small-cell protection and its audit), with the seconds of each.
A run with nothing new does little else, so its peak is the report's (docs/performance.md, x100).

--synthetic builds the report's data without a network: the figure sets of
benchmarks/protection.py (MUNICIPALITIES municipalities x 8 lines x 3 counting rules, two class
sets per municipality where the rules differ) at the reference date 2030-01-01 and at each of
MONTHS month ends before it (cumulative, growing to the reference date's), and an occupancy series
per municipality consistent with them (the inflow at least who left, less at most the occupancy who
came back), then times `public_edition` on it ("gather" is then the building). Its shape
(25 x 120) is the national edition's protection problem, built in seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.measure import peak_rss_mb


def synthetic(municipalities: int, months: int, seed: int = 13):
    """monthly_report.ReportData of a synthetic national edition at 2030-01-01 (see module doc)."""
    from benchmarks.protection import RULES, synthetic_atoms
    from transforms import monthly_report

    reference = date(2030, 1, 1)
    final = synthetic_atoms(municipalities, seed)
    month_ends = pd.date_range(end=pd.Timestamp(reference) - pd.Timedelta(days=1), periods=months, freq="ME")
    # cumulative: each month end a share of the reference date's persons, growing to just below it
    per_month = pd.concat([final.assign(month_end=month_end, persons=lambda f, k=k: np.floor(
        f["persons"] * (k + 1) / (months + 1)).astype("int64")) for k, month_end in enumerate(month_ends)],
        ignore_index=True).query("persons > 0")

    def per_line(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        rows = frame.explode("classes", ignore_index=True)
        rows[["definition", "line", "durability"]] = pd.DataFrame(rows["classes"].tolist(), index=rows.index)
        return rows.groupby([*keys, "definition", "line", "durability"], as_index=False)["persons"].sum()

    by_municipality = per_line(final.assign(classes=final["classes"].map(list)), ["municipality"])
    outflow = per_line(per_month.assign(classes=per_month["classes"].map(list)), ["month_end", "municipality"])
    rng = np.random.default_rng(seed)
    occupancy = (per_month.groupby(["month_end", "municipality"], as_index=False)["persons"].sum()
                 .rename(columns={"persons": "left"}))
    # a steady occupancy per municipality; the inflow (cumulative, never falling) is who is in plus
    # who left, less some who left and came back (in both; at most the occupancy): so what a reader
    # knows between the series and the outflow holds (public_edition.occupancy_relations), as in
    # every published edition, not tightly
    occupancy["occupancy"] = occupancy["municipality"].map(
        dict(zip(sorted(set(final["municipality"])), rng.integers(0, 40, municipalities))))
    returned = np.minimum(occupancy["occupancy"], occupancy["left"] // 5)
    occupancy["inflow"] = occupancy["occupancy"] + occupancy["left"] - returned
    empty = pd.DataFrame()
    return monthly_report.ReportData(
        reference_date=reference, previous_date=monthly_report.month_end_before(reference),
        definitions=list(RULES), run={}, headline=empty,
        by_municipality=by_municipality[["definition", "municipality", "line", "durability", "persons"]],
        outflow_series=outflow[["month_end", "definition", "municipality", "line", "persons"]],
        occupancy_series=occupancy[["month_end", "municipality", "occupancy", "inflow"]],
        durable_share=empty, changes=empty, bridge=empty, deliveries=empty, quality=empty, quarantine=empty,
        atoms=final, series_atoms=per_month.groupby(["month_end", "classes"], sort=False, as_index=False)
        ["persons"].sum()[["month_end", "classes", "persons"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report_memory", description=__doc__.splitlines()[0])
    parser.add_argument("database", type=Path, nargs="?")
    parser.add_argument("reference_date", type=date.fromisoformat, nargs="?")
    parser.add_argument("--definitions", nargs="+", default=["programme", "evaluation-2021", "evaluation-2022"])
    parser.add_argument("--synthetic", type=int, nargs=2, metavar=("MUNICIPALITIES", "MONTHS"))
    args = parser.parse_args(argv)
    if args.synthetic is None and (args.database is None or args.reference_date is None):
        parser.error("give DATABASE and REFERENCE_DATE, or --synthetic MUNICIPALITIES MONTHS")
    from transforms import monthly_report, public_edition

    print(f"imported: peak {peak_rss_mb():.0f} MB")
    started = time.perf_counter()
    data = (synthetic(*args.synthetic) if args.synthetic
            else monthly_report.gather(args.database, args.reference_date, args.definitions))
    print(f"gather: {time.perf_counter() - started:.2f} s, peak {peak_rss_mb():.0f} MB")
    started = time.perf_counter()
    public_edition.public_edition(data, monthly_report.DEFAULT_THRESHOLD)
    print(f"public_edition: {time.perf_counter() - started:.2f} s, peak {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
