"""No direct identifier is stored: every stored value read back, not the compressed bytes grepped.

Every Parquet file, every table of every DuckDB file, every workbook cell, the text of every HTML
page, the run log and the flow run's artifacts are read as values (tests/stored.py) and matched
against the V-numbers, names and birth dates, the dates as dates. The reader is first shown to
find what it looks for, so a green here is not a blind reader.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from conftest import good_row, write_sheet
from lvv.demo import truth_episodes
from schemas.contracts import contract_for
from stored import Needles, file_values, leaks, stored_values
from transforms.curate import curated_tables
from transforms.delivery import process_delivery
from transforms.protect import Pseudonymiser
from transforms.publish import publish
from transforms.store import save_result


@pytest.fixture(scope="module")
def demo_needles() -> Needles:
    truth = truth_episodes()
    return Needles(set(truth["person_id"]), set(truth["family_name"]) | set(truth["given_name"]),
                   {d.date() for d in truth["birth_date"]})


def test_the_reader_finds_identifiers_where_they_are(demo_run, demo_needles, tmp_path):
    """Raw deliveries hold them in every notation; a DATE column and a zstd Parquet file too."""
    paths, demo, _ = demo_run
    for municipality in ("amsterdam", "eindhoven", "groningen", "rotterdam", "utrecht"):
        last = [d for d in demo.deliveries if d.municipality == municipality][-1]
        found = {hit.split(" ")[0] for _, hit in leaks(file_values(paths.raw / last.file), demo_needles)}
        assert "birth" in found and any(h.isdigit() for h in found), municipality  # dates, V-numbers
    born, v_number = sorted(demo_needles.birth_dates)[0], sorted(demo_needles.v_numbers)[0]
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("create table t as select range as n, $d::date as born, 'ok' as note from range(20000)",
                {"d": born})
    con.execute("insert into t values (20001, null, $v)", {"v": f"zie {v_number}"})
    con.execute(f"copy t to '{tmp_path / 'x.parquet'}' (format parquet, compression zstd)")
    con.close()
    for name in ("x.duckdb", "x.parquet"):
        hits = {hit for _, hit in leaks(file_values(tmp_path / name), demo_needles)}
        assert hits == {f"birth date {born}", v_number}, name


def test_nothing_the_demo_run_stored_holds_an_identifier(demo_run, demo_needles):
    """The curated folder (releases, staged results, run log), the reports and the artifacts."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    paths, _, summary = demo_run
    stored = list(stored_values([paths.curated, paths.root / "reports"]))
    kinds = {where.split(":")[0].rsplit(".", 1)[-1] for where, _ in stored}
    assert {"duckdb", "parquet", "xlsx", "html", "jsonl", "json"} <= kinds
    assert leaks(stored, demo_needles) == []
    this_run = ArtifactFilterFlowRunId(any_=[summary["run"]["run_id"]])
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=this_run))
    assert len(artifacts) >= 5
    values = [(f"artifact {a.key}", v) for a in artifacts for v in (a.data, a.description)]
    assert leaks(values, demo_needles) == []


# ------------------------------------------------------------------ identifiers planted in a file
V = [f"0312345{i:03d}" for i in range(40)]
BORN = [date(1961 + i, 1 + i % 12, 1 + i % 28) for i in range(40)]
NAMES = ["Zwartkop", "Haverkamp", "Oosterwijk", "Vreeswijk", "Lindqvist", "Bakhuizen"]
PLANTED = Needles(set(V), set(NAMES) | {"Marieke"}, set(BORN))
#: cells that make a row quarantined without holding an identifier
BAD_OUTCOME, BAD_DATE = "Onbekende reden xq", "31-02-2020"


