"""Monthly operation through the whole flow: only new work, byte-for-byte unchanged, revisions, runs.

Three flow runs in all (under the session's one Prefect test harness), on two tiny deliveries:
the first publishes, the second has nothing new, the third follows a corrected delivery.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import duckdb
import openpyxl
import pytest
from pydantic import ValidationError

from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet

REF = date(2020, 11, 30)
pytestmark = pytest.mark.flow


def write_deliveries(raw: Path, november_outcome: str, october_too: bool = True) -> None:
    ams = contract_for("amsterdam")
    october = [good_row(1, exit_date=date(2020, 10, 20), outcome="MOB"), good_row(2),
               good_row(3, exit_date=date(2020, 10, 1), outcome="Vreemdelingenbewaring", follow_up="Uitgezet")]
    november = [good_row(1, exit_date=date(2020, 10, 20), outcome=november_outcome),
                good_row(2, exit_date=date(2020, 11, 3), outcome="Art. 64"), october[2]]
    if october_too:
        write_sheet(raw / "amsterdam" / "2020-10" / "export.xlsx", ams, october, stand_per=date(2020, 10, 31))
    write_sheet(raw / "amsterdam" / "2020-11" / "export.xlsx", ams, november, stand_per=REF)


def publication_bytes(curated: Path) -> dict[str, str]:
    """sha256 of every published file (through the links) and of the release tree."""
    out = {}
    for path in sorted([*curated.glob("*.parquet"), curated / "lvv.duckdb",
                        *(curated / "releases").rglob("*")]):
        out[str(path.relative_to(curated))] = (hashlib.sha256(path.read_bytes()).hexdigest()
                                               if path.is_file() else "dir")
    out["current ->"] = str((curated / "current").readlink())
    return out


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, prefect_harness, monkeypatch_module):
    from flows.monthly_outflow import RunParameters, monthly_outflow

    monkeypatch_module.setenv("LVV_PSEUDONYM_KEY", "operations-test-key")
    root = tmp_path_factory.mktemp("operations") / "data"
    write_deliveries(root / "raw", "Zelfstandig vertrek")
    params = RunParameters(data_dir=str(root), reference_date=REF)
    first = monthly_outflow(params)
    before = publication_bytes(root / "curated")
    second = monthly_outflow(params)
    after = publication_bytes(root / "curated")
    write_deliveries(root / "raw", "Verblijfsvergunning verleend", october_too=False)  # November delivered again, corrected
    third = monthly_outflow(params)
    return root, (first, second, third), (before, after)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_a_second_run_with_nothing_new_changes_no_published_byte(three_runs):
    root, (first, second, _), (before, after) = three_runs
    assert first["run"]["status"] == "published" and len(first["processed"]) == 2
    assert second["run"]["status"] == "unchanged" and second["processed"] == []
    assert second["published"] is False
    assert before == after
    report = root / "reports" / "2020-11-30" / "lvv-monthly-2020-11-30-internal.xlsx"
    assert "Kerncijfers" in openpyxl.load_workbook(report).sheetnames  # the report (Dutch) is written every run


def test_a_changed_delivery_is_reprocessed_and_its_revision_is_visible(three_runs):
    root, (_, _, third), _ = three_runs
    (entry,) = third["processed"]
    assert entry["delivery_id"] == "amsterdam/2020-11" and entry["action"] == "changed"
    assert entry["previous_sha256"] != entry["sha256"]
    assert {(c["definition"], c["line"], c["change"]) for c in third["run"]["changes"]} >= {
        ("programme", "returned", -1), ("programme", "legalised", 1)}
    con = duckdb.connect(str(root / "curated" / "lvv.duckdb"), read_only=True)
    versions = con.execute("""
        select version, outcome_code, stated_in from episode_versions
        where episode_id = (select episode_id from episodes where outcome_code = 'permit_granted')
        order by version""").fetchall()
    assert versions == [(1, "departed_unknown", "amsterdam/2020-10"),
                        (2, "permit_granted", "amsterdam/2020-11")]
    runs = con.execute("select status, n_deliveries, n_figures_changed from runs").fetchall()
    assert [r[0] for r in runs] == ["published", "unchanged", "published"]
    assert runs[2][1] == 1 and runs[2][2] > 0


def test_runs_log_and_release_manifest_agree(three_runs):
    from transforms.publish import current_manifest
    from transforms.runs import read_runs

    root, (_, _, third), _ = three_runs
    log = read_runs(root / "curated")
    assert [r["status"] for r in log] == ["published", "unchanged", "published"]
    assert current_manifest(root / "curated")["run"]["run_id"] == log[-1]["run_id"] == third["run"]["run_id"]


def test_parameters_are_checked_before_any_work():
    from flows.monthly_outflow import RunParameters, last_day_of_previous_month

    with pytest.raises(ValidationError, match="extra"):
        RunParameters(data_dir="x", colour="blue")
    with pytest.raises(ValidationError, match="unknown counting rule"):
        RunParameters(definitions=["evaluation-2020"])
    assert last_day_of_previous_month(date(2026, 3, 10)) == date(2026, 2, 28)


def test_a_run_collects_garbage_less_often_and_gives_the_threshold_back():
    import gc

    from flows.monthly_outflow import fewer_gc_passes

    before = gc.get_threshold()
    with fewer_gc_passes(50_000):
        assert gc.get_threshold() == (50_000, *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_gc_passes():
        assert gc.get_threshold()[0] == 100_000
        raise RuntimeError("a failing run")
    assert gc.get_threshold() == before
