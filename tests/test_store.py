"""The per-delivery store: one Arrow schema per table, no file for no rows, older stores still load."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.checks import FINDING_COLUMNS
from schemas.contracts import contract_for
from tests.conftest import good_row, write_sheet
from transforms import curate
from transforms.curate import QUARANTINE_COLUMNS, curated_tables
from transforms.delivery import DeliveryResult, process_delivery
from transforms.protect import Pseudonymiser
from schemas.checks import Finding
from transforms.store import (EPISODE_SCHEMA, FINDING_SCHEMA, TABLES, findings_table, load_delivery_table, load_delivery_tables,
                              load_records, load_table, prune, save_result, text_schema, write_parquet)

PSEUDO = Pseudonymiser("test-key")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, DeliveryResult]:
    """Four deliveries that between them hold every shape a stored table takes."""
    raw = tmp_path_factory.mktemp("raw")
    ams, ehv, utr = contract_for("amsterdam"), contract_for("eindhoven"), contract_for("utrecht")
    no_exits = write_sheet(raw / "a-09.xlsx", ams, [good_row(1), good_row(2)], stand_per=date(2020, 9, 30))
    exits = write_sheet(raw / "a-10.xlsx", ams, [good_row(1, exit_date=date(2020, 10, 5), outcome="MOB"),
                                                 good_row(2, person_id="12345")],
                        stand_per=date(2020, 10, 31))
    csv = write_sheet(raw / "e-10.csv", ehv, [good_row(3, intake_date="05-09-2019"),
                                              good_row(4, intake_date="05-09-2019", exit_date="31-02-2020")])
    unusable = raw / "u-10.xlsx"
    unusable.write_bytes(b"")
    out = {
        "amsterdam/2020-09": process_delivery(no_exits, ams, "2020-09", PSEUDO),
        "amsterdam/2020-10": process_delivery(exits, ams, "2020-10", PSEUDO),
        "eindhoven/2020-10": process_delivery(csv, ehv, "2020-10", PSEUDO),
        "utrecht/2020-10": process_delivery(unusable, utr, "2020-10", PSEUDO),
    }
    # the shapes this module is about, so that a change in the checks cannot quietly empty it
    no_exits = out["amsterdam/2020-09"]
    assert no_exits.episodes["exit_date"].isna().all() and not no_exits.findings and no_exits.quarantine.empty
    assert out["amsterdam/2020-10"].quarantine["person_id"].isna().all()  # no valid person number
    assert out["eindhoven/2020-10"].quarantine["person_id"].notna().all()
    assert "raw_follow_up" in out["amsterdam/2020-10"].quarantine
    assert "raw_follow_up" not in out["eindhoven/2020-10"].quarantine
    assert not out["utrecht/2020-10"].accepted and out["utrecht/2020-10"].findings
    return out


def new_store(root: Path, results: dict[str, DeliveryResult]) -> Path:
    for result in results.values():
        save_result(root, result)
    return root


# ------------------------------------------------------------------ writing
def test_every_stored_table_has_one_schema_whatever_the_delivery_holds(tmp_path, results):
    staged = new_store(tmp_path, results)
    for path in staged.glob("*/*/episodes.parquet"):
        assert pq.read_schema(path).remove_metadata() == EPISODE_SCHEMA, path
    for path in staged.glob("*/*/findings.parquet"):
        assert pq.read_schema(path).remove_metadata() == FINDING_SCHEMA, path
    no_exits = pq.read_table(staged / "amsterdam" / "2020-09" / "episodes.parquet")
    assert no_exits.schema.field("exit_date").type == pa.date32() and no_exits["exit_date"].null_count == 2
    for path in staged.glob("*/*/quarantine.parquet"):
        types = {f.name: f.type for f in pq.read_schema(path)}
        assert types.pop("excel_row") == pa.int64()
        assert set(types.values()) == {pa.string()}, path  # person_id too where none was valid
    # the defect this fixes: the files of one table now concatenate as Arrow tables as they are
    # (the quarantine's by name, its raw columns being the municipality's)
    for name in TABLES:
        tables = [pq.read_table(p) for p in sorted(staged.glob(f"*/*/{name}.parquet"))]
        pa.concat_tables(tables, promote_options="default" if name == "quarantine" else "none")


def test_a_table_without_rows_has_no_file_and_reads_as_no_rows(tmp_path, results):
    staged = new_store(tmp_path, results)
    files = {d.relative_to(staged).as_posix(): sorted(p.name for p in d.iterdir())
             for d in staged.glob("*/*")}
    assert files == {
        "amsterdam/2020-09": ["delivery.json", "episodes.parquet"],
        "amsterdam/2020-10": ["delivery.json", "episodes.parquet", "findings.parquet", "quarantine.parquet"],
        "eindhoven/2020-10": ["delivery.json", "episodes.parquet", "findings.parquet", "quarantine.parquet"],
        "utrecht/2020-10": ["delivery.json", "findings.parquet"],
    }
    only_clean = new_store(tmp_path / "clean", {"amsterdam/2020-09": results["amsterdam/2020-09"]})
    assert load_table(only_clean, "quarantine").empty and load_table(only_clean, "findings").empty
    tables = curated_tables(only_clean)
    assert list(tables["quarantined_rows"].columns) == QUARANTINE_COLUMNS and tables["quarantined_rows"].empty
    assert tables["validation_issues"].empty and len(tables["episode_versions"]) == 2
    assert load_table(tmp_path / "nothing-stored", "episodes").empty


def test_a_replaced_delivery_keeps_none_of_the_files_it_no_longer_has(tmp_path, results):
    staged = new_store(tmp_path, results)
    quarantined = results["amsterdam/2020-10"]
    clean = DeliveryResult(quarantined.delivery, quarantined.episodes, pd.DataFrame(), [])
    save_result(staged, clean)
    assert sorted(p.name for p in (staged / "amsterdam" / "2020-10").iterdir()) == [
        "delivery.json", "episodes.parquet"]
    assert set(load_table(staged, "quarantine")["delivery_id"]) == {"eindhoven/2020-10"}
    assert not list(staged.glob("*/.*"))
    assert prune(staged, {("amsterdam", "2020-09"), ("amsterdam", "2020-10")}) == [
        "eindhoven/2020-10", "utrecht/2020-10"]
    assert load_table(staged, "quarantine").empty and load_table(staged, "findings").empty


def test_write_parquet_takes_only_a_data_frame_with_the_schema_s_columns(tmp_path):
    frame = pd.DataFrame({"a": ["x"]})
    with pytest.raises(TypeError, match="DataFrame"):
        write_parquet(pa.Table.from_pandas(frame), tmp_path / "t.parquet")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="columns"):
        write_parquet(frame, tmp_path / "t.parquet", pa.schema([("a", pa.string()), ("b", pa.int64())]))
    assert not (tmp_path / "t.parquet").exists()
    write_parquet(pd.DataFrame({"a": [None], "n": [1]}), tmp_path / "t.parquet")
    assert pq.read_schema(tmp_path / "t.parquet").remove_metadata() == pa.schema([("a", pa.string()),
                                                                                  ("n", pa.int64())])



def test_a_column_is_written_as_pandas_converts_it(tmp_path):
    """Each kind of column a frame can hand the writer (NumPy-backed, object with NaN or None,
    pandas' text and nullable arrays, categories, timestamps) written as pa.Table.from_pandas
    converts it: missing values as nulls, the same types."""
    frame = pd.DataFrame({
        "text": pd.array(["a", None, "c"], dtype="str"),
        "text_python": pd.array(["a", None, "c"], dtype=pd.StringDtype("python")),
        "objects": pd.Series(["a", float("nan"), None], dtype=object),
        "dates": pd.Series([date(2020, 1, 1), None, float("nan")], dtype=object),
        "whole": [1, 2, 3],
        "nullable": pd.array([1, None, 3], dtype="Int64"),
        "floats": [1.5, float("nan"), 3.0],
        "flags": pd.array([True, None, False], dtype="boolean"),
        "category": pd.Categorical(["x", None, "x"]),
        "stamps": pd.to_datetime(["2020-01-01", None, "2020-03-01"]),
        "zoned": pd.to_datetime(["2020-01-01", None, "2020-03-01"]).tz_localize("Europe/Amsterdam"),
    })
    schema = pa.Schema.from_pandas(frame, preserve_index=False).remove_metadata()
    schema = schema.set(schema.get_field_index("dates"), pa.field("dates", pa.date32()))
    write_parquet(frame, tmp_path / "t.parquet", schema)
    expected = pa.Table.from_pandas(frame, schema=schema, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(expected, tmp_path / "expected.parquet", compression="zstd", write_statistics=True)
    written = pq.read_table(tmp_path / "t.parquet")
    assert written.equals(pq.read_table(tmp_path / "expected.parquet"))
    assert written.column("objects").null_count == written.column("dates").null_count == 2


def old_folder(staged_root: Path, result: DeliveryResult) -> Path:
    """A delivery's folder, made, with its delivery.json as save_result wrote it before."""
    record = result.delivery
    target = staged_root / record["municipality"] / record["period"]
    target.mkdir(parents=True)
    (target / "delivery.json").write_text(json.dumps(record, default=str, indent=1), encoding="utf-8")
    return target


def old_findings(result: DeliveryResult) -> pd.DataFrame:
    """A delivery's findings as the DataFrame save_result built before."""
    findings = pd.DataFrame([f.as_row("nl") for f in result.findings], columns=FINDING_COLUMNS)
    findings.insert(0, "delivery_id", result.delivery["delivery_id"])
    findings["excel_row"] = findings["excel_row"].astype("Int64")
    return findings


def save_through_pandas(staged_root: Path, result: DeliveryResult) -> None:
    """save_result before its files were written without pandas: each frame through
    pa.Table.from_pandas (its pandas metadata kept in the file), the findings through a DataFrame."""
    target, findings = old_folder(staged_root, result), old_findings(result)
    for name, frame, schema in (("episodes", result.episodes, EPISODE_SCHEMA), ("quarantine", result.quarantine, None),
                                ("findings", findings, FINDING_SCHEMA)):
        if len(frame):
            schema = schema or text_schema(frame)
            pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), target / f"{name}.parquet",
                           compression="zstd", write_statistics=True)


