"""The data location as a file system URI (fsspec): file:// works everywhere a path does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from lvv.settings import DATA_DIR_ENV, DataPaths, SettingsError, local_path
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet


def test_a_file_uri_resolves_to_its_local_path(tmp_path):
    uri = tmp_path.as_uri()
    assert uri.startswith("file:///")
    assert DataPaths.resolve(uri) == DataPaths(tmp_path.resolve())
    # what the command line's Path option makes of a URI ("file:/tmp/...") resolves the same way
    assert DataPaths.resolve(Path(uri)) == DataPaths(tmp_path.resolve())
    assert local_path(str(tmp_path)) == str(tmp_path)


def test_a_file_uri_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, (tmp_path / "data").as_uri())
    assert DataPaths.resolve().raw == (tmp_path / "data" / "raw").resolve()


@pytest.mark.parametrize("uri", ["s3://bucket/lvv", "abfs://container/lvv", "gs://bucket/lvv"])
def test_a_remote_uri_is_refused_with_what_to_do(uri):
    with pytest.raises(SettingsError, match="local path or a file:// URI") as caught:
        DataPaths.resolve(uri)
    assert "Mount" in str(caught.value)
    with pytest.raises(SettingsError):
        DataPaths.resolve(Path(uri))  # "s3:/bucket/lvv" after the command line's Path()


@pytest.mark.flow
def test_lvv_run_takes_a_file_uri(tmp_path, monkeypatch, prefect_harness):
    from typer.testing import CliRunner

    from lvv.cli import app

    contract = contract_for("rotterdam")
    root = tmp_path / "data"
    for period, stand_per, exit_date in (("2019-11", date(2019, 11, 30), None),
                                         ("2019-12", date(2019, 12, 31), "20-12-2019")):
        rows = [good_row(1, intake_date="01-09-2019", exit_date=exit_date,
                         outcome="Terugkeer" if exit_date else None),
                good_row(2, intake_date="15-10-2019")]
        write_sheet(root / "raw" / "rotterdam" / period / f"lvv_rotterdam_{period}.xlsx", contract, rows,
                    stand_per)
    monkeypatch.setenv("LVV_PSEUDONYM_KEY", "test-key-not-secret")
    result = CliRunner().invoke(app, ["run", "--data-dir", root.as_uri(), "--reference-date", "2019-12-31"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(root / "curated" / "lvv.duckdb"), read_only=True)
    try:
        occupancy = con.execute("select persons from occupancy(date '2019-12-31')").fetchall()
        outflow = con.execute("select line, persons from outflow(date '2019-12-31')").fetchall()
    finally:
        con.close()
    assert occupancy == [(1,)] and outflow == [("returned", 1)]
