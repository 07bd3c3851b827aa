"""`lvv deliveries recheck`: which stored deliveries the current code would store otherwise, and in
what, without changing anything. A store written by this code is the same; one whose stored
results say otherwise (as an older code's would) is found, delivery by delivery."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from lvv.cli import app
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.recheck import DIFFERS, RAW_CHANGED, RAW_MISSING, SAME, recheck
from transforms.store import RECORDS_INDEX, save_result

KEY = "recheck-test-key"


def _store(root: Path) -> Path:
    """Three Amsterdam months (a workbook each) and one Eindhoven month (a CSV), stored as a run
    stores them: raw/<municipality>/<period>/<file>, the record naming the file by that path."""
    staged = root / "curated" / "staged"
    months = {"2020-09": date(2020, 9, 30), "2020-10": date(2020, 10, 31), "2020-11": date(2020, 11, 30)}
    for k, (period, stand_per) in enumerate(months.items()):
        rows = [good_row(1, exit_date=date(2020, 9, 20), outcome="Zelfstandig vertrek"), good_row(2),
                good_row(3, exit_date="31-02-2020")] + [good_row(4 + j) for j in range(k)]
        relative = f"amsterdam/{period}/export.xlsx"
        write_sheet(root / "raw" / relative, contract_for("amsterdam"), rows, stand_per=stand_per)
        save_result(staged, process_delivery(root / "raw" / relative, contract_for("amsterdam"), period,
                                             Pseudonymiser(KEY), display_name=relative))
    relative = "eindhoven/2020-10/export.csv"
    (root / "raw" / relative).parent.mkdir(parents=True)
    (root / "raw" / relative).write_bytes(
        "Clientnr;Vnr;Naam;Geb.datum;Startdatum;Einddatum;Uitstroom\r\n"
        "4101;5550306006;Gonçalves;10-12-1961;07-07-2019;03-02-2020;Gedwongen beëindigd\r\n"
        "4102;0935306123;Gökçe;23-11-1967;17-07-2019;;\r\n".encode("cp1252"))
    save_result(staged, process_delivery(root / "raw" / relative, contract_for("eindhoven"), "2020-10",
                                         Pseudonymiser(KEY), display_name=relative))
    return staged


def _digest(folder: Path) -> str:
    """Every stored file's path and bytes, but the records' index (RECORDS_INDEX: any reading of the
    records brings it up to date, `lvv deliveries list` too)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORDS_INDEX):
        digest.update(path.relative_to(folder).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_store_this_code_wrote_is_the_same_and_stays_untouched(tmp_path):
    staged = _store(tmp_path)
    before = _digest(staged)
    found = list(recheck(staged, tmp_path / "raw", KEY))
    assert [(f.delivery_id, f.verdict) for f in found] == [
        ("amsterdam/2020-09", SAME), ("amsterdam/2020-10", SAME), ("amsterdam/2020-11", SAME),
        ("eindhoven/2020-10", SAME)]
    assert _digest(staged) == before


def test_stored_results_an_older_code_would_have_left_are_found_and_said_what_differs(tmp_path):
    """Each way a stored result may differ from the current code's, one delivery each: an episode's
    value, the 'stand per' date, the findings; and a raw file changed or gone, not processed."""
    staged = _store(tmp_path)
    episodes = staged / "amsterdam" / "2020-09" / "episodes.parquet"
    table = pq.read_table(episodes)
    exits = table.column("exit_date").to_pylist()
    exits[0] = date(2020, 9, 21)  # an exit date an older reading got one day off
    column = pa.array(exits, type=table.schema.field("exit_date").type)
    pq.write_table(table.set_column(table.column_names.index("exit_date"), table.schema.field("exit_date"), column),
                   episodes)
    record = staged / "amsterdam" / "2020-10" / "delivery.json"
    stored = json.loads(record.read_text())
    record.write_text(json.dumps({**stored, "stand_per": "2020-10-15"}))
    (staged / "amsterdam" / "2020-11" / "findings.parquet").unlink()
    raw = tmp_path / "raw" / "eindhoven" / "2020-10" / "export.csv"
    raw.write_bytes(raw.read_bytes() + b"4103;8007145528;Mensah;15-07-2002;22-07-2019;;\r\n")
    before = _digest(staged)
    found = {f.delivery_id: f for f in recheck(staged, tmp_path / "raw", KEY)}
    assert _digest(staged) == before
    assert found["amsterdam/2020-09"].verdict == DIFFERS
    assert found["amsterdam/2020-09"].differences == ("episodes: the same 2 rows, other values in exit_date",)
    assert found["amsterdam/2020-10"].differences == ("stand_per: 2020-10-15 -> 2020-10-31",)
    assert found["amsterdam/2020-11"].differences == ("findings: +date-unparseable x1",)
    assert found["eindhoven/2020-10"].verdict == RAW_CHANGED
    raw.unlink()
    assert [f.verdict for f in recheck(staged, tmp_path / "raw", KEY, ["eindhoven"])] == [RAW_MISSING]


def test_the_command_exits_1_with_a_table_of_what_differs_and_0_when_nothing_does(tmp_path, monkeypatch):
    staged = _store(tmp_path)
    monkeypatch.setenv("LVV_PSEUDONYM_KEY", KEY)
    runner = CliRunner()
    same = runner.invoke(app, ["deliveries", "recheck", "--data-dir", str(tmp_path)])
    assert same.exit_code == 0, same.output
    assert "4 stored deliveries: 4 same." in same.output
    (staged / "amsterdam" / "2020-11" / "findings.parquet").unlink()
    differs = runner.invoke(app, ["deliveries", "recheck", "--data-dir", str(tmp_path), "--format", "json"])
    assert differs.exit_code == 1
    assert json.loads(differs.stdout) == [{"delivery_id": "amsterdam/2020-11", "verdict": DIFFERS,
                                           "differences": "findings: +date-unparseable x1"}]
    table = runner.invoke(app, ["deliveries", "recheck", "--data-dir", str(tmp_path), "--municipality", "amsterdam"])
    assert table.exit_code == 1 and "lvv run --rebuild" in table.output and "3 stored deliveries" in table.output


@pytest.mark.parametrize("args", [["--municipality", "nowhere"]])
def test_a_municipality_without_stored_deliveries_is_a_clear_error(tmp_path, monkeypatch, args):
    _store(tmp_path)
    monkeypatch.setenv("LVV_PSEUDONYM_KEY", KEY)
    result = CliRunner().invoke(app, ["deliveries", "recheck", "--data-dir", str(tmp_path), *args])
    assert result.exit_code != 0 and "no stored delivery of nowhere" in str(result.exception or result.output)


def test_an_old_export_sent_again_is_rechecked_as_the_run_stored_it_rejected_whole(tmp_path):
    """A month whose file is byte for byte an earlier month's is stored rejected whole (the
    duplicate rule a run applies after processing); rechecked with the same rule, it is the same."""
    from transforms.revisions import reject_if_duplicate
    from transforms.store import load_records

    staged = _store(tmp_path)
    relative = "amsterdam/2020-12/export.xlsx"
    (tmp_path / "raw" / relative).parent.mkdir(parents=True)
    (tmp_path / "raw" / relative).write_bytes((tmp_path / "raw" / "amsterdam/2020-11/export.xlsx").read_bytes())
    result = process_delivery(tmp_path / "raw" / relative, contract_for("amsterdam"), "2020-12",
                              Pseudonymiser(KEY), display_name=relative)
    result = reject_if_duplicate(result, [r for r in load_records(staged) if r["status"] == "accepted"])
    assert result.delivery["status"] == "rejected"
    save_result(staged, result)
    assert {f.delivery_id: f.verdict for f in recheck(staged, tmp_path / "raw", KEY, ["amsterdam"])} == {
        "amsterdam/2020-09": SAME, "amsterdam/2020-10": SAME, "amsterdam/2020-11": SAME, "amsterdam/2020-12": SAME}


def test_an_empty_store_says_there_is_nothing_to_recheck(tmp_path, monkeypatch):
    monkeypatch.setenv("LVV_PSEUDONYM_KEY", KEY)
    result = CliRunner().invoke(app, ["deliveries", "recheck", "--data-dir", str(tmp_path)])
    # the terminal wraps the line where the path makes it long (a worker's temporary folder)
    assert result.exit_code == 0 and "nothing to recheck" in " ".join(result.output.split())