def planted_rows(columns: dict[str, str]) -> list[dict]:
    """Identifiers in every identifier column and in the free-text column, in rows that are
    curated and in rows that are quarantined (so each raw_* column of the quarantine is filled)."""
    rows = []
    for i in range(16):
        row = good_row(i + 1, person_id=V[i], family_name=NAMES[i % 6], given_name="Marieke",
                       birth_date=BORN[i] if i % 2 else f"{BORN[i]:%d-%m-%Y}")
        if i % 4 == 1:
            row.update(exit_date=date(2020, 1, 10), outcome=BAD_OUTCOME)  # quarantined
        if i % 4 == 2:
            row.update(exit_date=BAD_DATE)  # quarantined
        if i % 8 == 3:
            row["record_id"] = V[20 + i]  # a V-number typed as the record number
        if i % 8 == 7:
            row["person_id"] = f"{NAMES[i % 6]} {BORN[20 + i]:%d-%m-%Y}"  # a name where the V-number goes
        # free text carrying the row's own identifiers, in the columns that are kept as text when
        # the row is quarantined (issue 11's scrubbing): a label, a follow-up, both dates
        if i == 5:
            row["outcome"] = f"Terug naar BBB {V[i]} {NAMES[i % 6]}"
        if i == 6:
            row["exit_date"] = f"{BORN[i]:%d-%m-%Y}"  # the birth date typed as the exit date
        if i == 9:
            row.update(exit_date=date(2020, 1, 10), outcome="Vreemdelingenbewaring",
                       follow_up=f"{NAMES[i % 6]} {V[i]}")
        if i == 10:
            row["intake_date"] = f"V {V[i][:4]} {V[i][4:]}"
        if i == 13:
            row["exit_date"] = BORN[i]  # as a date cell
        row["remark"] = f"broer van {V[30 + i % 10]}, {NAMES[(i + 1) % 6]}, geb. {BORN[30 + i % 10]:%d-%m-%Y}"
        rows.append({k: v for k, v in row.items() if k in columns or k == "remark"})
    return rows


def test_identifiers_planted_in_every_identifier_column_are_never_stored(tmp_path):
    staged = tmp_path / "curated" / "staged"
    for municipality in ("utrecht", "eindhoven"):  # a workbook with a free-text column, a CSV
        contract = contract_for(municipality)
        headers = dict(contract.columns, remark="Opmerking")
        rows = planted_rows(contract.columns)
        if contract.file.type == "csv":  # dates as the export writes them
            rows = [{k: f"{v:%d-%m-%Y}" if isinstance(v, date) else v for k, v in r.items()} for r in rows]
        target = tmp_path / "raw" / municipality / "2020-04" / f"export.{contract.file.type}"
        path = write_sheet(target, contract,
                           rows, stand_per=date(2020, 4, 30), headers=headers)
        result = process_delivery(path, contract, "2020-04", Pseudonymiser("planted-key"))
        assert len(result.quarantine) >= 8 and len(result.episodes) >= 6, municipality
        save_result(staged, result)
    publish(tmp_path / "curated", curated_tables(staged))
    raw_hits = leaks(stored_values([tmp_path / "raw"]), PLANTED)
    assert len(raw_hits) > 20  # they are there to find
    stored = list(stored_values([tmp_path / "curated"]))
    assert {"utrecht", "eindhoven"} <= {v for where, v in stored if where == ".records.json"}  # the records index
    quarantine_columns = {where.split(".")[-1] for where, v in stored
                          if "quarantined_rows." in where and v not in (None, "")}
    assert {"raw_record_id", "raw_person_id", "raw_intake_date", "raw_exit_date", "raw_outcome",
            "raw_follow_up"} <= quarantine_columns
    assert leaks(stored, PLANTED) == []


def test_no_identifier_is_kept_in_memory_past_a_delivery(tmp_path, monkeypatch):
    """The scrubber keeps each identifier's parts and expressions between rows (a person recurs in
    every row and month); a long-running worker must not hold them from one batch or file to the
    next: processing and a steward's check both end with nothing of them kept."""
    from transforms import scrub
    from transforms.delivery import check_delivery

    contract = contract_for("utrecht")
    path = write_sheet(tmp_path / "raw" / "utrecht" / "2020-04" / "export.xlsx", contract,
                       planted_rows(contract.columns), stand_per=date(2020, 4, 30),
                       headers=dict(contract.columns, remark="Opmerking"))
    held_at_forget = []
    real_forget = scrub.forget

    def forget() -> None:
        held_at_forget.append(scrub.remembered())
        real_forget()

    monkeypatch.setattr(scrub, "forget", forget)
    scrub.forget()
    held_at_forget.clear()
    result = process_delivery(path, contract, "2020-04", Pseudonymiser("planted-key"))
    assert len(result.quarantine) >= 4 and scrub.remembered() == 0
    check = check_delivery(path, contract, "2020-04", Pseudonymiser("planted-key"))
    assert check.findings and scrub.remembered() == 0
    # the scrubber did hold identifiers while each worked (so the check above is not blind)
    assert len(held_at_forget) == 2 and min(held_at_forget) > 0, held_at_forget
