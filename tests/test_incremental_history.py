"""The history merged per municipality and kept: a run merges only the municipalities whose
inputs changed, and publishes the same bytes as a full rebuild (issue 13).

Both networks are processed with the plain functions (as the flow's tasks do), then changed the
way months change them: a municipality's delivery arrives after the others were merged and
kept, a corrections file appears, a delivery is withdrawn, one is held by the gate and released.
After each change the incremental result is compared with a full rebuild of the same store,
table by table, as the Parquet files and the DuckDB tables a release holds.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from lvv.demo.national import NationalSpec, write_national
from lvv.settings import DEMO_PSEUDONYM_KEY
from schemas.contracts import contracts
from transforms import curate
from transforms.curate import curated_tables
from transforms.delivery import DeliveryInput, process_deliveries
from transforms.discover import discover
from transforms.gate import Verdict, apply_release, hold
from transforms.protect import Pseudonymiser
from transforms.publish import PARQUET_TABLES, write_release
from transforms.store import (EPISODE_SCHEMA, HISTORY_DIR, load_records, load_table, prune, save_record, save_result,
                              write_parquet)

REVISION_CODES = {"episode-disappeared", "intake-changed", "exit-withdrawn", "exit-changed", "outcome-changed"}


def store(raw: Path, staged: Path, only: set[tuple[str, str]] | None = None) -> None:
    """Process the raw deliveries (or only those (municipality, period)) into the store."""
    known = contracts()
    by_municipality: dict[str, list] = {}
    for item in discover(raw, known)[0]:
        if only is None or (item.municipality, item.period) in only:
            by_municipality.setdefault(item.municipality, []).append(item)
    pseudo = Pseudonymiser(DEMO_PSEUDONYM_KEY)
    for municipality, items in by_municipality.items():
        batch = [DeliveryInput(i.path, i.period, i.relative) for i in items]
        for result in process_deliveries(batch, known[municipality], pseudo):
            save_result(staged, result)


def published(tables: dict[str, pd.DataFrame], where: Path) -> dict[str, object]:
    """What a release of these tables holds: each Parquet file's bytes, each DuckDB table's rows."""
    write_release(where, tables)
    out: dict[str, object] = {f"{name}.parquet": (where / f"{name}.parquet").read_bytes() for name in PARQUET_TABLES}
    con = duckdb.connect(str(where / "lvv.duckdb"), read_only=True)
    try:
        for name in tables:
            out[name] = con.execute(f"select * from {name}").fetchall()
            out[f"{name} columns"] = con.execute(f"describe {name}").fetchall()
    finally:
        con.close()
    return out


class Merges:
    """Which municipalities were merged whole (merge_municipality) and which had their latest
    delivery merged into the versions kept (append_deliveries); the rest came from the store."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.merged: list[str] = []
        self.appended: list[str] = []
        merge, append = curate.merge_municipality, curate.append_deliveries

        def merged(staged_root, municipality, *args, **kwargs):
            self.merged.append(municipality)
            return merge(staged_root, municipality, *args, **kwargs)

        def appended(staged_root, located, appends, *args, **kwargs):
            self.appended.extend(appends)
            return append(staged_root, located, appends, *args, **kwargs)

        monkeypatch.setattr(curate, "merge_municipality", merged)
        monkeypatch.setattr(curate, "append_deliveries", appended)

    def take(self) -> tuple[list[str], list[str]]:
        """(merged whole, appended to) since the last take, each sorted."""
        done = sorted(self.merged), sorted(self.appended)
        self.merged, self.appended = [], []
        return done


def same_as_full_rebuild(staged: Path, raw: Path, tmp: Path, label: str) -> dict[str, pd.DataFrame]:
    """The incremental tables, after asserting that they publish exactly what a full rebuild does."""
    incremental = curated_tables(staged, raw)
    copy = tmp / f"full-{label}"
    shutil.copytree(staged, copy)
    shutil.rmtree(copy / HISTORY_DIR)  # nothing kept: every municipality merged again
    full = curated_tables(copy, raw)
    for name in incremental:
        pd.testing.assert_frame_equal(incremental[name], full[name], check_exact=True, obj=f"{label}: {name}")
    assert published(incremental, tmp / f"inc-{label}") == published(full, tmp / f"rel-{label}"), label
    # the quarantined rows, kept with the history, are every stored delivery's as the store holds them
    stored = load_table(staged, "quarantine")
    assert len(stored) and len(incremental["quarantined_rows"]) == len(stored), label
    pd.testing.assert_frame_equal(incremental["quarantined_rows"], stored, check_exact=True, obj=f"{label}: quarantine")
    return incremental


