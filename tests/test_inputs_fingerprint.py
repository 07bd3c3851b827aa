"""The inputs' fingerprint (needs-release) taken from the store's records index, not from every
delivery.json read again; a store published under the fingerprint of the files' bytes (the code
before) is published once more, with the same figures, and then left as it is."""

from __future__ import annotations

import builtins
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from lvv.demo.national import NationalSpec, write_national
from schemas.contracts import contracts
from transforms.corrections import corrections_fingerprint
from tests.test_incremental_history import store
from transforms.gate import Verdict, hold
from transforms.publish import MANIFEST, PARQUET_TABLES, current_release, inputs_fingerprint
from transforms.store import RECORDS_INDEX, load_records, prune, save_record


def bytes_fingerprint(staged_root: Path, *extra: str) -> str:
    """inputs_fingerprint as the code before this one computed it: every delivery.json's bytes."""
    from transforms.publish import SQL_FILES, sql_text
    from schemas.taxonomy import counting_rule_rows, published_figure_rows, taxonomy_rows

    digest = hashlib.sha256()
    for path in sorted(staged_root.glob("*/*/delivery.json")):
        digest.update(path.relative_to(staged_root).as_posix().encode())
        digest.update(path.read_bytes())
    for name in SQL_FILES:
        digest.update(sql_text(name).encode())
    digest.update(json.dumps([taxonomy_rows(), counting_rule_rows(), published_figure_rows()], sort_keys=True,
                             default=str).encode())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()


@pytest.fixture
def network(tmp_path, monkeypatch) -> tuple[Path, Path, dict[str, list[str]]]:
    raw, staged = tmp_path / "data" / "raw", tmp_path / "data" / "curated" / "staged"
    monkeypatch.setenv("LVV_SOURCES_DIR", str(tmp_path / "sources"))
    spec = NationalSpec(municipalities=2, months=3, intakes_per_month=4, mistake_rate=0.3)
    periods = write_national(raw, tmp_path / "sources", spec, processes=1).periods
    return raw, staged, periods


def test_the_fingerprint_follows_every_record_and_reads_no_delivery_json_it_indexed(network, monkeypatch):
    raw, staged, periods = network
    store(raw, staged)
    first = inputs_fingerprint(staged)
    assert inputs_fingerprint(staged) == first and (staged / sorted(periods)[0] / RECORDS_INDEX).is_file()

    opened: list[str] = []
    with monkeypatch.context() as spying:  # every file opened, by open() or a Path
        for owner, name in ((builtins, "open"), (Path, "open")):
            def spy(file, *args, _real=getattr(owner, name), **kwargs):
                opened.append(str(file))
                return _real(file, *args, **kwargs)
            spying.setattr(owner, name, spy)
        assert inputs_fingerprint(staged) == first
    assert opened and not [name for name in opened if name.endswith("delivery.json")]  # the index, stat-checked
    assert not [name for name in opened if name.endswith(RECORDS_INDEX)]  # parsed once in this process

    # a record rewritten (a delivery held by the gate): another fingerprint, read from its file
    municipality = sorted(periods)[0]
    record = load_records(staged, municipality)[-1]
    save_record(staged, hold(record, Verdict(held=True, reasons_nl=["te klein"], reasons_en=["too small"],
                                             codes=["rows-changed"])))
    held = inputs_fingerprint(staged)
    assert held != first
    for index in staged.glob(f"*/{RECORDS_INDEX}"):  # the same records without any index: the same hash
        index.unlink()
    assert inputs_fingerprint(staged) == held
    # a delivery withdrawn: another fingerprint
    keep = {(m, p) for m, ps in periods.items() for p in ps} - {(municipality, periods[municipality][0])}
    assert prune(staged, keep) and inputs_fingerprint(staged) not in (first, held)


@pytest.mark.flow
def test_a_store_published_under_the_old_fingerprint_is_published_once_more_with_the_same_figures(
        network, tmp_path, prefect_harness):
    from flows.monthly_outflow import RunParameters, monthly_outflow
    from lvv.demo.periods import month_end, parse_period

    raw, staged, periods = network
    root = raw.parent
    last = max(p for ps in periods.values() for p in ps)
    params = RunParameters(data_dir=str(root), reference_date=month_end(parse_period(last)))
    assert monthly_outflow(params)["published"]
    curated = root / "curated"
    before = current_release(curated)
    # the release as the code before wrote it: its fingerprint over the delivery.json files' bytes
    manifest = json.loads((before / MANIFEST).read_text(encoding="utf-8"))
    corrections = corrections_fingerprint(raw, contracts())
    assert manifest["fingerprint"] == inputs_fingerprint(staged, corrections) != bytes_fingerprint(staged, corrections)
    (before / MANIFEST).write_text(json.dumps({**manifest, "fingerprint": bytes_fingerprint(staged, corrections)},
                                              indent=1), encoding="utf-8")
    kept = tmp_path / "before"
    shutil.copytree(before, kept)

    again = monthly_outflow(params)
    assert again["published"] and again["processed"] == []  # republished once: nothing processed
    after = current_release(curated)
    assert after != before
    assert json.loads((after / MANIFEST).read_text(encoding="utf-8"))["fingerprint"] == inputs_fingerprint(
        staged, corrections)
    for name in PARQUET_TABLES:  # the same figures: every published table byte for byte
        assert (after / f"{name}.parquet").read_bytes() == (kept / f"{name}.parquet").read_bytes(), name
    assert all(change["change"] == 0 for change in again["run"]["changes"])

    third = monthly_outflow(params)
    assert not third["published"] and third["run"]["status"] == "unchanged"  # once only
    assert current_release(curated) == after
