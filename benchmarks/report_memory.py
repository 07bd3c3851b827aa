"""Peak memory of the monthly report's two halves on a published database: gather, then protection.

    python -m benchmarks.report_memory DATABASE REFERENCE_DATE [--definitions programme ...]

Prints the process's peak resident memory after importing, after `gather` (the figures read from
DuckDB) and after `public_edition` (small-cell protection and its audit), with the seconds of each.
A run with nothing new does little else, so its peak is the report's (docs/performance.md, x100).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report_memory", description=__doc__.splitlines()[0])
    parser.add_argument("database", type=Path)
    parser.add_argument("reference_date", type=date.fromisoformat)
    parser.add_argument("--definitions", nargs="+", default=["programme", "evaluation-2021", "evaluation-2022"])
    args = parser.parse_args(argv)
    from transforms import monthly_report

    print(f"imported: peak {peak_mb():.0f} MB")
    started = time.perf_counter()
    data = monthly_report.gather(args.database, args.reference_date, args.definitions)
    print(f"gather: {time.perf_counter() - started:.2f} s, peak {peak_mb():.0f} MB")
    started = time.perf_counter()
    monthly_report.public_edition(data, monthly_report.DEFAULT_THRESHOLD)
    print(f"public_edition: {time.perf_counter() - started:.2f} s, peak {peak_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
