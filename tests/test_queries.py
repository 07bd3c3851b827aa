"""transforms.queries.records: an executed query's rows as dicts by column name."""

import duckdb
import pytest

from transforms.queries import QueryError, records


def test_rows_come_back_by_column_in_order():
    con = duckdb.connect()
    rows = records(con.execute("select * from (values (1, 'a'), (2, null)) as t(n, label) order by n"))
    assert rows == [{"n": 1, "label": "a"}, {"n": 2, "label": None}]


def test_two_columns_of_one_name_are_refused_not_merged():
    # a join that selects both sides' key: as dicts the second `id` would overwrite the first
    con = duckdb.connect()
    con.execute("create table a as select 1 as id, 'left' as side")
    con.execute("create table b as select 2 as id, 'right' as other")
    with pytest.raises(QueryError, match="more than one column named 'id'"):
        records(con.execute("select a.id, b.id, a.side from a cross join b"))


def test_names_differing_only_in_case_stay_two_columns():
    # DuckDB keeps both spellings; in a dict they are two keys, but a reader asking for either by
    # DuckDB's case-insensitive name would get one of them: the exact names are what count here
    con = duckdb.connect()
    rows = records(con.execute('select 1 as "N", 2 as "n"'))
    assert rows == [{"N": 1, "n": 2}]