def test_national_network_incremental_equals_full_rebuild(tmp_path, monkeypatch):
    raw, staged = tmp_path / "raw", tmp_path / "staged"
    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "sources"))
    network = write_national(raw, tmp_path / "sources", NationalSpec(
        municipalities=4, months=6, intakes_per_month=6, mistake_rate=0.3), processes=1)
    names = sorted(network.periods)
    late, corrected, withdrawn, gated = names
    last = network.periods[late][-1]
    merges = Merges(monkeypatch)

    # every municipality's deliveries but `late`'s last three months and the others' last month:
    # merged and kept
    months = network.periods[late]
    others = [m for m in names if m != late]
    final = {m: network.periods[m][-1] for m in others}
    store(raw, staged, {(m, p) for m, periods in network.periods.items() for p in periods} - {
        (late, p) for p in months[-3:]} - set(final.items()))
    first = same_as_full_rebuild(staged, raw, tmp_path, "first")
    assert merges.take() == (sorted(names + names), [])  # the incremental run and the full rebuild: all
    assert curated_tables(staged, raw)["episode_versions"].equals(first["episode_versions"])
    assert merges.take() == ([], [])  # nothing changed: nothing merged again

    # the others' last month arrives at once (the monthly case), one delivery of it held by the
    # gate: all appended in one pass, the held one's findings kept and its rows not in force
    store(raw, staged, set(final.items()))
    with_findings = [m for m in others if (staged / m / final[m] / "findings.parquet").exists()]
    held_one = load_records(staged, with_findings[0])[-1]
    save_record(staged, hold(held_one, Verdict(held=True, reasons_nl=["te klein"], reasons_en=["too small"],
                                               codes=["rows-changed"])))
    tables = same_as_full_rebuild(staged, raw, tmp_path, "month")
    assert merges.take() == (names, sorted(others))
    stated = set(tables["episode_versions"]["stated_in"])
    assert {f"{m}/{final[m]}" for m in others if m != with_findings[0]} <= stated
    assert held_one["delivery_id"] not in stated
    stored = load_table(staged, "findings", with_findings[0])
    assert (tables["validation_issues"]["delivery_id"] == held_one["delivery_id"]).sum() >= (
        stored["delivery_id"] == held_one["delivery_id"]).sum() > 0  # the held one's findings are shown

    # the late deliveries arrive month by month: each is merged into the versions kept before it
    for period in months[-3:]:
        store(raw, staged, {(late, period)})
        tables = same_as_full_rebuild(staged, raw, tmp_path, f"late-{period}")
        assert merges.take() == (names, [late])  # the full rebuild merged all; the run appended
        assert f"{late}/{period}" in set(tables["episode_versions"]["stated_in"])
    late_issues = tables["validation_issues"]
    assert (late_issues["delivery_id"].str.startswith(f"{late}/") & late_issues["code"].isin(REVISION_CODES)).any()

    # a corrections file: an earlier intake date for a stay of its first delivery
    period = network.periods[corrected][0]
    rows = load_table(staged, "episodes", corrected)
    row = rows[rows["delivery_id"] == f"{corrected}/{period}"].iloc[0]
    new_intake = (pd.Timestamp(row["intake_date"]) - timedelta(days=3)).strftime("%d-%m-%Y")
    when = (pd.Timestamp(row["known_from"]) + timedelta(days=2)).strftime("%d-%m-%Y")
    for reason, label in (("dossier nagekeken", "corrected"), ("brief van de IND", "recorrected")):
        (raw / corrected / "corrections.csv").write_text(
            "verblijf;levering;rij;veld;nieuwe waarde;reden;door;datum\n"
            f";{period};{row['excel_row']};instroomdatum;{new_intake};{reason};steward;{when}\n",
            encoding="utf-8")
        tables = same_as_full_rebuild(staged, raw, tmp_path, label)
        assert merges.take() == (sorted([corrected, *names]), [])  # the same file, other content: again
        assert tables["episode_versions"]["correction"].str.contains(reason).sum() == 1

    # a delivery withdrawn (its raw file gone, pruned from the store)
    gone = network.periods[withdrawn][2]
    shutil.rmtree(raw / withdrawn / gone)
    keep = {(m, p) for m, periods in network.periods.items() for p in periods} - {(withdrawn, gone)}
    assert prune(staged, keep) == [f"{withdrawn}/{gone}"]
    tables = same_as_full_rebuild(staged, raw, tmp_path, "withdrawn")
    assert merges.take() == (sorted([withdrawn, *names]), [])
    assert f"{withdrawn}/{gone}" not in set(tables["deliveries"]["delivery_id"])

    # the gate holds a delivery, then a steward releases it: merged again each time
    records = load_records(staged, gated)
    record = records[-1]
    held = hold(record, Verdict(held=True, reasons_nl=["te klein"], reasons_en=["too small"], codes=["rows-changed"]))
    assert held["status"] == "held"
    save_record(staged, held)
    tables = same_as_full_rebuild(staged, raw, tmp_path, "held")
    assert merges.take() == (sorted([gated, *names]), [])
    assert record["delivery_id"] not in set(tables["episode_versions"]["stated_in"])
    save_record(staged, apply_release(held, {"released_by": "steward", "released_at": "2020-12-01T10:00:00+00:00",
                                             "reason": "checked"}))
    tables = same_as_full_rebuild(staged, raw, tmp_path, "released")
    assert merges.take() == (sorted([gated, *names]), [])
    assert record["delivery_id"] in set(tables["episode_versions"]["stated_in"])
    shown = tables["deliveries"].set_index("delivery_id")
    assert "released by steward" in shown.loc[record["delivery_id"], "status_reason"]

    # what the comparison covered: revisions and corrections among the findings
    codes = set(tables["validation_issues"]["code"])
    assert codes & REVISION_CODES and any(c.startswith("correction-") for c in codes), codes


