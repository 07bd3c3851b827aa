"""Publish: curated Parquet plus data/curated/lvv.duckdb, each replaced in one atomic rename.

The database is self-contained (tables, views and macros inside the file), so it opens and
answers from any working directory. It is built under a temporary name beside its target and
renamed over it: a reader who has the old file open keeps reading the old file.
"""

from __future__ import annotations

import os
import tempfile
from importlib.resources import files
from pathlib import Path

import duckdb
import pandas as pd

from schemas.taxonomy import counting_rule_rows, published_figure_rows, taxonomy_rows

#: SQL run into every new database, in this order (each file: `create or replace` statements)
SQL_FILES = ("views.sql", "macros.sql", "reconcile.sql")
#: curated tables also written as Parquet, for other engines
PARQUET_TABLES = ("episode_versions", "deliveries", "validation_issues", "quarantined_rows")


def sql_text(name: str) -> str:
    resource = files("sql").joinpath(name)
    return resource.read_text(encoding="utf-8") if resource.is_file() else ""


def build_database(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Create a DuckDB file with the given tables, the vocabularies, views and macros."""
    con = duckdb.connect(str(path))
    try:
        all_tables = {**tables, "taxonomy": pd.DataFrame(taxonomy_rows()),
                      "counting_rules": pd.DataFrame(counting_rule_rows()),
                      "published_figures": pd.DataFrame(published_figure_rows())}
        for name, frame in all_tables.items():
            con.register("frame_to_load", frame)
            con.execute(f"create table {name} as select * from frame_to_load")
            con.unregister("frame_to_load")
        for sql_file in SQL_FILES:
            con.execute(sql_text(sql_file))
        con.execute("checkpoint")
    finally:
        con.close()


def publish(curated_dir: Path, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Write the Parquet files and the database; each target appears whole or not at all."""
    curated_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".publish-", dir=curated_dir))
    written: list[Path] = []
    try:
        database = tmp_dir / "lvv.duckdb"
        build_database(database, tables)
        con = duckdb.connect(str(database), read_only=True)
        try:
            for name in PARQUET_TABLES:
                con.execute(f"copy {name} to '{tmp_dir / (name + '.parquet')}' "
                            "(format parquet, compression zstd)")
        finally:
            con.close()
        for name in PARQUET_TABLES:
            target = curated_dir / f"{name}.parquet"
            os.replace(tmp_dir / f"{name}.parquet", target)
            written.append(target)
        target = curated_dir / "lvv.duckdb"
        os.replace(database, target)
        written.append(target)
    finally:
        for leftover in tmp_dir.glob("*"):
            leftover.unlink()
        tmp_dir.rmdir()
    return written
