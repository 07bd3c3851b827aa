"""The synthetic demo: determinism, the no-overwrite guard, calibration on the published
figures, the layout of each municipality's files, the history across deliveries and the
planted mistakes.

The demo is written once per module (a few seconds); the files are read back with openpyxl and
the csv module by a small reader below, driven by the demo's own register tables
(lvv/demo/registers.py) and the tests' own rule table (oracle_tables.py): nothing of the
pipeline's contracts, label look-ups or counting rules.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from lvv.demo import (
    DEMO_PSEUDONYM_KEY,
    MANIFEST_NAME,
    DemoError,
    truth_episodes,
    write_demo,
)
from lvv.demo.registers import REGISTERS, Register
from lvv.demo.render import Renderer
from lvv.demo.scenario import DEFAULT_HABITS
from lvv.demo.truth import build_truth
from lvv.demo.writer import lay_out, to_bytes
from lvv.settings import is_demo_data
from oracle_tables import classify as classify_one

SEED = 2020_11_01
PILOTS = ["amsterdam", "eindhoven", "groningen", "rotterdam", "utrecht"]
REF_A, REF_B, REF_C = (
    pd.Timestamp("2020-11-01"),
    pd.Timestamp("2019-12-31"),
    pd.Timestamp("2022-07-01"),
)
EXCEL_EPOCH = date(1899, 12, 30)
#: rows under the data that are not data (totals, footers)
NOT_DATA = ("^totaal", "^opmerking", "^aantal")


def contracts() -> dict[str, Register]:
    """Each pilot's register as the demo writes it (the reader needs no source contract)."""
    return REGISTERS


def normalise_label(label: object) -> str:
    return re.sub(r"\s+", " ", str(label)).strip().casefold().rstrip(" .")


def outcome_lookup(reg: Register) -> dict[str, tuple[str, str | None]]:
    return {normalise_label(label): key for key, labels in reg.outcome_labels.items()
            for label in labels}


def follow_up_lookup(reg: Register) -> dict[str, str]:
    return {normalise_label(label): code for code, labels in reg.follow_up_labels.items()
            for label in labels}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    return write_demo(raw, seed=SEED)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return truth_episodes(SEED)


def delivery(demo, municipality: str, period: str):
    return next(d for d in demo.deliveries if d.municipality == municipality and d.period == period)


# ------------------------------------------------------------------ a contract-driven reader
def sheet_rows(path: Path, contract: Register) -> list[list]:
    """Every row of the file as a list of cell values (text for a CSV)."""
    if contract.file_type == "xlsx":
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            return [list(r) for r in wb[contract.sheet].iter_rows(values_only=True)]
        finally:
            wb.close()
    text = path.read_bytes().decode(contract.encoding)
    return [
        list(r)
        for r in csv.reader(io.StringIO(text, newline=""), delimiter=contract.delimiter)
    ]


def parse_date(value, contract: Register) -> date:
    if contract.date_stored_as == "date" and isinstance(value, datetime):
        return value.date()
    if contract.date_stored_as == "excel_serial" and isinstance(value, int):
        return EXCEL_EPOCH + timedelta(days=value)
    if contract.date_stored_as == "text" and isinstance(value, str):
        for fmt in contract.date_formats:
            try:
                return datetime.strptime(value, fmt).date()
            except ValueError:
                pass
    raise ValueError(f"not a date in this notation: {value!r}")


def blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_delivery(path: Path, contract: Register) -> tuple[list[dict], list[tuple[int, str]]]:
    """(records with canonical fields, problems as (row, what)) of one delivery."""
    rows = sheet_rows(path, contract)
    header = rows[contract.header_row - 1]
    col = {field: header.index(name) for field, name in contract.columns.items()}
    not_data = [re.compile(p, re.IGNORECASE) for p in NOT_DATA]
    outcomes, follow_ups = outcome_lookup(contract), follow_up_lookup(contract)
    records, problems = [], []
    for number, cells in enumerate(
        rows[contract.header_row :], start=contract.header_row + 1
    ):
        cells = list(cells) + [None] * (len(header) - len(cells))
        if all(blank(c) for c in cells):
            continue
        if isinstance(cells[0], str) and any(p.search(cells[0].strip()) for p in not_data):
            continue
        rec = {
            "row": number,
            "record_id": str(cells[col["record_id"]]),
            "person_id": cells[col["person_id"]],
        }
        try:
            if blank(rec["person_id"]):
                raise ValueError("person id missing")
            for f in ("intake_date", "exit_date", "birth_date"):
                if f in col:
                    v = cells[col[f]]
                    rec[f] = None if (f == "exit_date" and blank(v)) else parse_date(v, contract)
            label = cells[col["outcome"]]
            outcome, follow_up = (None, None) if blank(label) else outcomes[normalise_label(label)]
            if outcome == "immigration_detention":
                if "follow_up" in col:
                    v = cells[col["follow_up"]]
                    follow_up = "unknown" if blank(v) else follow_ups[normalise_label(v)]
                follow_up = follow_up or "unknown"
            rec["outcome"], rec["follow_up"] = outcome, follow_up
            if rec["exit_date"] is not None and rec["exit_date"] <= rec["intake_date"]:
                raise ValueError("exit before intake")
        except (ValueError, KeyError) as exc:
            problems.append((number, str(exc)))
            continue
        records.append(rec)
    return records, problems


def as_set(records) -> set[tuple]:
    return {
        (
            r["record_id"],
            r["person_id"],
            r["intake_date"],
            r["exit_date"],
            r["outcome"],
            r["follow_up"],
        )
        for r in records
    }


# ------------------------------------------------------------------ determinism and the guard
def test_sized_and_recognised(demo):
    assert len(demo.files) == len(demo.deliveries) == 195  # 41 + 37 + 40 + 38 + 39 months
    assert demo.rows > 40_000
    assert demo.pseudonym_key == DEMO_PSEUDONYM_KEY == "lvv-demo-key-not-secret"
    manifest = json.loads((demo.raw_dir / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {d.file for d in demo.deliveries}
    assert is_demo_data(demo.raw_dir)  # the pipeline recognises demo data by this manifest


def test_two_runs_give_identical_bytes(demo, tmp_path):
    """A second run in a fresh interpreter (other hash seed) writes the same bytes."""
    script = "import sys, lvv.demo as d; d.write_demo(sys.argv[1], seed=int(sys.argv[2]))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(SEED)],
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    for d in demo.deliveries:
        assert (tmp_path / d.file).read_bytes() == (demo.raw_dir / d.file).read_bytes(), d.file
    assert (tmp_path / MANIFEST_NAME).read_bytes() == (demo.raw_dir / MANIFEST_NAME).read_bytes()


def test_rerun_over_own_output_is_fine(demo):
    again = write_demo(demo.raw_dir, seed=SEED)
    assert again.written == 0 and len(again.files) == len(demo.files)


def test_foreign_file_is_never_overwritten(demo, tmp_path):
    target = tmp_path / delivery(demo, "utrecht", "2021-03").file
    target.parent.mkdir(parents=True)
    target.write_bytes(b"the steward's own work")
    with pytest.raises(DemoError, match=re.escape(str(target))):
        write_demo(tmp_path, seed=SEED)
    assert target.read_bytes() == b"the steward's own work"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [target]  # nothing else written


def test_a_demo_file_changed_by_hand_is_not_overwritten(demo, tmp_path):
    rel = delivery(demo, "groningen", "2020-01").file
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(b"edited")
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"files": {rel: "0" * 64}}))
    with pytest.raises(DemoError, match="groningen"):
        write_demo(tmp_path, seed=SEED)
    assert (tmp_path / rel).read_bytes() == b"edited"


# ------------------------------------------------------------------ calibration (published figures)
def persons(frame: pd.DataFrame) -> int:
    """Distinct persons per municipality, summed over municipalities."""
    return int(frame.groupby("municipality")["person_id"].nunique().sum())