def test_the_store_s_files_hold_no_pandas_metadata_and_read_back_as_through_pandas(tmp_path, results):
    """Written as Arrow arrays, without pandas' metadata (a fifth of a small file): every table
    of every delivery reads back, alone or all at once, as the frame the pandas route gave."""
    staged = new_store(tmp_path / "new", results)
    before = tmp_path / "before"
    for result in results.values():
        save_through_pandas(before, result)
    for path in staged.glob("*/*/*.parquet"):
        assert b"pandas" not in (pq.read_schema(path).metadata or {}), path
    assert b"pandas" in pq.read_schema(before / "amsterdam" / "2020-10" / "findings.parquet").metadata
    findings = load_delivery_table(staged, results["utrecht/2020-10"].delivery, "findings")
    assert findings["excel_row"].dtype == "Int64" and findings["excel_row"].isna().any()
    for record in load_records(staged):
        for name in TABLES:
            then, now = load_delivery_table(before, record, name), load_delivery_table(staged, record, name)
            pd.testing.assert_frame_equal(then, now, check_exact=True, obj=f"{record['delivery_id']} {name}")
    for name in TABLES:
        pd.testing.assert_frame_equal(load_table(before, name), load_table(staged, name), check_exact=True, obj=name)
    assert_same_tables(curated_tables(before), curated_tables(staged))


