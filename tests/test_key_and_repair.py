"""The pseudonym key check and key rotation; release verification and self-repair.

Small hand-written deliveries (two municipalities sharing one person), not the demo's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from lvv.settings import KEY_CHECK_FILE, KEY_ENV, DataPaths, SettingsError, key_check_value
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.publish import CURRENT, verify_release
from transforms.runs import read_runs

REF = date(2020, 11, 30)


def write_deliveries(root: Path) -> DataPaths:
    """Amsterdam and Utrecht, two months each; person 1000000007 stayed in both, one after the other."""
    shared = "1000000007"
    ams = [good_row(1, exit_date=date(2020, 9, 20), outcome="MOB"), good_row(2),
           good_row(7, person_id=shared, exit_date=date(2020, 3, 1), outcome="Eigen netwerk")]
    utr = [good_row(11, record_id=11, person_id="1000000011", exit_date=date(2020, 10, 5),
                    outcome="Legaal verblijf"),
           good_row(17, record_id=17, person_id=shared, intake_date=date(2020, 3, 2))]
    for municipality, rows in (("amsterdam", ams), ("utrecht", utr)):
        for period, stand_per in (("2020-10", date(2020, 10, 31)), ("2020-11", REF)):
            write_sheet(root / "raw" / municipality / period / f"{municipality}.xlsx", contract_for(municipality),
                        rows, stand_per=stand_per)
    return DataPaths.resolve(root)


def run(paths: DataPaths, **options) -> dict:
    from flows.monthly_outflow import RunParameters, monthly_outflow

    return monthly_outflow(RunParameters(data_dir=str(paths.root), reference_date=REF, **options))["run"]


def figures(paths: DataPaths) -> tuple[list, int, set]:
    """Outflow per municipality and line; persons in two municipalities; the person pseudonyms."""
    con = duckdb.connect(str(paths.database), read_only=True)
    try:
        outflow = _outflow(con)
        linked = con.execute("select count(*) from (select person_id from episodes group by person_id "
                             "having count(distinct municipality) > 1)").fetchone()[0]
        persons = {r[0] for r in con.execute("select distinct person_id from episodes").fetchall()}
    finally:
        con.close()
    return outflow, linked, persons


def _outflow(con) -> list:
    from transforms.queries import outflow

    frame = outflow(con, REF, "programme", by_municipality=True)
    return sorted(map(tuple, frame[["municipality", "line", "persons"]].astype(str).to_numpy().tolist()))


@pytest.fixture(scope="module")
def published_once(tmp_path_factory, prefect_harness) -> DataPaths:
    """The deliveries published once for this module under key-one; each test works on a copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_ENV, "key-one")
        paths = write_deliveries(tmp_path_factory.mktemp("key-and-repair") / "data")
        assert run(paths)["status"] == "published"
    return paths


@pytest.fixture
def published(published_once, tmp_path, monkeypatch) -> DataPaths:
    monkeypatch.setenv(KEY_ENV, "key-one")
    shutil.copytree(published_once.root, tmp_path / "data", symlinks=True)
    return DataPaths.resolve(tmp_path / "data")


def test_the_store_records_a_check_value_never_the_key(published):
    stored = (published.staged / KEY_CHECK_FILE).read_text(encoding="utf-8")
    assert json.loads(stored)["check"] == key_check_value("key-one") != key_check_value("key-two")
    assert "key-one" not in stored