def outflow(df: pd.DataFrame, ref: pd.Timestamp) -> pd.DataFrame:
    return df[df["exit_date"].notna() & (df["exit_date"] <= ref)]


def classify(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    keys = zip(df["outcome_code"], df["follow_up_code"], strict=True)
    picked = [classify_one(rule, o, None if pd.isna(f) else f) for o, f in keys]
    return df.assign(line=[p[0] for p in picked], durability=[p[1] for p in picked])


def test_table_a_outflow_at_1_november_2020(truth):
    out = classify(outflow(truth, REF_A), "evaluation-2021")
    lines = {line: persons(part) for line, part in out.groupby("line")}
    assert lines == {
        "legalised": 43,
        "returned": 50,
        "onward_migration": 2,
        "repeat_application": 170,
        "postponed_departure": 20,
        "departed_unknown": 100,
        "stay_terminated": 76,
        "other_non_durable": 76,
    }
    assert persons(out) == 537
    assert out["municipality"].nunique() == 5


def test_programme_counts_forced_departure_after_detention_as_durable(truth):
    out = outflow(truth, REF_A)
    programme = classify(out, "programme")
    evaluation = classify(out, "evaluation-2021")
    durable_programme = persons(programme[programme["durability"] == "durable"])
    durable_evaluation = persons(evaluation[evaluation["durability"] == "durable"])
    forced = out[
        (out["outcome_code"] == "immigration_detention")
        & (out["follow_up_code"] == "forced_departure")
    ]
    assert durable_programme - durable_evaluation == persons(forced) == 12


def test_table_b_end_of_2019(truth):
    came = truth[truth["intake_date"] <= REF_B]
    open_ = came[came["exit_date"].isna() | (came["exit_date"] > REF_B)]
    inflow = came.groupby("municipality")["person_id"].nunique()
    occupancy = open_.groupby("municipality")["person_id"].nunique()
    assert int(inflow.sum()) == 1019
    assert inflow["amsterdam"] == 287 and inflow["eindhoven"] == 33
    assert (
        occupancy["groningen"] == 201
        and occupancy["rotterdam"] == 73
        and occupancy["utrecht"] == 268
    )


def test_table_c_final_evaluation(truth):
    assert persons(truth[truth["intake_date"] <= REF_C]) == 2065
    out = classify(outflow(truth, REF_C), "evaluation-2022")
    total = persons(out)
    assert total == 1258
    shares = {k: round(100 * persons(part) / total) for k, part in out.groupby("durability")}
    assert shares == {"durable": 18, "semi_durable": 41, "non_durable": 41}


def test_truth_is_coherent(truth):
    pilot = {m: pd.Timestamp(c.pilot_start) for m, c in contracts().items()}
    assert (truth["intake_date"] >= truth["municipality"].map(pilot)).all()
    closed = truth[truth["exit_date"].notna()]
    assert (closed["exit_date"] > closed["intake_date"]).all()
    assert truth[["intake_date", "exit_date"]].max().max() <= pd.Timestamp("2022-07-31")
    assert not truth.duplicated(["municipality", "person_id"]).any()
    assert truth["person_id"].str.fullmatch(r"\d{10}").all()
    assert truth["person_id"].str.startswith("0").any()
    assert truth["birth_date"].dt.year.between(1960, 2002).all()
    # Groningen's earlier BBB+ clients come in on the pilot start itself
    assert (
        truth[truth["municipality"] == "groningen"]["intake_date"] == pilot["groningen"]
    ).sum() >= 100
    # one person moves between two pilots: other shelter first, same birth date later
    moved = truth[truth.duplicated("person_id", keep=False)].sort_values("intake_date")
    assert len(moved) == 2 and moved["municipality"].nunique() == 2
    assert moved["birth_date"].nunique() == 1
    assert moved.iloc[0]["outcome_code"] == "other_shelter"
    assert moved.iloc[1]["intake_date"] > moved.iloc[0]["exit_date"]


# ------------------------------------------------------------------ layout of each municipality
def test_amsterdam_title_block_date_cells_and_blank_rows(demo):
    d = delivery(demo, "amsterdam", "2020-11")
    rows = sheet_rows(demo.raw_dir / d.file, contracts()["amsterdam"])
    assert rows[0][0] == "LVV Amsterdam – cliëntregistratie"
    assert rows[1][0] == "Stand per" and rows[1][1] == datetime(2020, 11, 30)
    assert all(v is None for v in rows[2] + rows[3])
    assert rows[4][:9] == list(contracts()["amsterdam"].columns.values())
    data = rows[5:]
    assert isinstance(data[0][5], datetime) and isinstance(data[0][4], datetime)
    assert isinstance(data[0][1], str) and len(data[0][1]) == 10
    empty_between = [i for i, r in enumerate(data[:-1]) if all(v is None for v in r)]
    assert 1 <= len(empty_between) <= len(data) // 20
    wb = openpyxl.load_workbook(demo.raw_dir / d.file)
    assert wb.properties.created == datetime(2020, 11, 30, 17, 30)
    assert wb.sheetnames == ["Cliënten LVV"]


def test_groningen_serial_numbers_and_totals_row(demo):
    contract = contracts()["groningen"]
    d = delivery(demo, "groningen", "2019-04")
    rows = sheet_rows(demo.raw_dir / d.file, contract)
    assert rows[0][0] == "LVV Groningen – cliëntregistratie"
    assert rows[1][:2] == ["Stand per", datetime(2019, 4, 30)]
    first = rows[3]
    assert first[5] == 43556 and isinstance(first[5], int)  # 2019-04-01, the BBB+ take-over
    assert isinstance(first[4], int)  # birth date as a serial too
    assert rows[-1][:2] == ["Totaal", d.rows]
    assert len(rows) == 3 + d.rows + 1


def test_utrecht_stand_per_extra_column_footer(demo):
    contract = contracts()["utrecht"]
    d = delivery(demo, "utrecht", "2021-06")
    rows = sheet_rows(demo.raw_dir / d.file, contract)
    assert rows[0][:2] == ["Stand per", datetime(2021, 6, 30)]
    assert rows[1] == list(contract.columns.values()) + ["Opmerking"]
    assert "Opmerking" not in contract.columns.values()
    remarks = [r[-1] for r in rows[2:] if r[-1] is not None]
    assert 0 < len(remarks) < d.rows / 5
    assert rows[-1][0] == f"Aantal cliënten: {d.rows}" and all(v is None for v in rows[-2])
    assert any(all(v is None for v in r) for r in rows[2:-2])  # blank rows between data rows


def test_rotterdam_text_dates_in_several_formats_and_label_noise(demo):
    contract = contracts()["rotterdam"]
    rows = sheet_rows(demo.raw_dir / delivery(demo, "rotterdam", "2022-07").file, contract)
    assert rows[0] == list(contract.columns.values())
    intake = [r[5] for r in rows[1:]]
    assert all(isinstance(v, str) for v in intake)
    shapes = {re.sub(r"\d", "9", v) for v in intake}
    assert shapes == {"99-99-9999", "99/99/9999", "9999-99-99"}
    assert sum(re.fullmatch(r"\d\d-\d\d-\d{4}", v) is not None for v in intake) > len(intake) / 2
    labels = [r[7] for r in rows[1:] if r[7] is not None]
    assert {"VVR", "HA"} & set(labels)  # several labels for one code
    noisy = [v for v in labels if v not in contract.all_outcome_labels()]
    assert noisy and all(normalise_label(v) in outcome_lookup(contract) for v in noisy)


def test_eindhoven_cp1252_csv(demo):
    contract = contracts()["eindhoven"]
    raw = (demo.raw_dir / delivery(demo, "eindhoven", "2021-01").file).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    for ch in "éëçö":
        assert ch.encode("cp1252") in raw
    lines = raw.decode("cp1252").split("\r\n")
    assert lines[0].split(";") == list(contract.columns.values())
    first = lines[1].split(";")
    assert re.fullmatch(r"\d{2}-\d{2}-\d{4}", first[4])
    labels = [line.split(";")[6] for line in lines[1:] if line and line.split(";")[6]]
    assert any(v not in contract.all_outcome_labels() for v in labels)  # noisy capitals, spaces


# ------------------------------------------------------------------ content across deliveries
def test_deliveries_read_back(demo):
    """Rows add up, nothing is later than the stand-per date, and only the planted rows fail.

    Every quarter's deliveries and every one with a planted mistake (all 195 take ~10 s)."""
    planted = {(p.file, p.excel_row) for p in demo.planted}
    sample = {p.file for p in demo.planted}
    for d in demo.deliveries:
        if d.file not in sample and d.period[5:] not in ("01", "04", "07", "10"):
            continue
        contract = contracts()[d.municipality]
        records, problems = read_delivery(demo.raw_dir / d.file, contract)
        assert {(d.file, row) for row, _ in problems} <= planted, (d.file, problems)
        assert len(records) + len(problems) == d.rows
        for r in records:
            assert r["intake_date"] <= d.stand_per
            assert r["exit_date"] is None or r["exit_date"] <= d.stand_per


def test_last_deliveries_state_the_truth(demo, truth):
    for muni in PILOTS:
        records, problems = read_delivery(
            demo.raw_dir / delivery(demo, muni, "2022-07").file, contracts()[muni]
        )
        assert not problems
        mine = truth[truth["municipality"] == muni]
        expected = {
            (
                r.record_id,
                r.person_id,
                r.intake_date.date(),
                None if pd.isna(r.exit_date) else r.exit_date.date(),
                None if r.outcome_code is None or pd.isna(r.outcome_code) else r.outcome_code,
                None if r.follow_up_code is None or pd.isna(r.follow_up_code) else r.follow_up_code,
            )
            for r in mine.itertuples()
        }
        assert as_set(records) == expected


def test_the_2020_11_deliveries_differ_from_the_final_state(demo):
    """Late exits, MOB later corrected and follow-ups known later straddle the REF_A delivery."""
    stated = {}
    for muni in PILOTS:
        records, _ = read_delivery(
            demo.raw_dir / delivery(demo, muni, "2020-11").file, contracts()[muni]
        )
        stated.update({(muni, r["record_id"]): r for r in records})

    def straddles(rev) -> bool:
        return rev.exit_date <= REF_A.date() and rev.fixed_period > "2020-11" >= rev.first_period

    late = [r for r in demo.revisions if r.kind == "exit-registered-late" and straddles(r)]
    mob = [r for r in demo.revisions if r.kind == "outcome-corrected" and straddles(r)]
    follow = [
        r
        for r in demo.revisions
        if r.kind == "follow-up-known-later"
        and straddles(r)
        and r.stated_after == "forced_departure"
    ]
    assert len(late) >= 6 and len(mob) >= 5 and len(follow) >= 4
    for r in late:
        assert stated[(r.municipality, r.record_id)]["exit_date"] is None
    for r in mob:
        assert r.stated_before == "departed_unknown" and r.stated_after == "return_independent"
        assert stated[(r.municipality, r.record_id)]["outcome"] == "departed_unknown"
    for r in follow:
        assert stated[(r.municipality, r.record_id)]["follow_up"] == "unknown"
    out_2020_11 = [r for r in stated.values() if r["exit_date"] and r["exit_date"] <= REF_A.date()]
    assert len(out_2020_11) == 537 - len(late)


# ------------------------------------------------------------------ planted mistakes
def test_planted_mistakes_are_where_the_result_says(demo):
    kinds = {p.kind for p in demo.planted}
    assert kinds == {
        "date-unparseable",
        "outcome-unknown-label",
        "person-id-missing",
        "exit-before-intake",
    }
    last_two = {"2022-06", "2022-07"}
    for p in demo.planted:
        assert p.period not in last_two
        contract = contracts()[p.municipality]
        rows = sheet_rows(demo.raw_dir / p.file, contract)
        header = rows[contract.header_row - 1]
        row = rows[p.excel_row - 1]
        cell = row[header.index(p.column)]
        expected = p.value
        if contract.file_type == "csv":
            expected = "" if p.value is None else str(p.value)
        elif isinstance(p.value, date):
            expected = datetime.combine(p.value, datetime.min.time())
        assert cell == expected, p
        assert str(row[0]) == p.record_id
        assert p.column == contract.columns[p.field]
        if p.kind == "outcome-unknown-label":
            assert normalise_label(cell) not in outcome_lookup(contract)
        # fixed in the next delivery
        following = next(
            d for d in demo.deliveries if d.municipality == p.municipality and d.period > p.period
        )
        records, problems = read_delivery(demo.raw_dir / following.file, contract)
        assert any(r["record_id"] == p.record_id for r in records) and not problems


# ------------------------------------------------------------------ a sixth register just works
def test_writer_is_driven_by_the_register_alone(tmp_path):
    plain = ("permit_granted", "return_forced", "onward_migration", "repeat_application",
             "postponed_departure", "departed_unknown", "stay_terminated", "criminal_detention",
             "other_shelter", "own_network", "back_to_bbb", "deceased")
    sixth = Register(
        municipality="zwolle",
        display_name="Zwolle",
        pilot_start=date(2019, 3, 1),
        file_type="csv",
        delimiter="\t",
        header_row=3,
        encoding="utf-8",
        stand_per_label="Peildatum",
        columns={"person_id": "Vnr", "record_id": "Nr", "intake_date": "In", "exit_date": "Uit",
                 "outcome": "Reden", "follow_up": "Daarna"},
        date_stored_as="excel_serial",
        outcome_labels={("return_independent", None): ("Terugkeer",),
                        ("immigration_detention", None): ("VB",),
                        **{(code, None): (code,) for code in plain}},
        follow_up_labels={"forced_departure": ("Uitgezet",), "released": ("Vrij",)},
    )
    truth = build_truth(SEED)
    renderer = Renderer(sixth, DEFAULT_HABITS)
    episodes = truth.of("amsterdam")[:300]
    period = 2022 * 12 + 6
    data = [(e.key, renderer.row(e, period), False) for e in episodes]
    sheet = lay_out(sixth, DEFAULT_HABITS, date(2022, 7, 31), renderer.headers, data)
    path = tmp_path / "zwolle.csv"
    path.write_bytes(to_bytes(sixth, sheet, date(2022, 7, 31)))
    text = path.read_bytes().decode("utf-8").split("\r\n")
    assert text[0] == "LVV Zwolle – cliëntregistratie" and text[1] == "Peildatum\t31-07-2022"
    assert text[2] == "Vnr\tNr\tIn\tUit\tReden\tDaarna"
    rows = [line.split("\t") for line in text[3:] if line]
    mapped = {normalise_label(label) for label in sixth.all_outcome_labels()}
    for e, row in zip(episodes, rows, strict=True):
        assert row[0] == e.person_id and row[1] == str(e.record_id)
        assert int(row[2]) == (e.intake_date - EXCEL_EPOCH).days
        assert row[4] == "" or normalise_label(row[4]) in mapped


def test_the_generator_reads_no_contract():
    """The demo's files come from its own tables: no module of lvv/demo (but the national-scale
    benchmark generator, which writes contracts for the pipeline) imports schemas/ or transforms/,
    but transforms.files, the shared writer of whole files, which knows nothing of the data."""
    demo_dir = Path(__file__).resolve().parents[1] / "lvv" / "demo"
    for module in demo_dir.glob("*.py"):
        if module.name == "national.py":
            continue
        text = module.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (schemas|transforms(?!\.files import)|flows|sql)\b", text, re.M), module