def test_demo_incremental_equals_full_rebuild(tmp_path, monkeypatch, demo_pristine):
    raw, staged = tmp_path / "raw", tmp_path / "staged"
    shutil.copytree(demo_pristine.raw, raw)  # the files write_demo writes (the session's demo run wrote them)
    everything = {(i.municipality, i.period) for i in discover(raw, contracts())[0]}
    newest = max(p for _, p in everything)
    added_late = sorted(m for m, p in everything if p == newest)[0]
    merges = Merges(monkeypatch)
    store(raw, staged, everything - {(added_late, newest)})
    curated_tables(staged, raw)
    merges.take()
    store(raw, staged, {(added_late, newest)})
    tables = same_as_full_rebuild(staged, raw, tmp_path, "demo")
    assert merges.take() == (sorted({m for m, _ in everything}), [added_late])
    assert len(tables["episode_versions"]) and len(tables["validation_issues"])


def test_a_month_appended_with_a_quarantined_row_keeps_its_version_and_shows_the_row(tmp_path, monkeypatch):
    """A new latest delivery that quarantined a row of an episode in force (written here by hand,
    with a column no contract has: no generated month of this network quarantines one): appended,
    the episode's version stays in force and the row is among the quarantined rows kept, as a full
    rebuild has them."""
    raw, staged = tmp_path / "raw", tmp_path / "staged"
    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "sources"))
    network = write_national(raw, tmp_path / "sources", NationalSpec(municipalities=2, months=3, intakes_per_month=5),
                             processes=1)
    names = sorted(network.periods)
    last = {m: network.periods[m][-1] for m in names}
    merges = Merges(monkeypatch)
    store(raw, staged, {(m, p) for m, periods in network.periods.items() for p in periods} - set(last.items()))
    curated_tables(staged, raw)
    merges.take()
    store(raw, staged, set(last.items()))
    municipality = names[0]
    folder = staged / municipality / last[municipality]
    rows = pd.read_parquet(folder / "episodes.parquet")
    held = rows.iloc[0]
    write_parquet(rows.iloc[1:].reset_index(drop=True), folder / "episodes.parquet", EPISODE_SCHEMA)
    write_parquet(pd.DataFrame({"delivery_id": [held["delivery_id"]], "municipality": [municipality],
                                "excel_row": [int(held["excel_row"])], "episode_id": [held["episode_id"]],
                                "reasons": ["date-unparseable"], "person_id": [held["person_id"]],
                                "raw_something_new": ["31-02-2020"]}), folder / "quarantine.parquet")
    record = load_records(staged, municipality)[-1]
    save_record(staged, {**record, "rows_curated": record["rows_curated"] - 1,
                         "rows_quarantined": record["rows_quarantined"] + 1})
    tables = same_as_full_rebuild(staged, raw, tmp_path, "quarantined")
    assert merges.take() == (names, names)  # the run appended both municipalities' month
    shown = tables["quarantined_rows"]
    assert shown.loc[shown["delivery_id"] == held["delivery_id"], "raw_something_new"].tolist() == ["31-02-2020"]
    versions = tables["episode_versions"]
    current = versions[(versions["episode_id"] == held["episode_id"]) & versions["known_to"].isna()]
    assert len(current) == 1 and current["stated_in"].iloc[0] != held["delivery_id"]  # carried from before