def test_one_delivery_s_table_is_what_the_scan_of_many_gives_and_keeps_its_columns_when_empty(tmp_path, results):
    """load_delivery_table is load_delivery_tables for one record; where that has no rows (no
    file, or a file of no rows as an older store wrote them, which no delivery here writes) it
    still has the table's columns, and the columns asked."""
    staged = new_store(tmp_path / "store", results)
    for record in load_records(staged):
        for name in TABLES:
            one = load_delivery_table(staged, record, name)
            many = load_delivery_tables(staged, [record], name)
            if len(many):
                pd.testing.assert_frame_equal(one, many, check_exact=True, obj=f"{record['delivery_id']} {name}")
            else:
                assert one.empty and len(one.columns), (record["delivery_id"], name)
    no_rows = results["amsterdam/2020-09"].delivery  # no findings, no quarantined rows
    assert list(load_delivery_table(staged, no_rows, "findings").columns) == FINDING_SCHEMA.names
    assert list(load_delivery_table(staged, no_rows, "quarantine").columns) == ["episode_id"]
    assert load_delivery_table(staged, no_rows, "findings")["excel_row"].dtype == "Int64"
    folder = staged / "amsterdam" / "2020-09"
    pq.write_table(EPISODE_SCHEMA.empty_table(), folder / "episodes.parquet")
    empty = load_delivery_table(staged, no_rows, "episodes", ["episode_id", "excel_row"])
    assert empty.empty and list(empty.columns) == ["episode_id", "excel_row"]


