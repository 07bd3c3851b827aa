"""The researcher's questions the benchmark times, and a cold probe for one of them.

    python -m benchmarks.queries DATABASE NAME REF_DATE KNOWN_AT FROM_DATE

prints the milliseconds to open a new read-only connection and answer NAME once, measured inside
a new process (the interpreter's start-up and imports excluded: see `outflow_cli_s` for those).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

QUERIES = ("outflow", "occupancy", "reconcile", "monthly_series")


def query(name: str, ref_date: date, known_at: date, from_date: date) -> Callable[[duckdb.DuckDBPyConnection], pd.DataFrame]:
    """The plain function the command line runs for a question, bound to its arguments."""
    from transforms.queries import measure, outflow
    from transforms.reconcile import bridge, series

    if name == "outflow":
        return lambda con: outflow(con, ref_date, "programme")
    if name == "occupancy":
        return lambda con: measure(con, "occupancy", ref_date)
    if name == "reconcile":
        return lambda con: bridge(con, ref_date, "programme", "evaluation-2021", known_at, None)
    if name == "monthly_series":
        return lambda con: series(con, from_date, ref_date, "programme")
    raise ValueError(f"unknown query {name!r}; known: {QUERIES}")


def warm_ms(database: Path, name: str, ref_date: date, known_at: date, from_date: date,
            repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` answers on one open connection (after one warm-up)."""
    run = query(name, ref_date, known_at, from_date)
    con = duckdb.connect(str(database), read_only=True)
    try:
        run(con)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            run(con)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    from benchmarks.arguments import existing_file, iso_date

    parser = argparse.ArgumentParser(prog="python -m benchmarks.queries", description=__doc__.splitlines()[0])
    parser.add_argument("database", type=existing_file)
    parser.add_argument("name", choices=QUERIES)
    for name in ("ref_date", "known_at", "from_date"):
        parser.add_argument(name, type=iso_date)
    args = parser.parse_args(argv)
    run = query(args.name, args.ref_date, args.known_at, args.from_date)
    started = time.perf_counter()
    try:
        con = duckdb.connect(str(args.database), read_only=True)
    except duckdb.Error as exc:
        parser.error(f"{args.database} is not a DuckDB database ({exc})")
    rows = len(run(con))
    elapsed = (time.perf_counter() - started) * 1000
    con.close()
    print(f"{elapsed:.3f} {rows}")


if __name__ == "__main__":
    main()