def test_another_key_is_refused_before_any_delivery_is_read(published, monkeypatch):
    late = write_sheet(published.raw / "amsterdam" / "2020-12" / "amsterdam.xlsx", contract_for("amsterdam"),
                       [good_row(1)], stand_per=date(2020, 12, 31))
    runs_before = read_runs(published.curated)
    monkeypatch.setenv(KEY_ENV, "key-two")
    with pytest.raises(SettingsError, match="not the key the store .* `lvv rekey`"):
        run(published)
    assert not (published.staged / "amsterdam" / "2020-12").exists()
    assert read_runs(published.curated) == runs_before
    late.unlink()
    cli = subprocess.run([sys.executable, "-m", "lvv.cli", "run", "--data-dir", str(published.root)],
                         env={**os.environ, KEY_ENV: "key-two"}, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2, cli.stderr
    message = [line for line in cli.stderr.splitlines() if line.strip()]
    assert message[0].startswith("error:") and "lvv rekey" in cli.stderr and "Traceback" not in cli.stderr


def test_rekey_publishes_the_same_figures_with_the_links_intact(published, monkeypatch):
    before, linked_before, persons_before = figures(published)
    assert linked_before == 1
    monkeypatch.setenv(KEY_ENV, "key-two")
    record = run(published, rebuild=True)
    assert record["status"] == "published" and "key rotation" in record["message"]
    after, linked_after, persons_after = figures(published)
    assert after == before and linked_after == linked_before
    assert persons_after.isdisjoint(persons_before)  # every pseudonym is new
    assert json.loads((published.staged / KEY_CHECK_FILE).read_text())["check"] == key_check_value("key-two")
    assert not list(published.curated.glob("staged.before-rekey-*"))
    assert run(published)["status"] == "unchanged"  # the new key is the store's key now


def verify(paths: DataPaths, in_a_shell: bool) -> subprocess.CompletedProcess:
    """`lvv verify` as a shell runs it (a process: its exit code), or in this process (Typer's
    CliRunner: the same command, its exit code and error output, without a new interpreter)."""
    args = ["verify", "--data-dir", str(paths.root)]
    if in_a_shell:
        return subprocess.run([sys.executable, "-m", "lvv.cli", *args], capture_output=True, text=True, timeout=120)
    from typer.testing import CliRunner

    from lvv.cli import app

    result = CliRunner().invoke(app, args)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("damage", ["delete-database", "truncate-parquet", "delete-current"])
def test_a_damaged_release_is_repaired_by_the_next_run(published, damage):
    assert verify_release(published.curated) == []
    if damage == "delete-database":
        published.database.unlink()
    elif damage == "truncate-parquet":
        target = published.curated / CURRENT / "episode_versions.parquet"
        target.write_bytes(target.read_bytes()[:100])
    else:
        (published.curated / CURRENT).unlink()
    failed = verify(published, in_a_shell=damage == "delete-database")
    assert failed.returncode == 1 and "damaged" in failed.stderr
    record = run(published)
    assert record["status"] == "published" and "repaired the damaged release" in record["message"]
    assert verify_release(published.curated) == []
    assert verify(published, in_a_shell=damage == "delete-database").returncode == 0
    assert figures(published)[1] == 1
    assert run(published)["status"] == "unchanged"


def test_republish_builds_a_new_release_from_the_store(published):
    first = json.loads((published.curated / CURRENT / "release.json").read_text())["release_id"]
    assert run(published, republish=True)["status"] == "published"
    assert json.loads((published.curated / CURRENT / "release.json").read_text())["release_id"] != first


def test_a_failing_monthly_report_is_logged_with_its_message(published):
    write_sheet(published.raw / "amsterdam" / "2020-12" / "amsterdam.xlsx", contract_for("amsterdam"),
                [good_row(1, exit_date=date(2020, 9, 20), outcome="MOB"), good_row(2)], stand_per=date(2020, 12, 31))
    blocked = published.root / "reports" / f"{REF:%Y-%m-%d}"
    if blocked.is_dir():
        shutil.rmtree(blocked)
    blocked.write_text("a file where the report's folder should be")
    with pytest.raises(Exception):
        run(published)
    last = read_runs(published.curated)[-1]
    assert last["status"] == "failed" and last["release_id"]
    assert "was published; then the monthly report failed" in last["message"]
    assert [d["delivery_id"] for d in last["deliveries"]] == ["amsterdam/2020-12"]
