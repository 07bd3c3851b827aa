"""The run log, data/curated/runs/log.jsonl: what append_run writes, and what it reads to write it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from transforms import runs


def _run(run_id: str, status: str, day: int) -> dict:
    record = runs.new_run(date(2022, 7, 31), ["programme"], run_id=run_id)
    return {**record, "status": status, "started_at": datetime(2022, 8, day, 6, 0, tzinfo=UTC),
            "deliveries": [{"delivery_id": f"amsterdam/2022-0{day}", "action": "new", "status": "accepted"}]}


def _written(record: dict) -> str:
    """A run as the log holds it: one JSON object, keys sorted, times and dates as ISO text."""
    return json.dumps(record, sort_keys=True, default=lambda v: v.isoformat()) + "\n"


def test_each_append_writes_every_run_read_again_and_parses_only_lines_it_has_not_seen(tmp_path, monkeypatch):
    """append_run writes the log whole: every line read_runs reads, written again as a run is
    written (a hand-edited line in the log's own form, a line that does not parse left out), the
    entry of the same run replaced, the new run last. A monthly run appends three times, and the
    log's earlier runs (x100: the first lists 3,000 deliveries) are parsed once in a process, not
    at every append."""
    first, edited = _run("a", "published", 1), _run("b", "unchanged", 2)
    log = tmp_path / runs.RUNS_LOG
    log.parent.mkdir(parents=True)
    by_hand = json.dumps(edited, default=str)  # keys unsorted, a time written "2022-08-02 06:00:00+00:00"
    log.write_text(_written(first) + by_hand + "\n{not json\n\n" + _written(_run("c", "running", 3)), encoding="utf-8")
    done = _run("c", "published", 3)
    runs.append_run(tmp_path, done)
    assert log.read_text(encoding="utf-8") == _written(first) + _written(edited) + _written(done)
    assert runs.read_runs(tmp_path) == [first, edited, done]

    parsed, real_loads = [], json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(text) or real_loads(text, *a, **k))
    runs.append_run(tmp_path, _run("d", "running", 4))
    parsed.clear()
    later = _run("d", "published", 4)
    runs.append_run(tmp_path, later)
    assert parsed == [_written(_run("d", "running", 4)).rstrip("\n")]  # only the line the last append added
    assert log.read_text(encoding="utf-8") == _written(first) + _written(edited) + _written(done) + _written(later)
