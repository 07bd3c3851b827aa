"""The records index a run writes is not parsed again by the same process."""

from __future__ import annotations

import json
from pathlib import Path

from transforms.store import RECORDS_INDEX, load_records, stored_records


def _write_record(root: Path, municipality: str, period: str, **extra) -> None:
    folder = root / municipality / period
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "delivery.json").write_text(json.dumps({
        "delivery_id": f"{municipality}/{period}", "municipality": municipality, "period": period,
        "stand_per": f"{period}-28", "status": "accepted", **extra}))


def test_an_index_written_by_this_process_is_not_parsed_again(tmp_path, monkeypatch):
    for period in ("2020-10", "2020-11"):
        _write_record(tmp_path, "amsterdam", period)
    load_records(tmp_path)
    _write_record(tmp_path, "amsterdam", "2020-12")  # a new delivery stored: the index is written again
    parsed = []
    real_loads = json.loads

    def counting_loads(text, *args, **kwargs):
        parsed.append(text[:40] if isinstance(text, str) else text)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)
    first = load_records(tmp_path)  # reads the new delivery.json, writes the index
    assert len(parsed) == 1 and '"delivery_id": "amsterdam/2020-12"' in parsed[0]
    parsed.clear()
    assert load_records(tmp_path) == first and stored_records(tmp_path)
    assert parsed == []  # neither the index just written nor any delivery.json parsed again
    monkeypatch.setattr(json, "loads", real_loads)
    assert [r["period"] for r in first] == ["2020-10", "2020-11", "2020-12"]
    on_disk = real_loads((tmp_path / "amsterdam" / RECORDS_INDEX).read_text())
    assert sorted(on_disk["records"]) == ["2020-10", "2020-11", "2020-12"]


def test_an_index_replaced_by_another_process_is_read_again(tmp_path):
    _write_record(tmp_path, "amsterdam", "2020-10")
    load_records(tmp_path)
    index = tmp_path / "amsterdam" / RECORDS_INDEX
    text = index.read_text()
    index.unlink()
    index.write_text(text)  # the same entries in another file (another inode): parsed again, same records
    assert [r["period"] for r in load_records(tmp_path)] == ["2020-10"]
    _write_record(tmp_path, "amsterdam", "2020-10", status="held")  # the record rewritten in place
    assert [r["status"] for r in load_records(tmp_path)] == ["held"]
