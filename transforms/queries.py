"""Questions researchers ask of the publication, answered through the DuckDB macros.

Plain functions over a read-only connection; the command line and the flow's artifacts use them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from schemas.taxonomy import counting_rules, taxonomy

if TYPE_CHECKING:  # the frames come from DuckDB's .df(): `lvv outflow` fetches rows and never imports pandas
    import pandas as pd


class QueryError(RuntimeError):
    """A question that cannot be answered as asked; the message says why and what to do."""


def connect(database: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the publication, or a QueryError saying how to make one."""
    if not database.exists():
        raise QueryError(f"no publication at {database}: run `lvv demo` or `lvv run` first")
    try:
        return duckdb.connect(str(database), read_only=True)
    except duckdb.Error as exc:
        raise QueryError(f"cannot open {database}: {str(exc).splitlines()[0]}") from None


def check_definition(name: str) -> str:
    """The counting rule's name as the publication spells it (any case given), or a QueryError
    listing the known rules."""
    if name.lower() not in counting_rules():
        raise QueryError(f"unknown counting rule {name!r}; known: {', '.join(sorted(counting_rules()))}")
    return name.lower()


def check_period(from_date: date, to_date: date) -> None:
    if from_date > to_date:
        raise QueryError(f"reversed period: --from {from_date} is after --to {to_date}; swap them")


def date_warnings(con: duckdb.DuckDBPyConnection, ref_date: date | None = None,
                  known_at: date | None = None) -> list[str]:
    """What a reference or knowledge date outside the deliveries means, one line each (or none)."""
    first, last, first_intake = con.execute("select * from delivery_span()").fetchone()
    if first is None:
        return ["the publication holds no deliveries: every figure is zero"]
    out = []
    if known_at is not None and known_at < first:
        out.append(f"--known-at {known_at} is before the first delivery (stand per {first}): nothing was "
                   "known yet, every figure is zero")
    if known_at is not None and known_at > last:
        out.append(f"--known-at {known_at} is after the last delivery (stand per {last}): the figures are "
                   "as known at that delivery")
    if ref_date is not None and first_intake is not None and ref_date < first_intake:
        out.append(f"reference date {ref_date} is before the first intake ({first_intake}): every figure is zero")
    if ref_date is not None and ref_date > last:
        out.append(f"reference date {ref_date} is after the last delivery (stand per {last}): nothing after "
                   "that is known yet")
    return out


def outflow(con: duckdb.DuckDBPyConnection, ref_date: date, definition: str = "programme",
            known_at: date | None = None, by_municipality: bool = False) -> pd.DataFrame:
    """Persons per reporting line (and municipality), every line of the rule shown, zeros included."""
    return outflow_result(con, ref_date, definition, known_at, by_municipality).df()


def outflow_result(con: duckdb.DuckDBPyConnection, ref_date: date, definition: str = "programme",
                   known_at: date | None = None, by_municipality: bool = False) -> duckdb.DuckDBPyConnection:
    """outflow's query executed, not yet fetched: `.df()` gives the frame, `records` the rows."""
    definition = check_definition(definition)
    keys = "municipalities.municipality, " if by_municipality else ""
    sql = f"""
        with counted as (
            select * from outflow($ref_date, definition := $definition, known_at := $known_at)
        ),
        municipalities as (select distinct municipality from episode_versions),
        lines as (
            select distinct rules.line, rules.durability, taxonomy.position
            from rule_cases($definition) as rules
            inner join taxonomy on taxonomy.vocabulary = 'reporting_lines' and taxonomy.code = rules.line
        )
        select {keys}lines.line, lines.durability, coalesce(sum(counted.persons), 0)::bigint as persons
        from lines
        {"cross join municipalities" if by_municipality else ""}
        left join counted on counted.line = lines.line and counted.durability = lines.durability
            {"and counted.municipality = municipalities.municipality" if by_municipality else ""}
        group by all
        order by {keys}min(lines.position), lines.durability
    """
    return con.execute(sql, {"ref_date": ref_date, "definition": definition, "known_at": known_at})


def outflow_by_outcome(con: duckdb.DuckDBPyConnection, ref_date: date, definition: str = "programme",
                       known_at: date | None = None) -> pd.DataFrame:
    """Persons per municipality, outcome and follow-up under each reporting line (the macro)."""
    frame = outflow_by_outcome_result(con, ref_date, definition, known_at).df()
    # no follow-up is None (JSON null, an empty CSV cell), not NaN
    frame["follow_up_code"] = frame["follow_up_code"].astype(object).where(frame["follow_up_code"].notna(), None)
    return frame


def outflow_by_outcome_result(con: duckdb.DuckDBPyConnection, ref_date: date, definition: str = "programme",
                              known_at: date | None = None) -> duckdb.DuckDBPyConnection:
    """outflow_by_outcome's query executed, not yet fetched (no follow-up is None in its rows)."""
    check_definition(definition)
    sql = "select * from outflow_by_outcome($ref_date, definition := $definition, known_at := $known_at)"
    return con.execute(sql, {"ref_date": ref_date, "definition": definition, "known_at": known_at})


def records(result: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """An executed query's rows as dicts by column, fetched without pandas.

    Two result columns of the same name would merge into one key (the last one's value, silently):
    a QueryError names them instead, before any row is fetched."""
    columns = [column[0] for column in result.description]
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise QueryError(f"the query gives more than one column named {', '.join(map(repr, repeated))}: "
                         "rows by column name would keep only the last; alias them apart")
    return [dict(zip(columns, row)) for row in result.fetchall()]


def quarantine_impact(con: duckdb.DuckDBPyConnection, ref_date: date, known_at: date | None = None) -> list[dict[str, Any]]:
    """Per municipality: episodes whose figure rests on an older version, or on none, because the
    latest delivery (as known at known_at) holds them only in quarantine."""
    sql = "select * from quarantine_impact($ref_date, known_at := $known_at)"
    return records(con.execute(sql, {"ref_date": ref_date, "known_at": known_at}))


def quarantine_line(impact: list[dict[str, Any]]) -> str:
    """One sentence under a figure: how many episodes quarantine leaves at an older version or out."""
    stale, missing = sum(r["episodes_stale"] for r in impact), sum(r["episodes_missing"] for r in impact)
    if not stale and not missing:
        return "quarantine: no episode of the latest deliveries is held back"
    hit = [r for r in impact if r["episodes_stale"] > 0 or r["episodes_missing"] > 0]
    per = ", ".join(f"{r['municipality']} {r['episodes_stale']}/{r['episodes_missing']}" for r in hit)
    return (f"quarantine: {stale} episodes counted at an older version and {missing} not counted, because "
            f"their rows in the latest delivery are in quarantine (stale/missing: {per})")


def measure(con: duckdb.DuckDBPyConnection, name: str, ref_date: date,
            known_at: date | None = None) -> pd.DataFrame:
    """occupancy or inflow per municipality."""
    if name not in ("occupancy", "inflow"):
        raise QueryError(f"unknown measure {name!r}")
    sql = f"select * from {name}($ref_date, known_at := $known_at)"
    return con.execute(sql, {"ref_date": ref_date, "known_at": known_at}).df()


def line_labels(lang: str = "nl") -> dict[str, str]:
    return {t.code: (t.nl if lang == "nl" else t.en) for t in taxonomy().reporting_lines}