def test_a_history_kept_by_other_code_or_in_another_layout_is_merged_again_once_and_says_so(tmp_path, monkeypatch):
    """A kept history that matches no municipality (made by other code, here a changed digest of
    it; or the first round's per-municipality folders, written here by hand) is merged again once,
    and the run is told so; the run after takes it as kept and says nothing."""
    raw, staged = tmp_path / "raw", tmp_path / "staged"
    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "sources"))
    network = write_national(raw, tmp_path / "sources", NationalSpec(municipalities=2, months=2, intakes_per_month=3),
                             processes=1)
    names = sorted(network.periods)
    store(raw, staged)
    first: dict[str, list[str]] = {}
    curated_tables(staged, raw, merges=first)
    assert first == {"kept": [], "appended": [], "merged": names, "other_layout": []}  # nothing kept yet
    changed = curate.code_digest("nl")
    changed.update(b"other code")
    monkeypatch.setattr(curate, "code_digest", lambda lang="nl": changed.copy())
    again: dict[str, list[str]] = {}
    curated_tables(staged, raw, merges=again)
    assert again["merged"] == names and again["other_layout"] == [str(staged / HISTORY_DIR)]
    after: dict[str, list[str]] = {}
    curated_tables(staged, raw, merges=after)
    assert after == {"kept": names, "appended": [], "merged": [], "other_layout": []}
    shutil.rmtree(staged / HISTORY_DIR)
    old = staged / HISTORY_DIR / names[0] / "0123abcd"  # the first round's layout
    old.mkdir(parents=True)
    (old / "versions.parquet").write_bytes(b"")
    layout: dict[str, list[str]] = {}
    curated_tables(staged, raw, merges=layout)
    assert layout["merged"] == names and layout["other_layout"] == [str(staged / HISTORY_DIR)]


def test_findings_in_another_language_are_merged_again(tmp_path, monkeypatch):
    """The fingerprint covers the findings' language, not only the data."""
    raw, staged = tmp_path / "raw", tmp_path / "staged"
    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "sources"))
    network = write_national(raw, tmp_path / "sources", NationalSpec(municipalities=2, months=3, intakes_per_month=4),
                             processes=1)
    store(raw, staged)
    merges = Merges(monkeypatch)
    curated_tables(staged, raw)
    assert merges.take() == (sorted(network.periods), [])
    english = curated_tables(staged, raw, lang="en")
    assert merges.take() == (sorted(network.periods), [])
    assert english["validation_issues"].equals(curated_tables(staged, raw, lang="en")["validation_issues"])
    assert merges.take() == ([], [])


@pytest.mark.flow
def test_a_monthly_run_through_the_flow_publishes_what_a_full_rebuild_does(tmp_path, monkeypatch, prefect_harness):
    """The flow's increment (the last month added to a published history) and a full rebuild of the
    same files publish the same Parquet bytes; the increment's tasks take the run's key instead of
    looking at every raw file again (once per municipality, growing with the files stored)."""
    from flows import monthly_outflow as flow_module
    from flows.monthly_outflow import RunParameters, monthly_outflow
    from lvv.demo.periods import month_end, parse_period
    from lvv.settings import KEY_ENV, DataPaths

    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "sources"))
    monkeypatch.setenv(KEY_ENV, "a-test-key-not-the-demo-one")
    increment, full = DataPaths(tmp_path / "increment"), DataPaths(tmp_path / "full")
    network = write_national(increment.raw, tmp_path / "sources", NationalSpec(
        municipalities=3, months=4, intakes_per_month=5, mistake_rate=0.3), processes=1)
    last = max(p for periods in network.periods.values() for p in periods)
    shutil.copytree(increment.raw, full.raw)
    for municipality in network.periods:
        shutil.move(increment.raw / municipality / last, tmp_path / "aside" / municipality / last)

    def run(paths: DataPaths) -> dict:
        return monthly_outflow(RunParameters(data_dir=str(paths.root), reference_date=month_end(parse_period(last))))

    assert run(increment)["published"]
    for municipality in network.periods:
        shutil.move(tmp_path / "aside" / municipality / last, increment.raw / municipality / last)
    asked = []
    checked = flow_module.pseudonym_key
    monkeypatch.setattr(flow_module, "pseudonym_key", lambda raw: asked.append(raw) or checked(raw))
    summary = run(increment)
    assert summary["published"] and sorted(d["delivery_id"] for d in summary["processed"]) == sorted(
        f"{m}/{last}" for m in network.periods)
    assert asked == [increment.raw] and not flow_module._RUN_KEYS  # once, by the flow itself
    assert run(full)["published"]
    for name in PARQUET_TABLES:
        assert (increment.curated / f"{name}.parquet").read_bytes() == (full.curated / f"{name}.parquet").read_bytes(), name
