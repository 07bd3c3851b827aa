"""The bridge between two figures, and monthly series, through the DuckDB macros."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from transforms.queries import check_definition, check_period

#: effects in the order a bridge prints them, with their words for a reader
EFFECTS = {
    "counting_rule": ("counting rule", "telregel"),
    "late_registration": ("late registration", "late registratie"),
    "corrected_outcome": ("corrected outcome", "gecorrigeerde uitstroomreden"),
    "withdrawn_exit": ("exit withdrawn", "uitstroom ingetrokken"),
    "added_episode": ("episode added", "verblijf toegevoegd"),
    "withdrawn_episode": ("episode withdrawn", "verblijf ingetrokken"),
    "steward_correction": ("steward's correction", "correctie door beheerder"),
}


def _params(ref_date: date, definition_a: str, definition_b: str, known_at_a: date | None,
            known_at_b: date | None) -> dict:
    definition_a, definition_b = check_definition(definition_a), check_definition(definition_b)
    return {"ref_date": ref_date, "a": definition_a, "b": definition_b, "ka": known_at_a, "kb": known_at_b}


def bridge(con: duckdb.DuckDBPyConnection, ref_date: date, definition_a: str, definition_b: str,
           known_at_a: date | None = None, known_at_b: date | None = None) -> pd.DataFrame:
    """reconcile(): line, persons_a, persons_b, effect, persons (effects add up per line)."""
    sql = ("select * from reconcile($ref_date, $a, $b, known_at_a := $ka, known_at_b := $kb)")
    return con.execute(sql, _params(ref_date, definition_a, definition_b, known_at_a, known_at_b)).df()


def moved(con: duckdb.DuckDBPyConnection, ref_date: date, definition_a: str, definition_b: str,
          known_at_a: date | None = None, known_at_b: date | None = None) -> pd.DataFrame:
    """reconcile_episodes(): one row per (municipality, person) that moved, with the effect."""
    sql = ("select * from reconcile_episodes($ref_date, $a, $b, known_at_a := $ka, known_at_b := $kb)")
    return con.execute(sql, _params(ref_date, definition_a, definition_b, known_at_a, known_at_b)).df()


def bridge_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per line (and a total): figure A, a column per effect that occurs, figure B."""
    firsts = frame.drop_duplicates("line").set_index("line")[["persons_a", "persons_b"]]
    effects = frame[frame["effect"] != "none"]
    order = [e for e in EFFECTS if e in set(effects["effect"])]
    wide = effects.pivot_table(index="line", columns="effect", values="persons", aggfunc="sum",
                               fill_value=0).reindex(index=firsts.index, columns=order, fill_value=0)
    table = pd.concat([firsts[["persons_a"]], wide, firsts[["persons_b"]]], axis=1)
    table.loc["total"] = table.sum()
    table.columns.name = None
    return table.astype("int64").reset_index()


def series(con: duckdb.DuckDBPyConnection, from_date: date, to_date: date, definition: str = "programme",
           known_at: date | None = None) -> pd.DataFrame:
    """monthly_series(): inflow and outflow per line in each month, occupancy at month end."""
    definition = check_definition(definition)
    check_period(from_date, to_date)
    sql = "select * from monthly_series($f, $t, definition := $d, known_at := $k)"
    return con.execute(sql, {"f": from_date, "t": to_date, "d": definition, "k": known_at}).df()


def series_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per month and municipality; a column per measure (outflow per line)."""
    keyed = frame.assign(column=frame["measure"].where(frame["line"].isna(), "outflow_" + frame["line"].fillna("")))
    wide = keyed.pivot_table(index=["month_end", "municipality"], columns="column", values="persons",
                             aggfunc="sum", fill_value=0).reset_index()
    wide.columns.name = None
    return wide


def export_series(frame: pd.DataFrame, path: Path) -> Path:
    """Write a series to .csv or .xlsx (chosen by the file's extension)."""
    from transforms.files import replace_file

    wide = series_wide(frame)
    if path.suffix.lower() == ".xlsx":
        def workbook(part: Path) -> None:
            with part.open("wb") as handle:
                writer = pd.ExcelWriter(handle, engine="openpyxl")  # saved only when whole: closing it
                wide.to_excel(writer, sheet_name="series", index=False)  # after a failure would save
                frame.to_excel(writer, sheet_name="long", index=False)  # no sheet and hide the error
                writer.close()

        return replace_file(path, workbook)  # a file an analyst had open keeps its old content on failure
    if path.suffix.lower() == ".csv":
        from transforms.scrub import formula_safe

        return replace_file(path, wide.map(formula_safe).to_csv(index=False))
    raise ValueError(f"{path.name}: write the series to a .csv or .xlsx file")
