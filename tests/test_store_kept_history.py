"""The merged history kept in the store: written as a cache, read back as it was written."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.store import HISTORY_DIR, load_history, save_history

DATE = pd.ArrowDtype(pa.date32())


def _tables() -> dict[str, pd.DataFrame]:
    versions = pd.DataFrame({
        "episode_id": pd.array(["e1", "e1", "e2", None], dtype="string"),
        "known_to": pd.array([date(2021, 3, 31), None, None, date(1999, 12, 31)], dtype=DATE),
        "version": pd.array([1, 2, 1, 1], dtype="int32"),
        "excel_row": pd.array([2, 2, 3, 4], dtype="int64"),
        "kept_municipality": pd.array(["a", "a", "b", "b"], dtype="string")})
    findings = pd.DataFrame({"excel_row": pd.array([None, 7], dtype="Int64"),
                             "kept_municipality": pd.array(["a", "b"], dtype="string")})
    return {"versions": versions, "findings": findings}


def test_the_kept_history_reads_back_as_save_history_gave_it(tmp_path):
    written = save_history(tmp_path, {"a": "1", "b": "2"}, _tables())
    read = load_history(tmp_path)
    assert read.fingerprints == written.fingerprints == {"a": "1", "b": "2"}
    for name, frame in _tables().items():
        pd.testing.assert_frame_equal(written.tables[name], frame, check_exact=True)
        pd.testing.assert_frame_equal(read.tables[name], frame, check_exact=True)


def test_the_kept_history_is_written_uncompressed_and_without_dictionaries(tmp_path):
    """A cache every changing run rewrites whole and the next reads whole: zstd and dictionary
    pages were two thirds of writing it (x16: 0.095 against 0.032 CPU s)."""
    save_history(tmp_path, {"a": "1"}, _tables())
    files = sorted((tmp_path / HISTORY_DIR).glob("*/*.parquet"))
    assert [p.stem for p in files] == ["findings", "versions"]
    for path in files:
        meta = pq.ParquetFile(path).metadata
        chunks = [meta.row_group(g).column(c) for g in range(meta.num_row_groups) for c in range(meta.num_columns)]
        assert chunks and {chunk.compression for chunk in chunks} == {"UNCOMPRESSED"}, path.name
        assert not any(chunk.has_dictionary_page for chunk in chunks), path.name


def test_a_history_kept_compressed_by_the_code_before_still_loads(tmp_path):
    """Kept by the code before (zstd, dictionaries, statistics): read as it is (the first run
    after the upgrade merges again anyway, as the code's digest changed)."""
    folder = tmp_path / HISTORY_DIR / "old"
    folder.mkdir(parents=True)
    for name, frame in _tables().items():
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{name}.parquet",
                       compression="zstd", write_statistics=True)
    (folder / "fingerprints.json").write_text('{"a": "1"}', encoding="utf-8")
    read = load_history(tmp_path)
    for name, frame in _tables().items():
        pd.testing.assert_frame_equal(read.tables[name], frame, check_exact=True)


def test_among_answers_as_pandas_isin():
    from transforms.curate import among

    column = pd.Series(["e1", None, "e2", "e3", "e1"], dtype="string")
    for values in (pd.Index(["e1", "e3"], dtype="str"), pd.Series(["e2"], dtype="str"), ["e3", None], [],
                   pd.Series([], dtype="string")):
        assert among(column, values).tolist() == column.isin(values).tolist(), values
    assert among(column.astype("str"), ["e2"]).tolist() == [False, False, True, False, False]
