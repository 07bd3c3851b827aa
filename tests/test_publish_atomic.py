"""Atomic publishing: concurrent publishers, open readers, the lock.

Publishers run in child processes forked from a preloaded forkserver, so a child starts in
milliseconds. What a run killed at a named point leaves (and how the next run cleans it) is
tested in tests/test_kill_points.py, without timers.
"""

from __future__ import annotations

import fcntl
import multiprocessing
from datetime import date
from pathlib import Path

import duckdb
import pytest

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.publish import (
    CURRENT,
    RELEASES,
    PublicationBusy,
    clean_leftovers,
    publication_lock,
    publish,
)
from transforms.store import save_result

REF = date(2020, 11, 30)


def _stage(root: Path, november_outcome: str = "Zelfstandig vertrek") -> Path:
    ams = contract_for("amsterdam")
    october = [good_row(1, exit_date=date(2020, 10, 20), outcome="MOB"), good_row(2),
               good_row(3, exit_date=date(2020, 10, 1), outcome="Gedwongen vertrek")]
    november = [good_row(1, exit_date=date(2020, 10, 20), outcome=november_outcome),
                good_row(2, exit_date=date(2020, 11, 3), outcome="Art. 64"), october[2]]
    staged = root / "curated" / "staged"
    for period, rows, stand_per in (("2020-10", october, date(2020, 10, 31)),
                                    ("2020-11", november, REF)):
        path = write_sheet(root / "raw" / "amsterdam" / period / "export.xlsx", contract_for("amsterdam"),
                           rows, stand_per=stand_per)
        save_result(staged, process_delivery(path, ams, period, Pseudonymiser("test-key")))
    return staged


def publish_loop(staged: str, curated: str, rounds: int, wait: float) -> None:
    """Child process: publish the stored deliveries `rounds` times."""
    tables = curated_tables(Path(staged))
    for _ in range(rounds):
        publish(Path(curated), tables, fingerprint="f", lock_wait_seconds=wait)


def answers_outflow(database: Path) -> int:
    """Total persons of outflow() at REF; fails when the publication cannot be opened or queried."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute("select sum(persons) from outflow($d, definition := 'programme')",
                           {"d": REF}).fetchall()[0][0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def forkserver():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.test_publish_atomic"])
    return ctx


@pytest.fixture
def publication(tmp_path) -> tuple[Path, Path]:
    staged = _stage(tmp_path)
    curated = tmp_path / "curated"
    publish(curated, curated_tables(staged), fingerprint="f")
    return staged, curated


def test_two_publishers_at_once_both_finish_one_after_the_other(publication, forkserver):
    staged, curated = publication
    children = [forkserver.Process(target=publish_loop, args=(str(staged), str(curated), 3, 60.0))
                for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert [c.exitcode for c in children] == [0, 0]
    assert answers_outflow(curated / "lvv.duckdb") == answers_outflow(curated / CURRENT / "lvv.duckdb")
    assert not list((curated / RELEASES).glob(".building-*"))


def test_a_second_publisher_stops_with_a_clear_message_when_it_may_not_wait(publication):
    staged, curated = publication
    with (curated / "runs" / "lock").open("a") as other_run:  # another open file: as another process would
        fcntl.flock(other_run, fcntl.LOCK_EX)
        with pytest.raises(PublicationBusy, match="another run is publishing to .*Let it finish"):
            publish(curated, curated_tables(staged), lock_wait_seconds=0.3)
    with publication_lock(curated, 0):  # free again; and re-entrant within one process
        with publication_lock(curated, 0):
            pass


def test_a_reader_with_the_database_open_keeps_its_view_while_a_new_release_lands(tmp_path):
    staged = _stage(tmp_path)
    curated = tmp_path / "curated"
    publish(curated, curated_tables(staged))
    reader = duckdb.connect(str(curated / "lvv.duckdb"), read_only=True)
    query = "select line, sum(persons) from outflow($d) group by line order by line"
    before = reader.execute(query, {"d": REF}).fetchall()
    _stage(tmp_path, november_outcome="Verblijfsvergunning verleend")  # a corrected delivery
    publish(curated, curated_tables(staged))
    assert reader.execute(query, {"d": REF}).fetchall() == before
    reader.close()
    after = duckdb.connect(str(curated / "lvv.duckdb"), read_only=True).execute(query, {"d": REF}).fetchall()
    assert after != before and ("legalised", 1) in after


def test_an_old_flat_publication_is_taken_over_and_leftovers_removed(tmp_path):
    staged = _stage(tmp_path)
    curated = tmp_path / "curated"
    (curated / "lvv.duckdb").write_bytes(b"an old database written in place")
    (curated / ".publish-abc").mkdir()
    (curated / RELEASES / ".building-x").mkdir(parents=True)
    assert sorted(clean_leftovers(curated)) == [".building-x", ".publish-abc"]
    publish(curated, curated_tables(staged))
    assert (curated / "lvv.duckdb").is_symlink()
    assert answers_outflow(curated / "lvv.duckdb") == 3