def test_a_table_over_the_store_reads_no_file_in_a_folder_whose_name_starts_with_a_dot(tmp_path, results):
    """The kept history (.history/<hash>/, whose tables may share a stored table's name) and a
    save_result in progress (<municipality>/.tmp-*) are not deliveries."""
    staged = new_store(tmp_path / "store", results)
    expected = {name: load_table(staged, name) for name in TABLES}
    for folder in (staged / ".history" / "abc", staged / "amsterdam" / ".tmp-x"):
        folder.mkdir(parents=True)
        for name in TABLES:
            (folder / f"{name}.parquet").write_bytes((staged / "amsterdam" / "2020-10" / "findings.parquet").read_bytes())
    for name in TABLES:
        pd.testing.assert_frame_equal(load_table(staged, name), expected[name], check_exact=True, obj=name)


def test_findings_table_is_the_findings_frame_as_arrow(tmp_path):
    """Findings no generated delivery holds: no row, a row 0, text with accents, an empty value."""
    findings = [Finding("file-unreadable", file="x/ë.xlsx"),
                Finding("date-unparseable", file="x/ë.xlsx", sheet="Cliënten", excel_row=0, column_letter="F",
                        column_header="Datum instroom", field="intake_date", value="31-02-2020"),
                Finding("date-unparseable", file="x/ë.xlsx", sheet="Cliënten", excel_row=12, column_letter="G",
                        field="exit_date", value="")]
    frame = pd.DataFrame([f.as_row("en") for f in findings], columns=FINDING_COLUMNS)
    frame.insert(0, "delivery_id", "x/2020-10")
    frame["excel_row"] = frame["excel_row"].astype("Int64")
    table = findings_table("x/2020-10", findings, "en")
    assert table.equals(pa.Table.from_pandas(frame, schema=FINDING_SCHEMA, preserve_index=False).replace_schema_metadata())
    assert table["excel_row"].to_pylist() == [None, 0, 12] and table.num_rows == 3
    assert findings_table("x/2020-10", [], "en").equals(FINDING_SCHEMA.empty_table())

# ------------------------------------------------------------------ reading, older stores
def save_the_old_way(staged_root: Path, result: DeliveryResult) -> None:
    """save_result before the stored schemas were fixed: each frame through pandas' to_parquet as
    it is (types inferred per delivery), a file for every table even without rows."""
    target, findings = old_folder(staged_root, result), old_findings(result)
    for name, frame in zip(TABLES, (result.episodes, result.quarantine, findings)):
        frame.to_parquet(target / f"{name}.parquet", engine="pyarrow", compression="zstd", index=False,
                         write_statistics=True)


def load_the_old_way(staged_root: Path, name: str, municipality: str | None = None) -> pd.DataFrame:
    """load_table before the one-pass read: pandas read_parquet file by file, then concat."""
    frames = [pd.read_parquet(p) for p in sorted(staged_root.glob(f"{municipality or '*'}/*/{name}.parquet"))]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def old_store(root: Path, results: dict[str, DeliveryResult]) -> Path:
    for result in results.values():
        save_the_old_way(root, result)
    return root


