"""Store -> history -> publish -> DuckDB macros, on deliveries built in the tests (no Prefect)."""

from datetime import date

import duckdb
import pandas as pd
import pytest

from transforms.queries import QueryError, connect, outflow


def persons(frame: pd.DataFrame) -> dict[str, int]:
    return {r.line: r.persons for r in frame.itertuples() if r.persons}


def test_outflow_now_and_as_known_at_the_first_delivery(published):
    con = connect(published)
    now = outflow(con, date(2020, 11, 1), "evaluation-2021")
    assert persons(now) == {"returned": 2, "postponed_departure": 1, "other_non_durable": 1}
    assert len(now) == 8  # every line of the rule, zeros included
    before = outflow(con, date(2020, 11, 1), "evaluation-2021", known_at=date(2020, 10, 31))
    assert persons(before) == {"returned": 1, "departed_unknown": 1, "other_non_durable": 1}
    programme = outflow(con, date(2020, 11, 1), "programme")
    assert persons(programme) == {"returned": 3, "postponed_departure": 1}


def test_database_answers_from_any_working_directory(published, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    con = duckdb.connect(str(published), read_only=True)
    assert con.execute("select sum(persons) from inflow(date '2020-12-01')").fetchall() == [(5,)]
    assert con.execute("select sum(persons) from occupancy(date '2020-11-15')").fetchall() == [(1,)]
    assert con.execute("select count(*) from outflow(date '2020-11-01', definition := 'evaluation-2022')"
                       ).fetchall()[0][0] > 0
    views = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert {"episodes", "episode_versions", "deliveries", "validation_issues", "taxonomy",
            "counting_rules"} <= views


def test_deliveries_rows_add_up_and_parquet_is_written(published):
    con = connect(published)
    d = con.execute("select rows_read, rows_curated + rows_quarantined + rows_skipped from deliveries").fetchall()
    assert all(a == b for a, b in d) and len(d) == 2
    for name in ("episode_versions", "deliveries", "validation_issues", "quarantined_rows"):
        assert (published.parent / f"{name}.parquet").exists()
    assert not list(published.parent.glob(".publish-*"))


def test_unknown_rule_and_missing_publication_are_clear_errors(published, tmp_path):
    with pytest.raises(QueryError, match="unknown counting rule 'evaluation-2020'"):
        outflow(connect(published), date(2020, 11, 1), "evaluation-2020")
    with pytest.raises(QueryError, match="lvv demo"):
        connect(tmp_path / "nowhere" / "lvv.duckdb")


def test_no_raw_identifier_in_the_curated_files(published):
    """Every stored value read back (tests/stored.py), not the compressed bytes grepped."""
    from stored import Needles, leaks, stored_values

    needles = Needles({f"{1000000000 + n}" for n in range(1, 6)}, {"Testnaam"}, {date(1990, 1, 1)})
    assert leaks(stored_values([published.parent]), needles) == []
    raw = leaks(stored_values([published.parent.parent / "raw"]), needles)
    assert {hit for _, hit in raw} >= {"1000000001", "Testnaam", "birth date 1990-01-01"}


def test_reconcile_bridge_adds_up_on_a_small_history(published):
    con = connect(published)
    rows = con.execute("""select line, persons_a, persons_b, effect, persons from reconcile(
        date '2020-11-01', 'programme', 'evaluation-2021', known_at_a := date '2020-10-31')""").df()
    for line, group in rows.groupby("line"):
        assert group["persons_a"].iloc[0] + group["persons"].sum() == group["persons_b"].iloc[0], line
    effects = {(r.line, r.effect): r.persons for r in rows.itertuples() if r.effect != "none"}
    # programme as known in October: returned 2 (forced return + detention then forced departure),
    # departed_unknown 1; evaluation-2021 as known now: returned 2, postponed 1, other_non_durable 1
    assert effects == {
        ("returned", "counting_rule"): -1, ("other_non_durable", "counting_rule"): 1,
        ("returned", "corrected_outcome"): 1, ("departed_unknown", "corrected_outcome"): -1,
        ("postponed_departure", "late_registration"): 1,
    }


def test_a_statement_is_taken_whole_when_its_comment_has_a_semicolon():
    """sql/reconcile.sql's comment above month_ends has a semicolon: DuckDB's parser splits the
    file, so the statement taken runs on its own (a split at ';' began in the comment's middle)."""
    from transforms.publish import sql_statement

    statement = sql_statement("reconcile.sql", "macro", "month_ends")
    assert "; a reversed period is an error" in statement  # the case this test is about
    con = duckdb.connect()
    con.execute(statement.replace("create or replace macro", "create temp macro", 1))
    assert con.execute("select count(*) from month_ends(date '2020-01-15', date '2020-03-01')").fetchall() == [(3,)]
    with pytest.raises(KeyError, match="no macro nowhere"):
        sql_statement("reconcile.sql", "macro", "nowhere")


class _Counting:
    """A DuckDB connection that counts the statements bound row by row (executemany)."""

    def __init__(self, con):
        self.con, self.executemany_calls = con, 0

    def executemany(self, *args, **kwargs):
        self.executemany_calls += 1
        return self.con.executemany(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_the_run_log_goes_in_with_one_insert_and_every_value_as_recorded(monkeypatch):
    """The runs a release lists (a national network's first run lists 3,000 deliveries) go into
    run_log in one insert, not bound run by run; every value as recorded: times as the instants
    they are (a naive one in the local time zone, as DuckDB casts it), dates, lists, the deliveries
    and changes as structs, what a record lacks as null. A value only DuckDB casts (the text of a
    number) still goes in. Under PYARROW_IGNORE_TIMEZONE, which pandera sets when it is imported
    (as in the flow): Arrow then keeps a time's clock reading and drops its offset."""
    from datetime import datetime, timedelta, timezone

    from transforms.publish import _insert_runs, _load_run_log

    delivery = {"delivery_id": "amsterdam/2022-07", "action": "changed", "status": "accepted", "sha256": "ab",
                "previous_sha256": "cd", "rows_read": 12, "rows_curated": 11, "rows_quarantined": 1}
    first = {"run_id": "r1", "started_at": datetime(2022, 8, 1, 6, 0, 1, 123456, tzinfo=timezone.utc),
             "finished_at": datetime(2022, 8, 1, 8, 0, tzinfo=timezone(timedelta(hours=2))), "status": "published",
             "reference_date": date(2022, 7, 31), "definitions": ["programme", "evaluation-2022"],
             "release_id": "20220801T060001Z-1",
             "deliveries": [delivery, {**delivery, "delivery_id": "utrecht/2022-07", "action": "new",
                                       "previous_sha256": None}],
             "rows_read": 24, "rows_curated": 22, "rows_quarantined": 2,
             "changes": [{"definition": "programme", "line": "returned", "persons_before": 5, "persons_after": 7,
                          "change": 2}], "message": None, "not_a_column": "left out"}
    second = {"run_id": "r2", "started_at": datetime(2022, 9, 1, 7, 30), "status": "unchanged",
              "deliveries": [], "definitions": [], "message": "nothing new"}
    monkeypatch.setenv("PYARROW_IGNORE_TIMEZONE", "1")
    con = _Counting(duckdb.connect())
    _load_run_log(con, [first, second])
    assert con.executemany_calls == 0
    rows = con.execute("select * from run_log").fetchall()
    assert rows == [
        ("r1", first["started_at"], first["finished_at"], "published", date(2022, 7, 31), ["programme", "evaluation-2022"],
         "20220801T060001Z-1", [delivery, {**delivery, "delivery_id": "utrecht/2022-07", "action": "new",
                                           "previous_sha256": None}], 24, 22, 2, first["changes"], None),
        ("r2", second["started_at"].astimezone(), None, "unchanged", None, [], None, [], None, None, None, None,
         "nothing new")]
    _insert_runs(con, [{"run_id": "r3", "deliveries": [{**delivery, "rows_read": "12"}]}])
    assert con.execute("select deliveries[1].rows_read from run_log where run_id = 'r3'").fetchall() == [(12,)]


def test_a_release_opens_its_database_once_and_its_parquet_files_hold_its_tables(published, tmp_path, monkeypatch):
    """write_release copies the Parquet tables from the database it has just written, before it
    closes it (opening it again cost a connection and a close each publish); each file holds its
    table's rows in order, with its columns."""
    from transforms import publish

    con = duckdb.connect(str(published), read_only=True)
    tables = {name: con.execute(f"select * from {name}").df() for name in publish.PARQUET_TABLES}
    con.close()
    opened, real_connect = [], duckdb.connect
    monkeypatch.setattr(duckdb, "connect", lambda *args, **kwargs: opened.append(args) or real_connect(*args, **kwargs))
    release = tmp_path / "release"
    publish.write_release(release, tables)
    assert opened == [(str(release / publish.DATABASE),)]
    con = real_connect(str(release / publish.DATABASE), read_only=True)
    for name in publish.PARQUET_TABLES:
        path = release / f"{name}.parquet"
        assert con.execute(f"describe {name}").fetchall() == con.execute(f"describe from '{path}'").fetchall()
        assert con.execute(f"from {name}").fetchall() == con.execute(f"from '{path}'").fetchall()
    assert sum(con.execute("select count(*) from episode_versions").fetchone()) > 0