def assert_same_tables(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert list(left) == list(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)


def test_an_older_store_has_the_mixed_types_this_reads_past(tmp_path, results):
    staged = old_store(tmp_path, results)
    exit_date = pq.read_schema(staged / "amsterdam" / "2020-09" / "episodes.parquet").field("exit_date")
    assert exit_date.type != pa.date32()
    person_id = pq.read_schema(staged / "amsterdam" / "2020-10" / "quarantine.parquet").field("person_id")
    assert person_id.type == pa.null()
    assert (staged / "amsterdam" / "2020-09" / "quarantine.parquet").exists()
    with pytest.raises(pa.ArrowException):
        pa.concat_tables([pq.read_table(p) for p in sorted(staged.glob("*/*/episodes.parquet"))])


@pytest.mark.parametrize("layout", ["old", "half old, half new"])
def test_an_older_store_loads_as_a_new_one(tmp_path, results, layout):
    new = new_store(tmp_path / "new", results)
    if layout == "old":
        old = old_store(tmp_path / "old", results)
    else:
        names = sorted(results)
        old = old_store(tmp_path / "old", {k: results[k] for k in names[::2]})
        new_store(old, {k: results[k] for k in names[1::2]})
    for name in TABLES:
        pd.testing.assert_frame_equal(load_table(old, name), load_table(new, name), check_exact=True,
                                      obj=name)
    assert_same_tables(curated_tables(old), curated_tables(new))


def test_curated_tables_are_those_the_per_file_loader_built(tmp_path, results, monkeypatch):
    """The same tables as before the one-pass read, rows in the order of the deliveries' paths.

    A text column that one older file stored as all-null came out of pandas' concat as object
    (None and str mixed); the quarantined rows are kept with the history now, whose file holds
    text as string, so both loaders give the str dtype, as in any store where no delivery
    happened to lack that column's values. Its values are the same."""
    new = curated_tables(new_store(tmp_path / "new", results))
    monkeypatch.setattr(curate, "load_table", load_the_old_way)
    before = curated_tables(old_store(tmp_path / "old", results))
    assert_same_tables(before, new)
    assert new["quarantined_rows"]["delivery_id"].tolist() == ["amsterdam/2020-10", "eindhoven/2020-10"]
    assert pd.isna(new["quarantined_rows"].loc[1, "raw_follow_up"])


def test_load_table_gives_the_frame_the_per_file_loader_gave(tmp_path, results):
    staged = new_store(tmp_path / "new", results)
    old = old_store(tmp_path / "old", results)
    for name in TABLES:
        before, now = load_the_old_way(old, name), load_table(staged, name)
        if name == "episodes":  # an all-null exit_date was a timestamp column: NaT among the dates
            assert {type(v).__name__ for v in before["exit_date"]} == {"NaTType", "date"}
            before["exit_date"] = before["exit_date"].astype(object).where(before["exit_date"].notna(), None)
        if name == "quarantine":  # see test_curated_tables_are_those_the_per_file_loader_built
            before = before.astype({"person_id": "str"})
        pd.testing.assert_frame_equal(before, now, check_exact=True, obj=name)


def test_the_records_of_one_municipality_are_read_without_the_others(tmp_path):
    for municipality, period in (("amsterdam", "2020-10"), ("amsterdam", "2020-11"), ("utrecht", "2020-11")):
        folder = tmp_path / municipality / period
        folder.mkdir(parents=True)
        (folder / "delivery.json").write_text(json.dumps(
            {"delivery_id": f"{municipality}/{period}", "municipality": municipality, "period": period,
             "stand_per": f"{period}-28"}))
    assert [r["delivery_id"] for r in load_records(tmp_path, "amsterdam")] == ["amsterdam/2020-10", "amsterdam/2020-11"]
    assert len(load_records(tmp_path)) == 3 and load_records(tmp_path, "groningen") == []
    assert load_records(tmp_path, "utrecht")[0]["stand_per"] == date(2020, 11, 28)


def test_a_raw_file_not_written_since_the_last_run_is_not_read_again(tmp_path, monkeypatch):
    """needs_processing with the kept hashes reads only new or rewritten files, and still finds a
    file rewritten with the same size and its old modification time (cp -p, rsync -t)."""
    import os

    from transforms import discover as discovering
    from transforms.delivery import file_sha256
    from transforms.discover import DeliveryFile, needs_processing
    from transforms.store import RAW_HASHES, load_raw_hashes, save_raw_hashes

    raw, staged = tmp_path / "raw", tmp_path / "staged"
    files = []
    for period in ("2021-01", "2021-02"):
        path = raw / "tiel" / period / "export.csv"
        path.parent.mkdir(parents=True)
        path.write_text(f"nummer;datum\n1;{period}-03\n", encoding="utf-8")
        files.append(DeliveryFile("tiel", period, path, f"tiel/{period}/export.csv"))
    records = [{"municipality": f.municipality, "period": f.period, "file": f.relative,
                "sha256": file_sha256(f.path)} for f in files]
    read = []
    monkeypatch.setattr(discovering, "file_sha256", lambda path: read.append(path.name) or file_sha256(path))
    hashes = load_raw_hashes(staged)
    assert needs_processing(files, records, hashes) == [] and len(read) == 2  # nothing kept yet: read
    save_raw_hashes(staged, {**hashes, "tiel/2020-12/gone.csv": ["0", "x"]}, {f.relative for f in files})
    assert sorted(json.loads((staged / RAW_HASHES).read_text())) == [f.relative for f in files]
    read.clear()
    assert needs_processing(files, records, load_raw_hashes(staged)) == [] and read == []  # nothing read
    before = files[1].path.stat()
    files[1].path.write_text(files[1].path.read_text().replace("03", "09"), encoding="utf-8")
    os.utime(files[1].path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same date
    assert files[1].path.stat().st_size == before.st_size
    assert needs_processing(files, records, load_raw_hashes(staged)) == [files[1]] and read == ["export.csv"]
    (staged / RAW_HASHES).write_text("{damaged")
    assert load_raw_hashes(staged) == {}


# ------------------------------------------------------------------ the records index
def _record(municipality: str, period: str, **extra) -> dict:
    return {"delivery_id": f"{municipality}/{period}", "municipality": municipality, "period": period,
            "stand_per": f"{period}-28", "status": "accepted", **extra}


def _write_record(root: Path, record: dict) -> Path:
    folder = root / record["municipality"] / record["period"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "delivery.json"
    path.write_text(json.dumps(record, indent=1))
    return path


def test_records_come_from_the_index_while_each_delivery_json_is_as_the_index_saw_it(tmp_path, monkeypatch):
    """The index is read instead of the delivery.json files, which are read again only when
    written since; a record replaced, added or dropped behind the index's back (an older version
    of the code, a killed run, a hand edit) is what the next load gives."""
    import builtins

    from transforms.store import RECORDS_INDEX, save_record

    for period in ("2020-10", "2020-11", "2020-12"):
        _write_record(tmp_path, _record("amsterdam", period))
    _write_record(tmp_path, _record("utrecht", "2020-11"))
    first = load_records(tmp_path)
    assert (tmp_path / "amsterdam" / RECORDS_INDEX).is_file() and (tmp_path / "utrecht" / RECORDS_INDEX).is_file()

    opened = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    assert load_records(tmp_path) == first
    assert "delivery.json" not in opened  # every record from the index
    opened.clear()

    save_record(tmp_path, _record("amsterdam", "2020-11", status="held"))  # replaced
    (tmp_path / "amsterdam" / "2020-12" / "delivery.json").unlink()  # dropped (its folder stays)
    _write_record(tmp_path, _record("amsterdam", "2021-01"))  # added
    now = load_records(tmp_path, "amsterdam")
    assert [(r["period"], r["status"]) for r in now] == [("2020-10", "accepted"), ("2020-11", "held"),
                                                           ("2021-01", "accepted")]
    assert opened.count("delivery.json") == 2  # the replaced and the added one, no other
    monkeypatch.setattr(builtins, "open", real_open)
    assert now == load_records(tmp_path, "amsterdam") == [r for r in load_records(tmp_path)
                                                          if r["municipality"] == "amsterdam"]
    assert now[0]["stand_per"] == date(2020, 10, 28)


def test_a_damaged_or_foreign_index_is_written_again_from_the_delivery_files(tmp_path):
    from transforms.store import RECORDS_INDEX

    path = _write_record(tmp_path, _record("amsterdam", "2020-10"))
    expected = load_records(tmp_path)
    index = tmp_path / "amsterdam" / RECORDS_INDEX
    kept = json.loads(index.read_text())
    # an index whose stamp matches but whose record is not the file's would be believed: the
    # stamp is what protects it, so a file rewritten in place must change it
    for damaged in ("{not json", json.dumps([1, 2]), json.dumps({"version": 99, "records": kept["records"]}),
                    json.dumps({"version": 1, "records": {"2020-10": {"stamp": [0, 0, 0, 0], "record": {"x": 1}}}}),
                    json.dumps({"version": 1, "records": {"2020-10": "nonsense"}})):
        index.write_text(damaged)
        assert load_records(tmp_path) == expected, damaged
        assert json.loads(index.read_text()) == kept
    path.write_text(json.dumps(_record("amsterdam", "2020-10", status="rejected")))  # in place, same inode
    assert load_records(tmp_path)[0]["status"] == "rejected"


def test_folders_of_a_save_in_progress_are_not_deliveries_and_a_read_only_store_still_reads(tmp_path, monkeypatch):
    from transforms.store import RECORDS_INDEX

    _write_record(tmp_path, _record("amsterdam", "2020-10"))
    leftover = tmp_path / "amsterdam" / ".tmp-abc"
    leftover.mkdir()
    (leftover / "delivery.json").write_text(json.dumps(_record("amsterdam", "2020-11")))
    (tmp_path / ".history").mkdir()
    assert [r["period"] for r in load_records(tmp_path)] == ["2020-10"]
    (tmp_path / "amsterdam" / RECORDS_INDEX).unlink()

    opened = Path.open

    def refused(self, mode="r", *args, **kwargs):  # a read-only mount (root ignores a folder's mode)
        if any(flag in mode for flag in "wax+"):
            raise PermissionError(13, "Read-only file system", str(self))
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refused)
    assert [r["period"] for r in load_records(tmp_path)] == ["2020-10"]
    assert sorted(p.name for p in (tmp_path / "amsterdam").iterdir()) == [".tmp-abc", "2020-10"]
